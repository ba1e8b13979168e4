package faults

import (
	"context"
	"fmt"
)

// Partition modes.
const (
	PartitionBlackhole = "blackhole" // packets vanish: callers hang until their own timeouts
	PartitionRefuse    = "refuse"    // connections refused (like down)
)

// Partition cuts every selected edge, typically all edges between two sets
// (selector crossing: [A, B]) or every edge into and out of a region
// (crossing: [eu-west-1, "!eu-west-1"]). A real partition drops packets, so
// the default mode is blackhole (a timeout-0 toxic in both directions).
type Partition struct {
	Mode string `json:"mode" yaml:"mode"`
}

// Validate implements Fault.
func (f *Partition) Validate() error {
	if f.Mode != PartitionBlackhole && f.Mode != PartitionRefuse {
		return fmt.Errorf("mode: %q unknown (want %s or %s)", f.Mode, PartitionBlackhole, PartitionRefuse)
	}
	return nil
}

var partitionToxic = ToxicParams{Toxicity: 1, Stream: StreamBoth}

// Apply implements Fault.
func (f *Partition) Apply(ctx context.Context, env *Env, id string, t Target) error {
	if f.Mode == PartitionRefuse {
		return proxyDown(ctx, env, t)
	}
	return applyToxic(ctx, env, id, t, "timeout", partitionToxic, map[string]any{"timeout": 0})
}

// Remove implements Fault.
func (f *Partition) Remove(ctx context.Context, env *Env, id string, t Target) error {
	if f.Mode == PartitionRefuse {
		return proxyUp(ctx, env, id, t)
	}
	return removeToxic(ctx, env, id, t, partitionToxic)
}

func (f *Partition) reassert(ctx context.Context, env *Env, id string, t Target) error {
	if f.Mode == PartitionRefuse {
		return env.Proxy.SetEnabled(ctx, t.Edge.Name, false)
	}
	return applyToxic(ctx, env, id, t, "timeout", partitionToxic, map[string]any{"timeout": 0})
}

func init() {
	Register(Kind{Name: "partition", Scope: ScopeEdge,
		Summary: "cut every selected edge (blackhole by default, or refuse)",
		New:     func() Fault { return &Partition{Mode: PartitionBlackhole} }})
}
