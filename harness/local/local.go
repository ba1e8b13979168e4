// Package local runs a topology as plain processes on this host: the
// storefront binary's subcommands, postgres and redis-server (through
// internal/procs) and Toxiproxy embedded in this process. It is chosen when
// no Docker engine answers.
//
//	storefront gateway ──127.0.0.1:P1 (proxy gateway-us-east-1__catalog-us-east-1)──▶ catalog 127.0.0.1:C
//	     ▲                        embedded Toxiproxy (API on 127.0.0.1:T)
//	 127.0.0.1:G (Endpoint)
//
// Every process runs in its own process group with a parent-death signal;
// Teardown stops them all (resuming paused ones first) and removes the run's
// temporary directory. Faults on processes are signals: pause = SIGSTOP,
// unpause = SIGCONT, stop = SIGTERM (then SIGKILL), kill = SIGKILL, sent to
// the process group and to children that left it. Each returns once its
// effect shows in /proc (every thread stopped, none stopped, every process
// gone; see internal/procs) and reports that moment (internal/effect) as
// the fault's time; an effect that does not show within a bound is an error.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
)

// Options configure one start (mirrors harness.StartOptions; this package
// does not import harness so that harness can register it).
type Options struct {
	RunID      string
	AdminToken string
	Logger     *slog.Logger
	LogDir     string
	// StorefrontBin is the storefront binary; "" finds or builds it (see
	// FindStorefront).
	StorefrontBin string
	// ReadyTimeout bounds each component's readiness wait (default 60 s).
	ReadyTimeout time.Duration
}

// Available reports whether the local runtime can run here (always, on a
// Unix host; missing datastore binaries are reported by Start with a hint).
func Available(ctx context.Context) error { return ctx.Err() }

// Deployment is a topology running as local processes.
type Deployment struct {
	topo   *topology.Topology
	opts   Options
	log    *slog.Logger
	dir    string // run temp dir (datastore data, default logs)
	logDir string
	bin    string
	toxi   *proxy.Server
	px     *proxy.Client

	mu        sync.Mutex
	comps     map[string]*comp
	proxyAddr map[string]string // edge → 127.0.0.1:N
	ports     []int             // reserved for this run (see ports.go)
	torn      bool
	tearOnce  sync.Once
	tearErr   error
}

var _ interface {
	Teardown(context.Context) error
} = (*Deployment)(nil)

