package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/outagelab/outagelab/internal/effect"
	"github.com/outagelab/outagelab/reports/result"
)

// Spec asks for one fault.
type Spec struct {
	// ID is unique among active faults (e.g. "congestion/0"); empty: generated.
	ID       string   `json:"id,omitempty"`
	Kind     string   `json:"kind"`
	Selector Selector `json:"selector"`
	// Params are the kind's typed parameters (nil: the kind's defaults).
	Params Fault `json:"params,omitempty"`
	// Labels are copied into the result (e.g. phase name).
	Labels map[string]string `json:"labels,omitempty"`
}

// Applied is one fault as it was applied and removed. Times are when the
// effect was confirmed, per target: the moment a runtime observed it (a
// paused process's threads all stopped, a container seen paused; see
// internal/effect), else when the API call returned; a fault's
// AppliedAt is its last target's, so skew across faults is real data.
//
// The Applier keeps filling in an Applied it returned (times, errors,
// fallbacks) while the fault is removed, under its own lock: read the fields
// of a live Applied (one Apply or Remove returned) only when no Remove of
// that fault can be running, or through Snapshot or Result, which take that
// lock. Active returns snapshots.
type Applied struct {
	ID      string
	Kind    string
	Params  Fault
	Labels  map[string]string
	Targets []string

	RequestedAt   time.Time
	AppliedAt     time.Time // zero when no target took the fault
	RemovedAt     time.Time // zero while active
	TargetApplied map[string]time.Time
	TargetRemoved map[string]time.Time

	ApplyErr  error // targets that failed to take the fault
	RemoveErr error // removals that failed or needed the fallback
	// Fallbacks lists targets whose removal fell back to recreating the proxy.
	Fallbacks []string

	targets []Target
	kind    Kind
	mu      *sync.Mutex // the Applier's state lock; nil in a hand-made Applied
}

func (a *Applied) lock() {
	if a.mu != nil {
		a.mu.Lock()
	}
}

func (a *Applied) unlock() {
	if a.mu != nil {
		a.mu.Unlock()
	}
}

// Snapshot returns a copy of a taken under the Applier's lock: its maps and
// slices are the copy's own, so it can be read while the fault is being
// removed. Params and the error values are shared (never mutated).
func (a *Applied) Snapshot() *Applied {
	a.lock()
	defer a.unlock()
	c := *a
	c.Labels = maps.Clone(a.Labels)
	c.Targets = slices.Clone(a.Targets)
	c.TargetApplied = maps.Clone(a.TargetApplied)
	c.TargetRemoved = maps.Clone(a.TargetRemoved)
	c.Fallbacks = slices.Clone(a.Fallbacks)
	c.targets = slices.Clone(a.targets)
	return &c
}

// Result converts to the canonical result model.
func (a *Applied) Result() result.Fault {
	a.lock()
	defer a.unlock()
	f := result.Fault{ID: a.ID, Kind: a.Kind, Targets: slices.Clone(a.Targets), Labels: maps.Clone(a.Labels)}
	if a.Params != nil {
		if b, err := json.Marshal(a.Params); err == nil {
			_ = json.Unmarshal(b, &f.Params)
		}
	}
	if !a.AppliedAt.IsZero() {
		t := a.AppliedAt
		f.AppliedAt = &t
	}
	if !a.RemovedAt.IsZero() {
		t := a.RemovedAt
		f.RemovedAt = &t
	}
	if err := errors.Join(a.ApplyErr, a.RemoveErr); err != nil {
		f.Error = err.Error()
	}
	return f
}

// Applier applies and removes faults on one system. Safe for concurrent use.
type Applier struct {
	env *Env
	log *slog.Logger

	mu     sync.Mutex
	seq    int
	active map[string]*Applied
	order  []string

	// state guards the mutable fields of every Applied this Applier made
	// (Applied.mu points here). Lock order: mu before state.
	state sync.Mutex
}

// NewApplier returns an applier; log may be nil.
func NewApplier(env *Env, log *slog.Logger) *Applier {
	if log == nil {
		log = slog.Default()
	}
	a := &Applier{env: env, log: log, active: map[string]*Applied{}}
	if env.Log == nil {
		env.Log = log
	}
	env.onRecreate = a.reapply
	return a
}

// Env returns the applier's Env.
func (a *Applier) Env() *Env { return a.env }

