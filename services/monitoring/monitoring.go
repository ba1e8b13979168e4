// Package monitoring is the storefront's in-band monitoring: it health-checks
// every --dep target's /healthz each --interval THROUGH the URLs it is given
// (in a run, Toxiproxy proxies), and serves what it believes at GET /status.
// When a scenario congests or cuts its edges, this view goes dark or wrong,
// as operators' monitoring did in AWS us-east-1 on 2021-12-07; the recorder's
// out-of-band view is the truth to compare it with.
//
//	            ┌──────────── monitoring ────────────┐  GET URL/healthz   ┌──────────┐
//	ticker ───▶ │ probe all targets (concurrently)   │ ──── proxy ──────▶ │ gateway… │
//	            │   resilience.Dependency per target │ ◀────────────────  └──────────┘
//	            │   → status snapshot                │
//	            └────────────────────────────────────┘
//	GET /status  {"checked_at":…, "targets":{"gateway":{"healthy":true,"latency_ms":1.2,…}}}
package monitoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// TargetStatus is the last probe of one target.
type TargetStatus struct {
	Healthy bool `json:"healthy"`
	// LatencyMS is the last probe's duration in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	// Outcome is the resilience outcome class of the last probe ("ok", "timeout", …).
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// CheckedAt is when the last probe finished.
	CheckedAt time.Time `json:"checked_at"`
	// ConsecutiveFailures counts failed probes since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// LastHealthyAt is the last time the target answered healthy (zero if never).
	LastHealthyAt *time.Time `json:"last_healthy_at,omitempty"`
}

// Status is the body of GET /status.
type Status struct {
	// CheckedAt is when the last round of probes finished (zero before the first).
	CheckedAt time.Time               `json:"checked_at"`
	Targets   map[string]TargetStatus `json:"targets"`
}

// Options configure a Monitor.
type Options struct {
	// Interval between rounds of probes (default 1 s).
	Interval time.Duration
	// ProbeTimeout bounds each probe (default 800 ms; at most Interval).
	ProbeTimeout time.Duration
}

// Monitor probes targets and keeps the latest status.
type Monitor struct {
	opts    Options
	targets map[string]*resilience.Dependency
	client  *http.Client
	up      *prometheus.GaugeVec
	last    prometheus.Gauge

	mu     sync.RWMutex
	status Status
	rounds int
}

// ProbePolicy is the resilience policy of a probe: one attempt, no breaker,
// so that every tick tells what the target looks like right now.
func ProbePolicy(timeout time.Duration) resilience.Policy {
	return resilience.Policy{Name: "probe", Timeout: timeout, MaxAttempts: 1}
}

// New returns a Monitor of the given targets; reg receives its gauges.
func New(targets map[string]*resilience.Dependency, o Options, reg prometheus.Registerer, constLabels prometheus.Labels) (*Monitor, error) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 800 * time.Millisecond
	}
	if o.ProbeTimeout > o.Interval {
		return nil, fmt.Errorf("--probe-timeout (%s) must not exceed --interval (%s)", o.ProbeTimeout, o.Interval)
	}
	m := &Monitor{
		opts:    o,
		targets: targets,
		client:  resilience.NewHTTPClient(),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "storefront_monitor_target_up", ConstLabels: constLabels,
			Help: "1 when the target's last health probe succeeded, else 0 (in-band view).",
		}, []string{"target"}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "storefront_monitor_last_round_timestamp_seconds", ConstLabels: constLabels,
			Help: "Unix time of the last finished round of probes.",
		}),
		status: Status{Targets: map[string]TargetStatus{}},
	}
	for _, c := range []prometheus.Collector{m.up, m.last} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register monitoring metrics: %w", err)
		}
	}
	for name := range targets {
		m.up.WithLabelValues(name)
	}
	return m, nil
}

// Run probes every Interval until ctx ends. The first round starts at once.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		m.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round probes every target once, concurrently, and publishes the result.
func (m *Monitor) Round(ctx context.Context) {
	type res struct {
		name string
		ts   TargetStatus
	}
	ch := make(chan res, len(m.targets))
	for name, d := range m.targets {
		go func() { ch <- res{name, m.probe(ctx, d)} }()
	}
	results := make(map[string]TargetStatus, len(m.targets))
	for range m.targets {
		r := <-ch
		results[r.name] = r.ts
	}
	if ctx.Err() != nil {
		return // shutting down: a cancelled round says nothing about the targets
	}
	now := time.Now().UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, ts := range results {
		prev := m.status.Targets[name]
		ts.LastHealthyAt = prev.LastHealthyAt
		if ts.Healthy {
			at := ts.CheckedAt
			ts.LastHealthyAt = &at
		} else {
			ts.ConsecutiveFailures = prev.ConsecutiveFailures + 1
		}
		m.status.Targets[name] = ts
		v := 0.0
		if ts.Healthy {
			v = 1
		}
		m.up.WithLabelValues(name).Set(v)
	}
	m.status.CheckedAt = now
	m.rounds++
	m.last.Set(float64(now.UnixNano()) / 1e9)
}

