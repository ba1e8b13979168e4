package faults

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/effect"
)

// actionSystem performs component actions that take effect late and
// report (internal/effect) when they were seen to take effect.
type actionSystem struct {
	topo *topology.Topology
	lag  time.Duration
	mu   sync.Mutex
	seen map[topology.Action]time.Time
}

func (s *actionSystem) Topology() *topology.Topology { return s.topo }
func (s *actionSystem) ComponentAction(ctx context.Context, _ string, a topology.Action) error {
	at := time.Now().Add(s.lag) // "observed" later than the call returns
	s.mu.Lock()
	s.seen[a] = at
	s.mu.Unlock()
	effect.Observed(ctx, at)
	return nil
}
func (s *actionSystem) AdminEndpoint(string) (string, error) { return "", nil }
func (s *actionSystem) AdminToken() string                   { return "" }

// The applier records the moment the runtime observed the effect, not the
// moment its call returned.
func TestAppliedAtIsTheObservedMoment(t *testing.T) {
	topo := &topology.Topology{Name: "t", Components: []*topology.Component{{Name: "svc", Image: topology.ImageRedis}}}
	sys := &actionSystem{topo: topo, lag: time.Hour, seen: map[topology.Action]time.Time{}}
	a := NewApplier(NewEnv(sys, nil), nil)
	ctx := context.Background()
	aps, err := a.Apply(ctx, Spec{ID: "p", Kind: "pause", Selector: Selector{Components: []string{"svc"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aps[0].Snapshot().AppliedAt, sys.seen[topology.ActionPause]; !got.Equal(want) {
		t.Errorf("AppliedAt = %v, want the observed moment %v", got, want)
	}
	if _, err := a.Remove(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if got, want := aps[0].Snapshot().RemovedAt, sys.seen[topology.ActionUnpause]; !got.Equal(want) {
		t.Errorf("RemovedAt = %v, want the observed moment %v", got, want)
	}
	// No report: the time the call returned.
	sys2 := &silentSystem{topo: topo}
	b := NewApplier(NewEnv(sys2, nil), nil)
	before := time.Now()
	aps, err = b.Apply(ctx, Spec{ID: "p", Kind: "pause", Selector: Selector{Components: []string{"svc"}}})
	if err != nil {
		t.Fatal(err)
	}
	if at := aps[0].Snapshot().AppliedAt; at.Before(before) || at.After(time.Now()) {
		t.Errorf("AppliedAt without a report = %v, want the return time (after %v)", at, before)
	}
}

type silentSystem struct{ topo *topology.Topology }

func (s *silentSystem) Topology() *topology.Topology                                   { return s.topo }
func (s *silentSystem) ComponentAction(context.Context, string, topology.Action) error { return nil }
func (s *silentSystem) AdminEndpoint(string) (string, error)                           { return "", nil }
func (s *silentSystem) AdminToken() string                                             { return "" }
