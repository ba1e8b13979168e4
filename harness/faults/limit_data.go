package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/outagelab/outagelab/harness/proxy"
)

// LimitData closes a connection after Bytes bytes in the toxic's direction.
type LimitData struct {
	Bytes       int64 `json:"bytes" yaml:"bytes"`
	ToxicParams `yaml:",inline"`
}

// Validate implements Fault.
func (f *LimitData) Validate() error {
	var errs []error
	if f.Bytes <= 0 {
		errs = append(errs, fmt.Errorf("bytes: %d must be > 0", f.Bytes))
	}
	errs = append(errs, f.ToxicParams.Validate())
	return errors.Join(errs...)
}

// Apply implements Fault.
func (f *LimitData) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return applyToxic(ctx, env, id, t, "limit_data", f.ToxicParams, proxy.Attributes{"bytes": f.Bytes})
}

// Remove implements Fault.
func (f *LimitData) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return removeToxic(ctx, env, id, t, f.ToxicParams)
}

func init() {
	Register(Kind{Name: "limit_data", Scope: ScopeEdge, Toxic: "limit_data",
		Summary: "close connections after N bytes",
		New:     func() Fault { return &LimitData{ToxicParams: DefaultToxic()} }})
}
