package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/outagelab/outagelab/harness/proxy"
)

// ResetPeer resets connections (TCP RST) after the first data plus Timeout.
// Note: Toxiproxy sets SO_LINGER 0 on new links even at toxicity 0.
type ResetPeer struct {
	Timeout     Duration `json:"timeout" yaml:"timeout"`
	ToxicParams `yaml:",inline"`
}

// Validate implements Fault.
func (f *ResetPeer) Validate() error {
	var errs []error
	if f.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %v is negative", f.Timeout))
	}
	errs = append(errs, msErr("timeout", f.Timeout), f.ToxicParams.Validate())
	return errors.Join(errs...)
}

// Apply implements Fault.
func (f *ResetPeer) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return applyToxic(ctx, env, id, t, "reset_peer", f.ToxicParams, proxy.Attributes{"timeout": f.Timeout.D().Milliseconds()})
}

// Remove implements Fault.
func (f *ResetPeer) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return removeToxic(ctx, env, id, t, f.ToxicParams)
}

func init() {
	Register(Kind{Name: "reset_peer", Scope: ScopeEdge, Toxic: "reset_peer",
		Summary: "reset connections (TCP RST) after the first data + timeout",
		New:     func() Fault { return &ResetPeer{ToxicParams: DefaultToxic()} }})
}
