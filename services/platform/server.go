// Package platform is the skeleton every storefront service runs on: the
// common flags and env (CONTRACT.md), a JSON slog logger, a Prometheus
// registry with the inbound and dependency metrics, /healthz, /readyz,
// /metrics, the token-protected admin listener with the app-level fault
// hooks, strict JSON helpers, panic recovery and graceful shutdown.
//
//	          main listener (--listen)                      admin listener (--admin-listen)
//	request ─▶ metrics ─▶ recover ─▶ faults ─▶ body limit ─▶ Mux      Bearer token ─▶ /admin/faults
//	                                   ▲                                                  │
//	                                   └──────────── error rate, delay ◀──────────────────┤
//	   Dependency(name) ─▶ resilience.Dependency ◀──────── empty discovery ◀──────────────┘
//
// A service does:
//
//	fs := platform.NewFlagSet("catalog")
//	seed := fs.Bool("seed", true, "seed products")
//	cfg, err := fs.Parse(args, nil)
//	srv, err := platform.New(cfg)
//	db, err := srv.Dependency("postgres")
//	srv.Mux.HandleFunc("GET /products", h)
//	srv.AddReadiness("postgres", check)
//	return srv.Run(ctx)
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/outagelab/outagelab/services/resilience"
)

// ShutdownTimeout bounds graceful shutdown.
const ShutdownTimeout = 10 * time.Second

// ReadinessTimeout bounds each readiness check.
const ReadinessTimeout = time.Second

// Server is one storefront service process.
type Server struct {
	Config   *Config
	Log      *slog.Logger
	Registry *prometheus.Registry
	// Mux receives the service's routes (Go 1.22 patterns, e.g. "GET /products/{id}").
	// The pattern that matched is the route label of the inbound metrics.
	Mux *http.ServeMux
	// Faults are the app-level fault hooks set through the admin API.
	Faults *Faults
	// DepMetrics records every Dependency's metrics.
	DepMetrics *resilience.Metrics

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu     sync.Mutex
	deps   map[string]*resilience.Dependency
	checks map[string]func(context.Context) error

	ln, adminLn net.Listener
}

// New builds the server of cfg: logger, registry, metrics and base routes.
func New(cfg *Config) (*Server, error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).
		With("service", cfg.Service, "name", cfg.Name, "region", cfg.Region)
	return NewWithLogger(cfg, log)
}

// NewWithLogger is New with a given logger (tests).
func NewWithLogger(cfg *Config, log *slog.Logger) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("new server: nil config")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cl := prometheus.Labels{"service": cfg.Name, "region": cfg.Region}
	s := &Server{
		Config:   cfg,
		Log:      log,
		Registry: reg,
		Mux:      http.NewServeMux(),
		Faults:   &Faults{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storefront_http_requests_total", ConstLabels: cl,
			Help: "Inbound HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "storefront_http_request_duration_seconds", ConstLabels: cl, Buckets: resilience.DurationBuckets,
			Help: "Inbound HTTP request duration by route pattern.",
		}, []string{"route"}),
		deps:   map[string]*resilience.Dependency{},
		checks: map[string]func(context.Context) error{},
	}
	if err := reg.Register(s.requests); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := reg.Register(s.duration); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	m, err := resilience.NewMetrics(reg, cfg.Name, cfg.Region)
	if err != nil {
		return nil, err
	}
	s.DepMetrics = m
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.Mux.HandleFunc("GET /readyz", s.readyz)
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s, nil
}

// Dependency returns the resilience.Dependency of name, configured from
// --dep, --policy and --policy-override, with the empty-discovery hook
// wired. The same *Dependency is returned for the same name.
func (s *Server) Dependency(name string) (*resilience.Dependency, error) {
	p, err := s.Config.PolicyFor(name)
	if err != nil {
		return nil, fmt.Errorf("dependency %s: %w", name, err)
	}
	return s.DependencyWithPolicy(name, p)
}

// DependencyWithPolicy is Dependency with an explicit policy (the first call
// for a name decides its policy), e.g. monitoring's single short probe.
func (s *Server) DependencyWithPolicy(name string, p resilience.Policy) (*resilience.Dependency, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.deps[name]; ok {
		return d, nil
	}
	u, ok := s.Config.Deps[name]
	if !ok {
		return nil, fmt.Errorf("dependency %s not configured: pass --dep %s=URL (or SF_DEPS=\"%s=URL\")", name, name, name)
	}
	d, err := resilience.New(name, p, resilience.Options{
		URL:            u,
		Metrics:        s.DepMetrics,
		EmptyDiscovery: func() bool { return s.Faults.EmptyDiscovery(name) },
		Logger:         s.Log,
	})
	if err != nil {
		return nil, err
	}
	s.deps[name] = d
	s.Log.Info("dependency configured", "dependency", name, "url", u, "policy", p.Name)
	return d, nil
}

