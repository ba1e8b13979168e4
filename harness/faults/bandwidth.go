package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/outagelab/outagelab/harness/proxy"
)

// Bandwidth limits an edge to Rate KB/s per connection.
type Bandwidth struct {
	// Rate in KB/s; must be > 0 (Toxiproxy hangs at 0 and panics below).
	Rate        int64 `json:"rate" yaml:"rate"`
	ToxicParams `yaml:",inline"`
}

// Validate implements Fault.
func (f *Bandwidth) Validate() error {
	var errs []error
	if f.Rate <= 0 {
		errs = append(errs, fmt.Errorf("rate: %d KB/s must be > 0 (to stop traffic use timeout or down)", f.Rate))
	}
	errs = append(errs, f.ToxicParams.Validate())
	return errors.Join(errs...)
}

// Apply implements Fault.
func (f *Bandwidth) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return applyToxic(ctx, env, id, t, "bandwidth", f.ToxicParams, proxy.Attributes{"rate": f.Rate})
}

// Remove implements Fault.
func (f *Bandwidth) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return removeToxic(ctx, env, id, t, f.ToxicParams)
}

func init() {
	Register(Kind{Name: "bandwidth", Scope: ScopeEdge, Toxic: "bandwidth",
		Summary: "limit an edge's throughput to rate KB/s per connection",
		New:     func() Fault { return &Bandwidth{ToxicParams: DefaultToxic()} }})
}
