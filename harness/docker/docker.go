// Package docker is the harness's Docker runtime, built on testcontainers-go
// for an engine with no registry: every image is local (harness/images),
// Ryuk is off and this package owns cleanup by label.
//
//	                 network olab (one per run, labelled)
//	caller ──▶ toxiproxy:<proxy port> ──[toxics]──▶ <callee>.direct:<port>
//	           (one Toxiproxy container per run; API 8474 → 127.0.0.1:N)
//
// Storefront components are told where their dependencies are (`--dep
// NAME=http://toxiproxy:PORT`). A user's component that does not name its
// edges with ${edge:...} placeholders reaches a callee by its plain name: the
// caller sits on a network of its own where the Toxiproxy container carries
// the callee's name as an alias, and the proxy listens there on the callee's
// port, so the application's configuration does not change.
//
// Every container and network carries org.outagelab.run=<run id>,
// org.outagelab.created=<RFC3339> and org.outagelab.owner=<host>/<pid>;
// Sweep removes what a killed process left behind.
package docker

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/moby/moby/client"
	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/images"
)

func init() {
	// testcontainers-go reads its configuration once per process: set the
	// two settings this engine needs before any call can read them (an
	// explicit value in the environment wins).
	setDefaultEnv("TESTCONTAINERS_RYUK_DISABLED", "true")
	setDefaultEnv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	harness.RegisterRuntime(Name, &Runtime{})
}

func setDefaultEnv(k, v string) {
	if _, ok := os.LookupEnv(k); !ok {
		os.Setenv(k, v)
	}
}

// Name is the runtime's registry name.
const Name = "docker"

// Runtime runs a topology as Docker containers.
type Runtime struct {
	// Images, when set, is used instead of images.Ensure (tests).
	Images *images.Set
	// ImageOptions are passed to images.Ensure.
	ImageOptions images.Options
	// PublishProxies also publishes every configured edge's proxy port on
	// 127.0.0.1 (Deployment.ProxyHostAddr), so a test can time an edge from
	// the host. Off by default: one docker-proxy process per port.
	PublishProxies bool
	// ReadyTimeout bounds each component's readiness wait when its topology
	// entry has none; zero: 60 s.
	ReadyTimeout time.Duration
}

var _ harness.Runtime = (*Runtime)(nil)

// Name implements harness.Runtime.
func (r *Runtime) Name() string { return Name }

// Available pings the engine under a short deadline; it never panics.
func (r *Runtime) Available(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("docker probe panicked: %v", p)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := images.NewClient()
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("no Docker engine answers (%w); start one or use --runtime local", err)
	}
	return nil
}