// Plan validates and resolves specs without touching the system and
// returns every error at once (each prefixed with the fault's id or index).
func (a *Applier) Plan(specs []Spec) ([]*Applied, error) {
	topo := a.env.System.Topology()
	var errs []error
	out := make([]*Applied, 0, len(specs))
	ids := map[string]bool{}
	a.mu.Lock()
	for id := range a.active {
		ids[id] = true
	}
	a.mu.Unlock()
	for i, s := range specs {
		label := fmt.Sprintf("faults[%d]", i)
		if s.ID != "" {
			label = fmt.Sprintf("fault %s", s.ID)
		}
		k, ok := Lookup(s.Kind)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown kind %q (known: %v)", label, s.Kind, KindNames()))
			continue
		}
		params := s.Params
		if params == nil {
			params = k.New()
		}
		if err := params.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", label, s.Kind, err))
		}
		targets, err := s.Selector.Resolve(topo, k.Scope)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", label, s.Kind, err))
		}
		id := s.ID
		if id == "" {
			a.mu.Lock()
			a.seq++
			id = fmt.Sprintf("%s-%d", s.Kind, a.seq)
			a.mu.Unlock()
		}
		if ids[id] {
			errs = append(errs, fmt.Errorf("%s: id %q already active", label, id))
		}
		ids[id] = true
		ap := &Applied{ID: id, Kind: s.Kind, Params: params, Labels: s.Labels, kind: k, targets: targets,
			TargetApplied: map[string]time.Time{}, TargetRemoved: map[string]time.Time{}, mu: &a.state}
		for _, t := range targets {
			ap.Targets = append(ap.Targets, t.Name())
		}
		out = append(out, ap)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Apply validates every spec first (nothing is applied if any is invalid),
// then applies all of them to all their targets concurrently, released
// together. It returns every Applied (also on error: partly applied faults
// are active and must be removed) and the joined apply errors.
func (a *Applier) Apply(ctx context.Context, specs ...Spec) ([]*Applied, error) {
	plan, err := a.Plan(specs)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	for _, ap := range plan {
		a.active[ap.ID] = ap
		a.order = append(a.order, ap.ID)
	}
	a.mu.Unlock()

	type job struct {
		ap *Applied
		t  Target
	}
	var jobs []job
	for _, ap := range plan {
		for _, t := range ap.targets {
			jobs = append(jobs, job{ap, t})
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errsByFault := map[string][]error{} // guarded by a.state
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var seen observed
			err := j.ap.Params.Apply(seen.ctx(ctx), a.env, j.ap.ID, j.t)
			now := seen.or(time.Now())
			a.state.Lock()
			defer a.state.Unlock()
			if err != nil {
				errsByFault[j.ap.ID] = append(errsByFault[j.ap.ID], fmt.Errorf("%s: %w", j.t.Name(), err))
				return
			}
			j.ap.TargetApplied[j.t.Name()] = now
		}()
	}
	requested := time.Now()
	close(start)
	wg.Wait()

	var errs []error
	for _, ap := range plan {
		a.state.Lock()
		ap.RequestedAt = requested
		for _, t := range ap.TargetApplied {
			if t.After(ap.AppliedAt) {
				ap.AppliedAt = t
			}
		}
		var applyErr error
		if e := errsByFault[ap.ID]; len(e) > 0 {
			ap.ApplyErr = errors.Join(e...)
			applyErr = ap.ApplyErr
		}
		if ap.kind.OneShot {
			ap.RemovedAt = ap.AppliedAt
		}
		a.state.Unlock()
		if applyErr != nil {
			errs = append(errs, fmt.Errorf("apply %s (%s): %w", ap.ID, ap.Kind, applyErr))
			a.log.Error("fault apply failed", "fault", ap.ID, "kind", ap.Kind, "err", applyErr)
		} else {
			a.log.Info("fault applied", "fault", ap.ID, "kind", ap.Kind, "targets", len(ap.Targets))
		}
		if ap.kind.OneShot {
			a.forget(ap.ID)
		}
	}
	return plan, errors.Join(errs...)
}

func (a *Applier) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.active, id)
	a.order = slices.DeleteFunc(a.order, func(s string) bool { return s == id })
}

// Skew is the spread of the times at which the targets of aps took effect
// (last minus first), the figure ARCHITECTURE.md budgets at 20 ms per phase.
func Skew(aps []*Applied) time.Duration {
	var first, last time.Time
	for _, ap := range aps {
		ap.lock()
		applied := maps.Clone(ap.TargetApplied)
		ap.unlock()
		for _, t := range applied {
			if first.IsZero() || t.Before(first) {
				first = t
			}
			if t.After(last) {
				last = t
			}
		}
	}
	return last.Sub(first)
}

// Active returns snapshots (see Applied.Snapshot) of the active faults in
// the order they were applied: safe to read while faults are being applied
// or removed.
func (a *Applier) Active() []*Applied {
	live := a.activeLive()
	out := make([]*Applied, len(live))
	for i, ap := range live {
		out[i] = ap.Snapshot()
	}
	return out
}

// activeLive returns the active faults themselves (the applier's own use).
func (a *Applier) activeLive() []*Applied {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*Applied, 0, len(a.order))
	for _, id := range a.order {
		out = append(out, a.active[id])
	}
	return out
}

// Remove removes the named active faults concurrently. Removal is
// guaranteed as far as the system allows: a toxic that cannot be removed is
// reported loudly and its proxy recreated (other active faults on it are
// re-applied). Unknown ids are errors. It keeps going on errors and
// returns every one.
func (a *Applier) Remove(ctx context.Context, ids ...string) ([]*Applied, error) {
	var aps []*Applied
	var errs []error
	a.mu.Lock()
	for _, id := range ids {
		ap, ok := a.active[id]
		if !ok {
			errs = append(errs, fmt.Errorf("remove %s: no such active fault", id))
			continue
		}
		aps = append(aps, ap)
	}
	a.mu.Unlock()
	return aps, errors.Join(append(errs, a.remove(ctx, aps))...)
}