func (m *Monitor) probe(ctx context.Context, d *resilience.Dependency) TargetStatus {
	start := time.Now()
	err := d.Do(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL("/healthz"), nil)
		if err != nil {
			return err
		}
		resp, err := m.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			// Any non-200 from /healthz is unhealthy; a 4xx is still "answered".
			return &resilience.HTTPError{Dependency: d.Name(), Status: resp.StatusCode}
		}
		return nil
	})
	ts := TargetStatus{
		Healthy:   err == nil,
		LatencyMS: float64(time.Since(start).Microseconds()) / 1000,
		Outcome:   resilience.Classify(err),
		CheckedAt: time.Now().UTC(),
	}
	if err != nil {
		ts.Error = err.Error()
		var he *resilience.HTTPError
		if errors.As(err, &he) {
			ts.Error = fmt.Sprintf("healthz answered %d", he.Status)
		}
	}
	return ts
}

// Status returns a copy of the latest status.
func (m *Monitor) Status() Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := Status{CheckedAt: m.status.CheckedAt, Targets: make(map[string]TargetStatus, len(m.status.Targets))}
	for k, v := range m.status.Targets {
		s.Targets[k] = v
	}
	return s
}

// Register adds GET /status to mux.
func (m *Monitor) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		platform.WriteJSON(w, http.StatusOK, m.Status())
	})
}

// ready is the readiness check: ready once a round finished.
func (m *Monitor) ready(context.Context) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.rounds == 0 {
		return errors.New("no round of probes finished yet")
	}
	return nil
}

// Main runs the monitoring service: storefront monitoring --dep NAME=URL... [flags].
func Main(ctx context.Context, args []string) error {
	fs := platform.NewFlagSet("monitoring")
	interval := fs.Duration("interval", time.Second, "time between rounds of health probes")
	timeout := fs.Duration("probe-timeout", 800*time.Millisecond, "timeout of one health probe (≤ --interval)")
	cfg, err := fs.Parse(args, nil)
	if err != nil {
		return err
	}
	srv, err := platform.New(cfg)
	if err != nil {
		return fmt.Errorf("start monitoring: %w", err)
	}
	names := make([]string, 0, len(cfg.Deps))
	for n := range cfg.Deps {
		names = append(names, n)
	}
	sort.Strings(names)
	targets := map[string]*resilience.Dependency{}
	for _, n := range names {
		d, err := srv.DependencyWithPolicy(n, ProbePolicy(*timeout))
		if err != nil {
			return fmt.Errorf("start monitoring: %w", err)
		}
		targets[n] = d
	}
	if len(targets) == 0 {
		srv.Log.Warn("no targets: pass --dep NAME=URL for each component to health-check")
	}
	mon, err := New(targets, Options{Interval: *interval, ProbeTimeout: *timeout}, srv.Registry,
		prometheus.Labels{"service": cfg.Name, "region": cfg.Region})
	if err != nil {
		return fmt.Errorf("start monitoring: %w", err)
	}
	mon.Register(srv.Mux)
	srv.AddReadiness("first_round", mon.ready)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { mon.Run(ctx) })
	err = serve(ctx, srv)
	stop()
	wg.Wait()
	return err
}

// ShutdownGrace is how long in-flight requests get after SIGTERM or ctx
// cancel. Every monitoring request (/status, /metrics, /healthz, /readyz)
// answers from memory in microseconds, so a short grace loses nothing.
const ShutdownGrace = 300 * time.Millisecond

// serve runs srv's handlers until ctx ends, then shuts down within
// ShutdownGrace. It does not use platform's Server.Run: http.Server.Shutdown
// waits up to 5 s for a connection that was opened but has not sent a request
// yet (Toxiproxy and TCP health checks open such connections), and Run
// allows ShutdownTimeout (10 s), past the 5 s a runtime waits after SIGTERM.
func serve(ctx context.Context, srv *platform.Server) error {
	cfg := srv.Config
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (--listen): %w", cfg.Listen, err)
	}
	lns := []net.Listener{ln}
	handlers := []http.Handler{srv.Handler()}
	if cfg.AdminListen != "" {
		aln, err := net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (--admin-listen; empty disables): %w", cfg.AdminListen, err)
		}
		lns = append(lns, aln)
		handlers = append(handlers, srv.AdminHandler())
	}
	servers := make([]*http.Server, len(lns))
	errc := make(chan error, len(lns))
	for i := range lns {
		servers[i] = &http.Server{Handler: handlers[i], ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
			MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(srv.Log.Handler(), slog.LevelWarn)}
		go func() { errc <- servers[i].Serve(lns[i]) }()
	}
	admin := ""
	if len(lns) > 1 {
		admin = lns[1].Addr().String()
	}
	srv.Log.Info("listening", "addr", ln.Addr().String(), "admin_addr", admin, "admin_enabled", cfg.AdminToken != "")
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serve: %w", err)
	}
	srv.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	for _, s := range servers {
		if s.Shutdown(sctx) != nil {
			s.Close() // grace over: drop what is left
		}
	}
	srv.Log.Info("stopped")
	return err
}
