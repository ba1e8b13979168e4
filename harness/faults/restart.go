package faults

import (
	"context"
	"fmt"

	"github.com/outagelab/outagelab/harness/topology"
)

// Restart stops and starts a component once, waiting until it is ready. It
// is one-shot: removal has nothing to undo.
type Restart struct{}

// Validate implements Fault.
func (f *Restart) Validate() error { return nil }

// Apply implements Fault.
func (f *Restart) Apply(ctx context.Context, env *Env, id string, t Target) error {
	if t.Component == nil {
		return fmt.Errorf("target %q is not a component", t.Name())
	}
	return env.System.ComponentAction(ctx, t.Component.Name, topology.ActionRestart)
}

// Remove implements Fault.
func (f *Restart) Remove(ctx context.Context, env *Env, id string, t Target) error { return nil }

func init() {
	Register(Kind{Name: "restart", Scope: ScopeComponent, OneShot: true,
		Summary: "restart a component once (stop + start, waits for ready)",
		New:     func() Fault { return &Restart{} }})
}
