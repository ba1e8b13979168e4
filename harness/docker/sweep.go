package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
)

// Labels on everything a run creates.
const (
	LabelRun       = "org.outagelab.run"
	LabelCreated   = "org.outagelab.created"
	LabelComponent = "org.outagelab.component"
)

// RunLabels returns the labels for an object of run runID created at t.
func RunLabels(runID string, t time.Time) map[string]string {
	return map[string]string{LabelRun: runID, LabelCreated: t.UTC().Format(time.RFC3339)}
}

// SweepFilter chooses what Sweep removes. The zero value removes everything
// any run left behind.
type SweepFilter struct {
	// RunID, when set, limits the sweep to that run.
	RunID string
	// OlderThan, when > 0, keeps objects created less than this long ago
	// (by their org.outagelab.created label) so a sweep never takes a run
	// that is starting right now in another process.
	OlderThan time.Duration
	// Now is the reference time; zero: time.Now().
	Now time.Time
	// DeadOwnersOnly keeps objects whose creating process (the
	// org.outagelab.owner label) still runs on this host: what a run started
	// in another live process is not debris.
	DeadOwnersOnly bool
	// Alive decides whether an owner still runs; nil: ownerAlive.
	Alive func(owner string) bool
}

// Match reports whether an object with these labels is to be removed.
func (f SweepFilter) Match(labels map[string]string) bool {
	run, ok := labels[LabelRun]
	if !ok {
		return false
	}
	if f.RunID != "" && run != f.RunID {
		return false
	}
	if f.DeadOwnersOnly {
		alive := f.Alive
		if alive == nil {
			alive = ownerAlive
		}
		if owner, ok := labels[LabelOwner]; ok && alive(owner) {
			return false
		}
	}
	if f.OlderThan > 0 {
		created, err := time.Parse(time.RFC3339, labels[LabelCreated])
		if err != nil {
			return true // unreadable: no run of ours writes that, so it is debris
		}
		now := f.Now
		if now.IsZero() {
			now = time.Now()
		}
		if now.Sub(created) < f.OlderThan {
			return false
		}
	}
	return true
}

// Removed is one object Sweep removed.
type Removed struct {
	Kind  string // "container" or "network"
	ID    string
	Name  string
	RunID string
}

func (r Removed) String() string {
	return fmt.Sprintf("%s %s (%s, run %s)", r.Kind, r.Name, shortID(r.ID), r.RunID)
}

// Sweep force-removes the containers, then the networks, that carry the run
// label and match f. It goes on after a failure and returns what it removed
// with the first error.
func Sweep(ctx context.Context, c client.APIClient, f SweepFilter) ([]Removed, error) {
	filters := make(client.Filters)
	if f.RunID != "" {
		filters.Add("label", LabelRun+"="+f.RunID)
	} else {
		filters.Add("label", LabelRun)
	}
	var removed []Removed
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	cl, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("sweep: list containers: %w", err)
	}
	for _, ct := range cl.Items {
		if !f.Match(ct.Labels) {
			continue
		}
		name := ct.ID
		if len(ct.Names) > 0 {
			name = trimSlash(ct.Names[0])
		}
		if _, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			keep(fmt.Errorf("sweep: remove container %s: %w", name, err))
			continue
		}
		removed = append(removed, Removed{Kind: "container", ID: ct.ID, Name: name, RunID: ct.Labels[LabelRun]})
	}
	nl, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: filters})
	if err != nil {
		keep(fmt.Errorf("sweep: list networks: %w", err))
		return removed, firstErr
	}
	for _, n := range nl.Items {
		if !f.Match(n.Labels) {
			continue
		}
		if _, err := c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			keep(fmt.Errorf("sweep: remove network %s: %w", n.Name, err))
			continue
		}
		removed = append(removed, Removed{Kind: "network", ID: n.ID, Name: n.Name, RunID: n.Labels[LabelRun]})
	}
	return removed, firstErr
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
