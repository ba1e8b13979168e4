package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/outagelab/outagelab/harness/topology"
)

// Runtime brings a topology to life somewhere (Docker, local processes).
// Implementations register themselves with RegisterRuntime; the harness
// package never imports them (harness/docker imports harness, and the CLI or
// a user's test imports both).
type Runtime interface {
	// Name is the registry name ("docker", "local").
	Name() string
	// Available answers quickly (honour ctx's deadline) whether this runtime
	// can run here; it must never panic.
	Available(ctx context.Context) error
	// Start brings t up: one Toxiproxy server, one proxy per edge named after
	// the edge (components reach their callees only through their proxies),
	// components in dependency order (independent ones in parallel), and
	// waits until every component is ready. On error Start has already torn
	// down whatever it started; a non-nil Deployment returned with an error
	// may still be passed to Teardown safely.
	Start(ctx context.Context, t *topology.Topology, opts StartOptions) (Deployment, error)
}

// StartOptions are what every runtime needs besides the topology.
type StartOptions struct {
	// RunID labels everything the run creates (`org.outagelab.run=<RunID>`).
	RunID string
	// AdminToken is passed to storefront services (`--admin-token`) and is the
	// bearer token of their admin API.
	AdminToken string
	// Logger receives progress (component started, ready, ...). Never nil
	// when called through Up.
	Logger *slog.Logger
	// LogDir, when set, receives one <component>.log file per component with
	// its output (stdout+stderr). Empty: the runtime keeps output in memory
	// (bounded) and includes its tail in errors.
	LogDir string
}

// Deployment is a running topology. All addresses are as seen from this
// host: http://127.0.0.1:N.
type Deployment interface {
	// RunID is the run's id (the value of the org.outagelab.run label).
	RunID() string
	// RuntimeName is "docker" or "local".
	RuntimeName() string
	// Topology is the topology that was started (do not modify it).
	Topology() *topology.Topology
	// ToxiproxyURL is the Toxiproxy API, e.g. http://127.0.0.1:8474. Each
	// edge's proxy is named after the edge.
	ToxiproxyURL() string
	// Addr returns host:port (127.0.0.1:N) of a component's named port.
	Addr(component, port string) (string, error)
	// Endpoint returns http://127.0.0.1:N for a component's named port.
	Endpoint(component, port string) (string, error)
	// AdminEndpoint returns the base URL of the component's admin API (the
	// storefront's app-level fault hooks); an error if it has none.
	AdminEndpoint(component string) (string, error)
	// AdminToken is the bearer token for AdminEndpoint.
	AdminToken() string
	// ComponentAction pauses/unpauses/stops/starts/kills/restarts one
	// component. start after stop or kill brings it back on the same
	// addresses and waits for readiness; restart = stop + start.
	ComponentAction(ctx context.Context, component string, action topology.Action) error
	// Teardown stops and removes everything the run created (components,
	// proxies, networks, temp dirs). Idempotent; safe after a failed Start.
	Teardown(ctx context.Context) error
}

var (
	registryMu sync.Mutex
	registry   = map[string]Runtime{}
)

// RegisterRuntime makes a runtime available to Up under name. Registering
// the same name twice replaces the earlier one (last import wins), so a test
// can substitute its own.
func RegisterRuntime(name string, r Runtime) {
	if r == nil {
		panic("harness: RegisterRuntime with nil runtime") // programming error at init
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[name] = r
}

// Runtimes lists the registered runtime names, sorted.
func Runtimes() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// LookupRuntime returns the registered runtime or an error naming the known ones.
func LookupRuntime(name string) (Runtime, error) {
	registryMu.Lock()
	r, ok := registry[name]
	registryMu.Unlock()
	if !ok {
		hint := ""
		if name == "docker" {
			hint = " (import _ \"github.com/outagelab/outagelab/harness/docker\" to enable it)"
		}
		return nil, fmt.Errorf("runtime %q is not available%s; known: %v", name, hint, Runtimes())
	}
	return r, nil
}

// ErrNoRuntime is returned when no runtime can run here.
var ErrNoRuntime = errors.New("no runtime available")

// available calls r.Available with recover so a broken probe never panics.
func available(ctx context.Context, r Runtime) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("probe %s runtime panicked: %v", r.Name(), p)
		}
	}()
	return r.Available(ctx)
}

// discardLogger is used when Options.Logger is nil.
var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
