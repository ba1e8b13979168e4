package faults

import (
	"context"

	"github.com/outagelab/outagelab/harness/topology"
)

// Stop stops a component gracefully (SIGTERM, then SIGKILL after a grace
// period). Removal starts it again on the same addresses and waits for it.
type Stop struct{}

// Validate implements Fault.
func (f *Stop) Validate() error { return nil }

// Apply implements Fault.
func (f *Stop) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return componentApply(ctx, env, t, "stop", topology.ActionStop)
}

// Remove implements Fault.
func (f *Stop) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return componentRemove(ctx, env, id, t, "stop", topology.ActionStart)
}

func init() {
	Register(Kind{Name: "stop", Scope: ScopeComponent,
		Summary: "stop a component gracefully; removal starts it again",
		New:     func() Fault { return &Stop{} }})
}
