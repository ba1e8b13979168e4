package faults

import (
	"context"
	"fmt"
)

// Down disables an edge's proxy: its listener closes, open connections are
// closed and new ones refused. Overlapping down (and partition refuse)
// faults on one edge keep it down until the last is removed.
type Down struct{}

// Validate implements Fault.
func (f *Down) Validate() error { return nil }

// Apply implements Fault.
func (f *Down) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return proxyDown(ctx, env, t)
}

// Remove implements Fault.
func (f *Down) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return proxyUp(ctx, env, id, t)
}

func (f *Down) reassert(ctx context.Context, env *Env, id string, t Target) error {
	return env.Proxy.SetEnabled(ctx, t.Edge.Name, false)
}

func proxyDown(ctx context.Context, env *Env, t Target) error {
	if t.Edge == nil {
		return fmt.Errorf("target %q is not an edge", t.Name())
	}
	key := "down:" + t.Edge.Name
	if !env.acquire(key) {
		return nil // already down by another fault
	}
	if err := env.Proxy.SetEnabled(ctx, t.Edge.Name, false); err != nil {
		env.release(key)
		return err
	}
	return nil
}

func proxyUp(ctx context.Context, env *Env, id string, t Target) error {
	if t.Edge == nil || !env.release("down:"+t.Edge.Name) {
		return nil // another fault still holds it down
	}
	rctx, cancel := context.WithTimeout(ctx, env.RemoveTimeout)
	err := env.Proxy.SetEnabled(rctx, t.Edge.Name, true)
	cancel()
	if err == nil {
		return nil
	}
	env.log().Error("FAULT REMOVAL FELL BACK: proxy could not be re-enabled; recreating it", "fault", id, "edge", t.Edge.Name, "err", err)
	rerr := env.Proxy.Recreate(ctx, t.Edge.Name, env.spec(t.Edge.Name))
	if rerr == nil && env.onRecreate != nil {
		env.onRecreate(context.WithoutCancel(ctx), t.Edge.Name)
	}
	return &FallbackError{Fault: id, Target: t.Edge.Name, Err: rerr}
}

func init() {
	Register(Kind{Name: "down", Scope: ScopeEdge,
		Summary: "disable an edge's proxy: connections refused",
		New:     func() Fault { return &Down{} }})
}
