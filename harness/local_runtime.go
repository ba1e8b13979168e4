package harness

import (
	"context"

	"github.com/outagelab/outagelab/harness/local"
	"github.com/outagelab/outagelab/harness/topology"
)

// localRuntime adapts harness/local (which does not import this package, so
// that it can be built in here) to Runtime.
type localRuntime struct{}

func (localRuntime) Name() string { return "local" }

func (localRuntime) Available(ctx context.Context) error { return local.Available(ctx) }

func (localRuntime) Start(ctx context.Context, t *topology.Topology, o StartOptions) (Deployment, error) {
	d, err := local.Start(ctx, t, local.Options{RunID: o.RunID, AdminToken: o.AdminToken, Logger: o.Logger, LogDir: o.LogDir})
	if err != nil {
		return nil, err // local.Start has torn down what it started
	}
	return d, nil
}

var _ Deployment = (*local.Deployment)(nil)

func init() { RegisterRuntime("local", localRuntime{}) }
