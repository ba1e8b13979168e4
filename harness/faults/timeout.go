package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/outagelab/outagelab/harness/proxy"
)

// Timeout stops all data on an edge and closes the connection after
// Timeout; 0 is a black hole (data dropped, connection held open) until the
// fault is removed. With the default downstream stream the request still
// reaches the callee and only the answer is dropped; if the callee then
// closes the connection (Connection: close) the caller sees EOF, not a hang.
// Use stream: both for a hang whatever the callee does.
type Timeout struct {
	Timeout     Duration `json:"timeout" yaml:"timeout"`
	ToxicParams `yaml:",inline"`
}

// Validate implements Fault.
func (f *Timeout) Validate() error {
	var errs []error
	if f.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %v is negative (0 means black hole)", f.Timeout))
	}
	errs = append(errs, msErr("timeout", f.Timeout), f.ToxicParams.Validate())
	return errors.Join(errs...)
}

// Apply implements Fault.
func (f *Timeout) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return applyToxic(ctx, env, id, t, "timeout", f.ToxicParams, proxy.Attributes{"timeout": f.Timeout.D().Milliseconds()})
}

// Remove implements Fault.
func (f *Timeout) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return removeToxic(ctx, env, id, t, f.ToxicParams)
}

func init() {
	Register(Kind{Name: "timeout", Scope: ScopeEdge, Toxic: "timeout",
		Summary: "drop data and close after timeout; timeout 0 is a black hole",
		New:     func() Fault { return &Timeout{ToxicParams: DefaultToxic()} }})
}