// AddReadiness registers a readiness check: /readyz answers 503 while any
// check fails. Checks run concurrently with ReadinessTimeout each.
func (s *Server) AddReadiness(name string, check func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check
}

// HTTPReadiness returns a check that GETs the dependency's /healthz directly
// (not through its policy: readiness must not retry or trip breakers). The
// empty-discovery hook applies: a dependency that cannot be found is not ready.
func HTTPReadiness(d *resilience.Dependency) func(ctx context.Context) error {
	client := resilience.NewHTTPClient()
	return func(ctx context.Context) error {
		if err := d.DiscoveryErr(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL("/healthz"), nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz answered %d", resp.StatusCode)
		}
		return nil
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	checks := make(map[string]func(context.Context) error, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	type res struct {
		name string
		err  error
	}
	ch := make(chan res, len(checks))
	for name, c := range checks {
		go func() {
			ctx, cancel := context.WithTimeout(r.Context(), ReadinessTimeout)
			defer cancel()
			ch <- res{name, c(ctx)}
		}()
	}
	failing := []string{}
	errs := map[string]string{}
	for range checks {
		x := <-ch
		if x.err != nil {
			failing = append(failing, x.name)
			errs[x.name] = x.err.Error()
		}
	}
	if len(failing) > 0 {
		sort.Strings(failing)
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unready", "failing": failing, "errors": errs})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Handler returns the main listener's handler with every middleware.
func (s *Server) Handler() http.Handler {
	return s.metrics(s.recoverer(s.Faults.middleware(bodyLimit(s.Mux))))
}

// AdminHandler returns the admin listener's handler.
func (s *Server) AdminHandler() http.Handler { return s.recoverer(s.adminHandler()) }

func bodyLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			WriteErr(w, tooLargeErr())
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// metrics records the inbound counter and histogram. The route label is the
// ServeMux pattern that matched (bounded cardinality), "unmatched" otherwise.
func (s *Server) metrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			_, route := s.Mux.Handler(r)
			if route == "" {
				route = "unmatched"
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
			s.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// recoverer turns a handler panic into a logged 500 JSON error.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw.status == 0 {
				WriteError(sw, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// Listen binds both listeners; Addr and AdminAddr are valid afterwards.
// Run calls it when the caller did not.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (--listen): %w", s.Config.Listen, err)
	}
	if s.Config.AdminListen != "" {
		aln, err := net.Listen("tcp", s.Config.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (--admin-listen; empty disables): %w", s.Config.AdminListen, err)
		}
		s.adminLn = aln
	}
	s.ln = ln
	return nil
}

// Addr is the main listener's address ("127.0.0.1:PORT") after Listen.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// AdminAddr is the admin listener's address after Listen ("" when disabled).
func (s *Server) AdminAddr() string {
	if s.adminLn == nil {
		return ""
	}
	return s.adminLn.Addr().String()
}

// Run serves until ctx is cancelled or SIGTERM/SIGINT arrives, then shuts
// down gracefully (in-flight requests get ShutdownTimeout).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Connections that are open but have sent no request yet (health
	// checkers, proxies pre-dialling) would hold Shutdown for Go's 5 s grace
	// for new connections: they are tracked and closed as shutdown starts,
	// while requests in flight get ShutdownTimeout to finish.
	var fresh sync.Map // net.Conn -> struct{}
	newSrv := func(h http.Handler) *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
			MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
			ConnState: func(c net.Conn, st http.ConnState) {
				if st == http.StateNew {
					fresh.Store(c, struct{}{})
				} else {
					fresh.Delete(c)
				}
			}}
	}
	servers := []*http.Server{newSrv(s.Handler())}
	lns := []net.Listener{s.ln}
	if s.adminLn != nil {
		servers = append(servers, newSrv(s.AdminHandler()))
		lns = append(lns, s.adminLn)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(lns[i]) }()
	}
	s.Log.Info("listening", "addr", s.Addr(), "admin_addr", s.AdminAddr(), "admin_enabled", s.Config.AdminToken != "")
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serve: %w", err)
	}
	s.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		srv.SetKeepAlivesEnabled(false)
	}
	done := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { done <- srv.Shutdown(sctx) }()
	}
	// Until every server has shut down, drop connections that never sent a
	// request (including any accepted just before the listeners closed).
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for pending := len(servers); pending > 0; {
		select {
		case serr := <-done:
			pending--
			if serr != nil && err == nil {
				err = fmt.Errorf("shutdown: %w", serr)
			}
		case <-tick.C:
			fresh.Range(func(k, _ any) bool {
				k.(net.Conn).Close()
				return true
			})
		}
	}
	s.Log.Info("stopped")
	return err
}