// RemoveAll removes every active fault (the end of every phase and run).
func (a *Applier) RemoveAll(ctx context.Context) ([]*Applied, error) {
	aps := a.activeLive()
	return aps, a.remove(ctx, aps)
}

func (a *Applier) remove(ctx context.Context, aps []*Applied) error {
	// Removal must happen even when the caller's ctx is already cancelled
	// (Ctrl-C): keep its values, drop its cancellation, bound it ourselves.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, ap := range aps {
		a.forget(ap.ID) // no longer re-applied on a proxy recreate
	}
	var wg sync.WaitGroup
	errsByFault := map[string][]error{} // guarded by a.state
	start := make(chan struct{})
	for _, ap := range aps {
		for _, t := range ap.targets {
			a.state.Lock()
			_, applied := ap.TargetApplied[t.Name()]
			a.state.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var seen observed
				err := ap.Params.Remove(seen.ctx(rctx), a.env, ap.ID, t)
				now := seen.or(time.Now())
				a.state.Lock()
				defer a.state.Unlock()
				if !applied {
					// Apply failed here; removal only cleans up a partial
					// application (e.g. one of two streams), best effort.
					if err != nil {
						a.log.Warn("cleanup of a target that failed to apply", "fault", ap.ID, "target", t.Name(), "err", err)
					}
					return
				}
				var fb *FallbackError
				if errors.As(err, &fb) {
					ap.Fallbacks = append(ap.Fallbacks, t.Name())
				}
				if err != nil {
					errsByFault[ap.ID] = append(errsByFault[ap.ID], fmt.Errorf("%s: %w", t.Name(), err))
				}
				if err == nil || fb != nil && fb.Err == nil {
					ap.TargetRemoved[t.Name()] = now
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	var errs []error
	for _, ap := range aps {
		a.state.Lock()
		for _, t := range ap.TargetRemoved {
			if t.After(ap.RemovedAt) {
				ap.RemovedAt = t
			}
		}
		if ap.RemovedAt.IsZero() {
			ap.RemovedAt = time.Now()
		}
		var removeErr error
		if e := errsByFault[ap.ID]; len(e) > 0 {
			ap.RemoveErr = errors.Join(e...)
			removeErr = ap.RemoveErr
		}
		a.state.Unlock()
		if removeErr != nil {
			errs = append(errs, fmt.Errorf("remove %s (%s): %w", ap.ID, ap.Kind, removeErr))
			a.log.Error("FAULT REMOVAL PROBLEM", "fault", ap.ID, "kind", ap.Kind, "err", removeErr)
		} else {
			a.log.Info("fault removed", "fault", ap.ID, "kind", ap.Kind)
		}
	}
	return errors.Join(errs...)
}

// reapply puts back the active faults on a proxy that was just recreated.
func (a *Applier) reapply(ctx context.Context, proxyName string) {
	for _, ap := range a.activeLive() { // reads only fields fixed at planning
		if ap.kind.Scope != ScopeEdge {
			continue
		}
		for _, t := range ap.targets {
			if t.Edge == nil || t.Edge.Name != proxyName {
				continue
			}
			var err error
			if r, ok := ap.Params.(reasserter); ok {
				err = r.reassert(ctx, a.env, ap.ID, t) // refcounted: state only
			} else if ap.kind.Toxic != "" {
				err = ap.Params.Apply(ctx, a.env, ap.ID, t)
			}
			if err != nil {
				a.log.Error("re-apply after proxy recreate failed", "fault", ap.ID, "edge", proxyName, "err", err)
			}
		}
	}
}

// reasserter is implemented by refcounted edge kinds so a recreated proxy
// gets their state back without touching the refcount.
type reasserter interface {
	reassert(ctx context.Context, env *Env, id string, t Target) error
}

// ResetProxies is the big hammer: Toxiproxy's /reset (every proxy enabled,
// every toxic gone) and the bookkeeping cleared. Use it between tests or
// after an interrupted run; it does not undo component or app-level faults.
func (a *Applier) ResetProxies(ctx context.Context) error {
	a.env.mu.Lock()
	for k := range a.env.counts {
		if len(k) > 5 && k[:5] == "down:" {
			delete(a.env.counts, k)
		}
	}
	a.env.mu.Unlock()
	return a.env.Proxy.Reset(ctx)
}

// observed collects the moment a runtime reports (internal/effect) that an
// action took effect; with several reports (a restart's stop and start),
// the latest.
type observed struct {
	mu sync.Mutex
	at time.Time
}

func (o *observed) ctx(ctx context.Context) context.Context {
	return effect.WithObserver(ctx, func(t time.Time) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if t.After(o.at) {
			o.at = t
		}
	})
}

// or returns the observed moment, or def when none was reported.
func (o *observed) or(def time.Time) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.at.IsZero() {
		return def
	}
	return o.at
}
