package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/outagelab/outagelab/harness/proxy"
)

// Latency delays data on an edge by Latency ± Jitter (uniform, per chunk).
// A latency toxic acts in one direction; the TCP handshake is not delayed.
type Latency struct {
	Latency     Duration `json:"latency" yaml:"latency"`
	Jitter      Duration `json:"jitter" yaml:"jitter"`
	ToxicParams `yaml:",inline"`
}

// Validate implements Fault.
func (f *Latency) Validate() error {
	var errs []error
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency: %v is negative", f.Latency))
	}
	if f.Jitter < 0 {
		errs = append(errs, fmt.Errorf("jitter: %v is negative", f.Jitter))
	}
	if f.Latency == 0 && f.Jitter == 0 {
		errs = append(errs, errors.New("latency: required (e.g. latency: 200ms, jitter: 50ms)"))
	}
	if f.Jitter > f.Latency {
		errs = append(errs, fmt.Errorf("jitter: %v is larger than latency %v (the delay would go negative)", f.Jitter, f.Latency))
	}
	errs = append(errs, msErr("latency", f.Latency), msErr("jitter", f.Jitter), f.ToxicParams.Validate())
	return errors.Join(errs...)
}

// Apply implements Fault.
func (f *Latency) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return applyToxic(ctx, env, id, t, "latency", f.ToxicParams, proxy.Attributes{
		"latency": f.Latency.D().Milliseconds(), "jitter": f.Jitter.D().Milliseconds()})
}

// Remove implements Fault.
func (f *Latency) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return removeToxic(ctx, env, id, t, f.ToxicParams)
}

// msErr rejects non-zero durations below Toxiproxy's 1 ms resolution.
func msErr(name string, d Duration) error {
	if d > 0 && d.D() < time.Millisecond {
		return fmt.Errorf("%s: %v is below Toxiproxy's 1ms resolution", name, d)
	}
	return nil
}

func init() {
	Register(Kind{Name: "latency", Scope: ScopeEdge, Toxic: "latency",
		Summary: "delay data on an edge by latency ± jitter",
		New:     func() Fault { return &Latency{ToxicParams: DefaultToxic()} }})
}
