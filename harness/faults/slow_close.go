package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/outagelab/outagelab/harness/proxy"
)

// SlowClose delays closing connections on an edge by Delay.
type SlowClose struct {
	Delay       Duration `json:"delay" yaml:"delay"`
	ToxicParams `yaml:",inline"`
}

// Validate implements Fault.
func (f *SlowClose) Validate() error {
	var errs []error
	if f.Delay <= 0 {
		errs = append(errs, fmt.Errorf("delay: %v must be > 0 (e.g. delay: 2s)", f.Delay))
	}
	errs = append(errs, msErr("delay", f.Delay), f.ToxicParams.Validate())
	return errors.Join(errs...)
}

// Apply implements Fault.
func (f *SlowClose) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return applyToxic(ctx, env, id, t, "slow_close", f.ToxicParams, proxy.Attributes{"delay": f.Delay.D().Milliseconds()})
}

// Remove implements Fault.
func (f *SlowClose) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return removeToxic(ctx, env, id, t, f.ToxicParams)
}

func init() {
	Register(Kind{Name: "slow_close", Scope: ScopeEdge, Toxic: "slow_close",
		Summary: "delay the close of connections on an edge",
		New:     func() Fault { return &SlowClose{ToxicParams: DefaultToxic()} }})
}
