package faults

import (
	"context"

	"github.com/outagelab/outagelab/harness/topology"
)

// Kill kills a component (SIGKILL: no graceful shutdown, in-flight work
// lost). Removal starts it again. Shares its refcount with stop: a component
// stopped and killed by two faults starts when both are removed.
type Kill struct{}

// Validate implements Fault.
func (f *Kill) Validate() error { return nil }

// Apply implements Fault.
func (f *Kill) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return componentApply(ctx, env, t, "stop", topology.ActionKill)
}

// Remove implements Fault.
func (f *Kill) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return componentRemove(ctx, env, id, t, "stop", topology.ActionStart)
}

func init() {
	Register(Kind{Name: "kill", Scope: ScopeComponent,
		Summary: "kill a component (SIGKILL); removal starts it again",
		New:     func() Fault { return &Kill{} }})
}
