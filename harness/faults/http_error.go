package faults

import (
	"context"
	"errors"
	"fmt"
)

// HTTPError makes a storefront component answer Rate of its inbound requests
// with Status (app-level hook, admin API); /healthz and /metrics are spared.
type HTTPError struct {
	Rate   float64  `json:"rate" yaml:"rate"`
	Status int      `json:"status" yaml:"status"`
	Routes []string `json:"routes" yaml:"routes"` // empty: every route
}

// Validate implements Fault.
func (f *HTTPError) Validate() error {
	var errs []error
	if !(f.Rate > 0 && f.Rate <= 1) {
		errs = append(errs, fmt.Errorf("rate: %v must be in (0, 1]", f.Rate))
	}
	if f.Status < 400 || f.Status > 599 {
		errs = append(errs, fmt.Errorf("status: %d must be an HTTP error status (400-599)", f.Status))
	}
	return errors.Join(errs...)
}

// Apply implements Fault. The component's draws are seeded with
// env.HookSeed(id, component): the same run seed fails the same requests
// of the same request sequence.
func (f *HTTPError) Apply(ctx context.Context, env *Env, id string, t Target) error {
	if t.Component == nil {
		return fmt.Errorf("target %q is not a component", t.Name())
	}
	seed := env.HookSeed(id, t.Component.Name)
	return env.setHook(ctx, t.Component.Name, id, hookPart{ErrorRate: f.Rate, ErrorStatus: f.Status, Routes: f.Routes, Seed: &seed})
}

// Remove implements Fault.
func (f *HTTPError) Remove(ctx context.Context, env *Env, id string, t Target) error {
	if t.Component == nil {
		return nil
	}
	return env.clearHook(ctx, t.Component.Name, id)
}

func init() {
	Register(Kind{Name: "http_error", Scope: ScopeComponent,
		Summary: "answer a share of inbound requests with an HTTP error (storefront admin API)",
		New:     func() Fault { return &HTTPError{Rate: 1, Status: 503} }})
}
