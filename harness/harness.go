// Package harness brings a topology up, puts faults on it and takes it down
// again. It is a library first: a user's own Go (or Ginkgo) test calls Up,
// applies faults through Env.Faults and asserts on what it sees.
//
//	            ┌──────────── Env ────────────┐
//	Up(opts) ─▶ │ Deployment (docker | local) │──▶ components, one Toxiproxy,
//	            │ Proxy  (Toxiproxy API)      │    one proxy per edge
//	            │ Faults (registry applier)   │
//	            └─────────────────────────────┘
//	env.Close(ctx): remove every fault, then tear everything down.
//
// Runtimes register themselves (RegisterRuntime); the local runtime is
// built in, the docker runtime registers from harness/docker.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
)

// Re-exported actions so callers need only this package.
const (
	ActionPause   = topology.ActionPause
	ActionUnpause = topology.ActionUnpause
	ActionStop    = topology.ActionStop
	ActionStart   = topology.ActionStart
	ActionKill    = topology.ActionKill
	ActionRestart = topology.ActionRestart
)

// Options configure Up.
type Options struct {
	// Runtime is "docker", "local" or "" (auto: docker when an engine
	// answers a short ping, else local with a one-line notice).
	Runtime string
	// Topology to start; nil means the built-in storefront with Policy.
	Topology *topology.Topology
	// Policy is the storefront preset when Topology is nil ("" = fragile).
	Policy string
	// RunID labels everything the run creates; "" generates one.
	RunID string
	// AdminToken for the storefront admin API; "" generates one.
	AdminToken string
	// Logger for progress; nil discards.
	Logger *slog.Logger
	// Notice receives one-line notices meant for a person (runtime choice);
	// nil means os.Stderr.
	Notice io.Writer
	// LogDir receives each component's output (see StartOptions.LogDir).
	LogDir string
	// ProbeTimeout bounds the Docker probe in auto mode (default 2 s).
	ProbeTimeout time.Duration
}

// Env is a running topology with its proxies and fault applier.
type Env struct {
	Deployment
	// Proxy is a client of the run's Toxiproxy API.
	Proxy *proxy.Client
	// Faults applies and removes faults (kinds from the faults registry).
	Faults *faults.Applier

	closeOnce sync.Once
	closeErr  error
}

// Up resolves the runtime, starts the topology and returns the Env. On error
// nothing is left running.
func Up(ctx context.Context, opts Options) (*Env, error) {
	log := opts.Logger
	if log == nil {
		log = discardLogger
	}
	topo := opts.Topology
	if topo == nil {
		var err error
		topo, err = topology.Storefront(topology.StorefrontOptions{Policy: opts.Policy})
		if err != nil {
			return nil, err
		}
	} else if err := topo.Validate(); err != nil {
		return nil, fmt.Errorf("topology %s: %w", topo.Name, err)
	}
	rt, err := ChooseRuntime(ctx, opts.Runtime, opts.ProbeTimeout, noticeWriter(opts.Notice))
	if err != nil {
		return nil, err
	}
	runID := opts.RunID
	if runID == "" {
		runID = NewRunID()
	}
	token := opts.AdminToken
	if token == "" {
		token = randomHex(16)
	}
	log.Info("starting topology", "topology", topo.Name, "runtime", rt.Name(), "run", runID,
		"components", len(topo.Components), "edges", len(topo.Edges))
	dep, err := rt.Start(ctx, topo, StartOptions{RunID: runID, AdminToken: token, Logger: log, LogDir: opts.LogDir})
	if err != nil {
		if dep != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if terr := dep.Teardown(tctx); terr != nil {
				err = errors.Join(err, fmt.Errorf("teardown after failed start: %w", terr))
			}
		}
		return nil, fmt.Errorf("start %s on %s: %w", topo.Name, rt.Name(), err)
	}
	return NewEnv(ctx, dep, log)
}

// NewEnv wraps an already running deployment (for runtimes driven directly).
func NewEnv(ctx context.Context, dep Deployment, log *slog.Logger) (*Env, error) {
	if log == nil {
		log = discardLogger
	}
	px := proxy.NewClient(dep.ToxiproxyURL())
	fenv := faults.NewEnv(dep, px)
	if err := fenv.RememberProxies(ctx); err != nil {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return nil, errors.Join(err, dep.Teardown(tctx))
	}
	return &Env{Deployment: dep, Proxy: px, Faults: faults.NewApplier(fenv, log)}, nil
}

// Apply is shorthand for e.Faults.Apply.
func (e *Env) Apply(ctx context.Context, specs ...faults.Spec) ([]*faults.Applied, error) {
	return e.Faults.Apply(ctx, specs...)
}

// Close removes every active fault, then tears the deployment down. It runs
// even when ctx is cancelled (bounded to two minutes) and is idempotent.
func (e *Env) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		_, ferr := e.Faults.RemoveAll(cctx)
		terr := e.Deployment.Teardown(cctx)
		e.Proxy.Close()
		if ferr != nil {
			ferr = fmt.Errorf("remove faults: %w", ferr)
		}
		if terr != nil {
			terr = fmt.Errorf("teardown: %w", terr)
		}
		e.closeErr = errors.Join(ferr, terr)
	})
	return e.closeErr
}

// ChooseRuntime resolves name ("" = auto) to a registered runtime. In auto
// mode docker is used when registered and its probe answers within timeout;
// otherwise local, with a one-line notice to w.
func ChooseRuntime(ctx context.Context, name string, timeout time.Duration, w io.Writer) (Runtime, error) {
	if name != "" {
		rt, err := LookupRuntime(name)
		if err != nil {
			return nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout(timeout))
		defer cancel()
		if err := available(pctx, rt); err != nil {
			return nil, fmt.Errorf("runtime %s is not usable here: %w", name, err)
		}
		return rt, nil
	}
	reason := "the docker runtime is not compiled in"
	if rt, err := LookupRuntime("docker"); err == nil {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout(timeout))
		err := available(pctx, rt)
		cancel()
		if err == nil {
			return rt, nil
		}
		reason = "no Docker engine answered (" + oneLine(err.Error()) + ")"
	}
	rt, err := LookupRuntime("local")
	if err != nil {
		return nil, fmt.Errorf("%w: %s and the local runtime is missing", ErrNoRuntime, reason)
	}
	fmt.Fprintf(w, "outagelab: %s; using the local runtime (processes on this host). Force one with --runtime docker|local.\n", reason)
	return rt, nil
}

func probeTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return 2 * time.Second
	}
	return d
}

func noticeWriter(w io.Writer) io.Writer {
	if w == nil {
		return os.Stderr
	}
	return w
}

func oneLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

// NewRunID returns a fresh run id: time-ordered and unique, safe as a
// Docker label value and in file names (e.g. 20261126-232635-a1b2c3).
func NewRunID() string {
	return time.Now().UTC().Format("20060102-150405") + "-" + randomHex(3)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
