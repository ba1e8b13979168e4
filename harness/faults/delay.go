package faults

import (
	"context"
	"errors"
	"fmt"
)

// Delay adds Delay to a storefront component's inbound handlers (app-level
// hook): unlike a latency toxic, the server is slow, not the network, so its
// own in-flight limits and metrics see it.
type Delay struct {
	Delay  Duration `json:"delay" yaml:"delay"`
	Routes []string `json:"routes" yaml:"routes"` // empty: every route
}

// Validate implements Fault.
func (f *Delay) Validate() error {
	var errs []error
	if f.Delay <= 0 {
		errs = append(errs, fmt.Errorf("delay: %v must be > 0 (e.g. delay: 300ms)", f.Delay))
	}
	errs = append(errs, msErr("delay", f.Delay))
	return errors.Join(errs...)
}

// Apply implements Fault.
func (f *Delay) Apply(ctx context.Context, env *Env, id string, t Target) error {
	if t.Component == nil {
		return fmt.Errorf("target %q is not a component", t.Name())
	}
	return env.setHook(ctx, t.Component.Name, id, hookPart{Delay: f.Delay.D(), Routes: f.Routes})
}

// Remove implements Fault.
func (f *Delay) Remove(ctx context.Context, env *Env, id string, t Target) error {
	if t.Component == nil {
		return nil
	}
	return env.clearHook(ctx, t.Component.Name, id)
}

func init() {
	Register(Kind{Name: "delay", Scope: ScopeComponent,
		Summary: "add latency inside a storefront component's handlers (admin API)",
		New:     func() Fault { return &Delay{} }})
}
