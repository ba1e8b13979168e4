package faults

import (
	"context"
	"fmt"
)

// EmptyDiscovery makes the caller of each selected edge fail its calls to
// that dependency as if service discovery (DNS) answered nothing (outcome
// `dns` in the caller's metrics); set through the caller's admin API.
type EmptyDiscovery struct{}

// Validate implements Fault.
func (f *EmptyDiscovery) Validate() error { return nil }

// Apply implements Fault.
func (f *EmptyDiscovery) Apply(ctx context.Context, env *Env, id string, t Target) error {
	if t.Edge == nil {
		return fmt.Errorf("target %q is not an edge", t.Name())
	}
	dep := t.Edge.DepName
	if dep == "" {
		dep = t.Edge.To
	}
	return env.setHook(ctx, t.Edge.From, id+"@"+t.Edge.Name, hookPart{EmptyDiscovery: []string{dep}})
}

// Remove implements Fault.
func (f *EmptyDiscovery) Remove(ctx context.Context, env *Env, id string, t Target) error {
	if t.Edge == nil {
		return nil
	}
	return env.clearHook(ctx, t.Edge.From, id+"@"+t.Edge.Name)
}

func init() {
	Register(Kind{Name: "empty_discovery", Scope: ScopeEdge,
		Summary: "the caller's discovery of this dependency answers nothing (storefront admin API)",
		New:     func() Fault { return &EmptyDiscovery{} }})
}
