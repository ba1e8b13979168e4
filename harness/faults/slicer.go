package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/outagelab/outagelab/harness/proxy"
)

// Slicer cuts data into small packets of AverageSize ± SizeVariation bytes,
// waiting Delay between them.
type Slicer struct {
	AverageSize   int      `json:"average_size" yaml:"average_size"`
	SizeVariation int      `json:"size_variation" yaml:"size_variation"`
	Delay         Duration `json:"delay" yaml:"delay"`
	ToxicParams   `yaml:",inline"`
}

// Validate implements Fault.
func (f *Slicer) Validate() error {
	var errs []error
	if f.AverageSize <= 0 {
		errs = append(errs, fmt.Errorf("average_size: %d bytes must be > 0", f.AverageSize))
	}
	if f.SizeVariation < 0 || f.SizeVariation >= f.AverageSize && f.AverageSize > 0 {
		errs = append(errs, fmt.Errorf("size_variation: %d must be in [0, average_size)", f.SizeVariation))
	}
	if f.Delay < 0 {
		errs = append(errs, fmt.Errorf("delay: %v is negative", f.Delay))
	}
	if f.Delay > 0 && f.Delay.D() < time.Microsecond {
		errs = append(errs, fmt.Errorf("delay: %v is below the slicer's 1µs resolution", f.Delay))
	}
	errs = append(errs, f.ToxicParams.Validate())
	return errors.Join(errs...)
}

// Apply implements Fault.
func (f *Slicer) Apply(ctx context.Context, env *Env, id string, t Target) error {
	return applyToxic(ctx, env, id, t, "slicer", f.ToxicParams, proxy.Attributes{
		"average_size": f.AverageSize, "size_variation": f.SizeVariation, "delay": f.Delay.D().Microseconds()})
}

// Remove implements Fault.
func (f *Slicer) Remove(ctx context.Context, env *Env, id string, t Target) error {
	return removeToxic(ctx, env, id, t, f.ToxicParams)
}

func init() {
	Register(Kind{Name: "slicer", Scope: ScopeEdge, Toxic: "slicer",
		Summary: "slice data into small delayed packets",
		New:     func() Fault { return &Slicer{AverageSize: 64, ToxicParams: DefaultToxic()} }})
}