// Start brings t up. On error everything started is stopped again and the
// returned Deployment is nil.
func Start(ctx context.Context, t *topology.Topology, opts Options) (_ *Deployment, err error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("topology %s: %w", t.Name, err)
	}
	waves, err := t.Order()
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.RunID == "" {
		opts.RunID = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if err := checkSupported(t); err != nil {
		return nil, err
	}
	d := &Deployment{topo: t, opts: opts, log: opts.Logger, comps: map[string]*comp{}, proxyAddr: map[string]string{}}
	defer func() {
		if err != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if terr := d.Teardown(tctx); terr != nil {
				err = errors.Join(err, fmt.Errorf("teardown after failed start: %w", terr))
			}
		}
	}()
	if removed, err := Sweep(); err != nil {
		d.log.Warn("sweep of earlier local runs incomplete", "err", err)
	} else if len(removed) > 0 {
		d.log.Info("removed leftovers of killed local runs", "dirs", removed)
	}
	d.dir, err = os.MkdirTemp("", "outagelab-"+opts.RunID+"-")
	if err != nil {
		return nil, fmt.Errorf("create run dir: %w", err)
	}
	if err := writeOwner(d.dir); err != nil {
		return nil, fmt.Errorf("create run dir: %w", err)
	}
	// postgres runs as the postgres user when we are root: it must reach its
	// data dir under this one (initdb keeps pgdata itself at 0700).
	if err := os.Chmod(d.dir, 0o755); err != nil {
		return nil, fmt.Errorf("chmod run dir: %w", err)
	}
	d.logDir = opts.LogDir
	if d.logDir == "" {
		d.logDir = filepath.Join(d.dir, "logs")
	}
	if err := os.MkdirAll(d.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	if needsStorefront(t) {
		d.bin = opts.StorefrontBin
		if d.bin == "" {
			if d.bin, err = FindStorefront(ctx); err != nil {
				return nil, err
			}
		}
	}

	// Ports: every component port gets a free loopback port up front so
	// proxies can point at callees before they start.
	for _, c := range t.Components {
		cp := &comp{c: c, d: d, ports: map[string]int{}}
		for _, p := range c.Ports {
			n, err := d.freePort()
			if err != nil {
				return nil, fmt.Errorf("allocate port for %s/%s: %w", c.Name, p.Name, err)
			}
			cp.ports[p.Name] = n
		}
		d.comps[c.Name] = cp
	}

	// Toxiproxy, one proxy per edge on a kernel-chosen port.
	if d.toxi, err = proxy.StartServer("127.0.0.1:0"); err != nil {
		return nil, err
	}
	d.px = proxy.NewClient(d.toxi.URL())
	// Proxy ports too come from below the ephemeral range: a "down" fault
	// closes the listener, and re-enabling must find the port still free.
	var created []*proxy.Proxy
	for attempt := 0; ; attempt++ {
		specs := make([]proxy.Spec, 0, len(t.Edges))
		for _, e := range t.Edges {
			lp, err := d.freePort()
			if err != nil {
				return nil, fmt.Errorf("allocate proxy port: %w", err)
			}
			up := d.comps[e.To].ports[e.Port]
			specs = append(specs, proxy.Spec{Name: e.Name, Listen: "127.0.0.1:" + strconv.Itoa(lp), Upstream: "127.0.0.1:" + strconv.Itoa(up), Enabled: true})
		}
		created, err = d.px.PopulateProxies(ctx, specs)
		if err == nil {
			break
		}
		if attempt >= 2 || !portTaken(err, "") {
			return nil, fmt.Errorf("create proxies: %w", err)
		}
		_ = d.px.Reset(ctx)
	}
	for _, p := range created {
		d.proxyAddr[p.Name] = p.Listen
	}
	for _, e := range t.Edges {
		if d.proxyAddr[e.Name] == "" {
			return nil, fmt.Errorf("create proxies: Toxiproxy did not report proxy %s", e.Name)
		}
	}

	// Components, wave by wave; a wave in parallel.
	for _, wave := range waves {
		g, gctx := errgroup.WithContext(ctx)
		for _, name := range wave {
			cp := d.comps[name]
			g.Go(func() error {
				start := time.Now()
				if err := cp.start(gctx); err != nil {
					return fmt.Errorf("start %s: %w", name, err)
				}
				d.log.Info("component ready", "component", name, "took", time.Since(start).Round(time.Millisecond))
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func needsStorefront(t *topology.Topology) bool {
	for _, c := range t.Components {
		if c.Image == topology.ImageStorefront {
			return true
		}
	}
	return false
}

func checkSupported(t *topology.Topology) error {
	var errs []error
	for _, c := range t.Components {
		switch c.Image {
		case topology.ImageStorefront, topology.ImagePostgres, topology.ImageRedis:
		default:
			errs = append(errs, fmt.Errorf("component %s: the local runtime cannot run image %q (it runs the storefront, postgres and redis as processes); use --runtime docker", c.Name, c.Image))
		}
	}
	return errors.Join(errs...)
}

// proxyHostPort implements topology.ProxyAddr.
func (d *Deployment) proxyHostPort(e *topology.Edge) (string, int) {
	host, port, _ := net.SplitHostPort(d.proxyAddr[e.Name])
	n, _ := strconv.Atoi(port)
	return host, n
}

// RunID implements harness.Deployment.
func (d *Deployment) RunID() string { return d.opts.RunID }

// RuntimeName implements harness.Deployment.
func (d *Deployment) RuntimeName() string { return "local" }

// Topology implements harness.Deployment.
func (d *Deployment) Topology() *topology.Topology { return d.topo }

// ToxiproxyURL implements harness.Deployment.
func (d *Deployment) ToxiproxyURL() string { return d.toxi.URL() }

// ProxyAddr returns the loopback address of an edge's proxy.
func (d *Deployment) ProxyAddr(edge string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.proxyAddr[edge]
	if !ok {
		return "", fmt.Errorf("no edge %q in topology %s", edge, d.topo.Name)
	}
	return a, nil
}

// Addr implements harness.Deployment.
func (d *Deployment) Addr(component, port string) (string, error) {
	cp, ok := d.comps[component]
	if !ok {
		return "", fmt.Errorf("no component %q in topology %s", component, d.topo.Name)
	}
	n, ok := cp.ports[port]
	if !ok {
		return "", fmt.Errorf("component %s has no port %q", component, port)
	}
	return "127.0.0.1:" + strconv.Itoa(n), nil
}

// Endpoint implements harness.Deployment.
func (d *Deployment) Endpoint(component, port string) (string, error) {
	a, err := d.Addr(component, port)
	if err != nil {
		return "", err
	}
	return "http://" + a, nil
}

// AdminEndpoint implements harness.Deployment.
func (d *Deployment) AdminEndpoint(component string) (string, error) {
	c := d.topo.Component(component)
	if c == nil {
		return "", fmt.Errorf("no component %q in topology %s", component, d.topo.Name)
	}
	if c.AdminPort == "" {
		return "", fmt.Errorf("component %s has no admin API (app-level faults need a storefront service)", component)
	}
	return d.Endpoint(component, c.AdminPort)
}

// AdminToken implements harness.Deployment.
func (d *Deployment) AdminToken() string { return d.opts.AdminToken }

// LogPath returns the file holding a component's output.
func (d *Deployment) LogPath(component string) string {
	return filepath.Join(d.logDir, component+".log")
}

// ComponentAction implements harness.Deployment.
func (d *Deployment) ComponentAction(ctx context.Context, component string, action topology.Action) error {
	cp, ok := d.comps[component]
	if !ok {
		return fmt.Errorf("%s %s: no such component", action, component)
	}
	d.mu.Lock()
	torn := d.torn
	d.mu.Unlock()
	if torn {
		return fmt.Errorf("%s %s: the deployment is torn down", action, component)
	}
	if err := cp.act(ctx, action); err != nil {
		return fmt.Errorf("%s %s: %w", action, component, err)
	}
	return nil
}

// Teardown implements harness.Deployment: every process stopped (paused ones
// resumed first), the embedded Toxiproxy closed, the run dir removed.
// Idempotent.
func (d *Deployment) Teardown(ctx context.Context) error {
	d.tearOnce.Do(func() {
		d.mu.Lock()
		d.torn = true
		d.mu.Unlock()
		var errs []error
		// Reverse dependency order: callers first, datastores last.
		waves, _ := d.topo.Order()
		for i := len(waves) - 1; i >= 0; i-- {
			var wg sync.WaitGroup
			var mu sync.Mutex
			for _, name := range waves[i] {
				cp := d.comps[name]
				if cp == nil {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := cp.shutdown(ctx); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("stop %s: %w", name, err))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
		}
		if d.px != nil {
			d.px.Close()
		}
		if d.toxi != nil {
			if err := d.toxi.Close(); err != nil {
				errs = append(errs, fmt.Errorf("toxiproxy: %w", err))
			}
		}
		d.releasePorts()
		if d.dir != "" {
			if err := os.RemoveAll(d.dir); err != nil {
				errs = append(errs, fmt.Errorf("remove run dir: %w", err))
			}
		}
		d.tearErr = errors.Join(errs...)
	})
	return d.tearErr
}

// waitHTTP polls url until it answers 200, the process exits or ctx ends.
func waitHTTP(ctx context.Context, url string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready at %s (last: %s): %w", url, last, ctx.Err())
		case <-exited:
			return fmt.Errorf("exited while waiting for %s", url)
		case <-time.After(25 * time.Millisecond):
		}
	}
}
