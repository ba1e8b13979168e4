package faults

import (
	"context"

	"github.com/outagelab/outagelab/harness/topology"
)

// Pause freezes a component (docker pause; SIGSTOP locally): connections
// stay open and hang. Removal unpauses.
type Pause struct{}

// Validate implements Fault.
func (f *Pause) Validate() error { return nil }

// Apply implements Fault.
func (f *Pause) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return componentApply(ctx, env, t, "pause", topology.ActionPause)
}

// Remove implements Fault.
func (f *Pause) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return componentRemove(ctx, env, id, t, "pause", topology.ActionUnpause)
}

func init() {
	Register(Kind{Name: "pause", Scope: ScopeComponent,
		Summary: "freeze a component (docker pause / SIGSTOP); removal resumes it",
		New:     func() Fault { return &Pause{} }})
}
