package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Server is a Toxiproxy server embedded in this process (local runtime),
// serving the same HTTP API as the toxiproxy-server binary, with per-proxy
// metrics on /metrics.
//
// Toxiproxy can wedge: a toxic whose output is not drained (a latency toxic
// in front of a client that stops reading, a toxic added or removed under
// traffic) never answers its interrupt, the API call changing the chain
// then holds the proxy's toxic lock for good, its accept loop blocks on that
// lock at the next connection, and stopping the proxy (delete, Clear) waits
// for that loop forever. Close therefore waits at most StopTimeout for the
// proxies to stop, then closes their sockets itself.
type Server struct {
	api  *toxiproxy.ApiServer
	ln   net.Listener
	http *http.Server
	done chan struct{}

	// StopTimeout bounds Close's wait for Toxiproxy to stop its proxies
	// (default DefaultStopTimeout).
	StopTimeout time.Duration

	// proxyMu serialises requests that change proxies (create, populate,
	// update, delete, reset) against requests that list or show them:
	// Toxiproxy reads a proxy's fields for JSON without the lock its
	// updates hold (a data race the race detector reports). Toxic requests
	// do not take it.
	proxyMu sync.RWMutex

	mu      sync.Mutex
	listens map[string]bool // every address a proxy of this server listened on
	closed  bool
	closeE  error
}

// DefaultStopTimeout is Server.StopTimeout's default.
const DefaultStopTimeout = 5 * time.Second

// StartServer serves the Toxiproxy API on addr (use "127.0.0.1:0" for a
// free port). The listener is bound before StartServer returns, so the API
// answers as soon as it does.
func StartServer(addr string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy server: listen %s: %w", addr, err)
	}
	m := toxiproxy.NewMetricsContainer(prometheus.NewRegistry())
	m.ProxyMetrics = collectors.NewProxyMetricCollectors()
	api := toxiproxy.NewServer(m, zerolog.Nop())
	s := &Server{
		api:         api,
		ln:          ln,
		done:        make(chan struct{}),
		StopTimeout: DefaultStopTimeout,
		listens:     map[string]bool{},
	}
	s.http = &http.Server{Handler: s.track(api.Routes()), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// URL is the API base, http://127.0.0.1:N.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Addr is the API's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// track records the listen address of every proxy the API creates or
// updates, read from the API's own answers (no Toxiproxy lock is taken, so
// a wedged proxy cannot hide its address from Close), and orders proxy
// changes against proxy reads (see proxyMu).
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxyLevel := r.URL.Path == "/populate" || r.URL.Path == "/reset" ||
			strings.HasPrefix(r.URL.Path, "/proxies") && !strings.Contains(r.URL.Path, "/toxics")
		switch {
		case !proxyLevel:
			h.ServeHTTP(w, r)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			s.proxyMu.RLock()
			defer s.proxyMu.RUnlock()
			h.ServeHTTP(w, r)
		default:
			s.proxyMu.Lock()
			defer s.proxyMu.Unlock()
			rec := &recorder{ResponseWriter: w}
			h.ServeHTTP(rec, r)
			s.note(rec.body.Bytes())
		}
	})
}

// note parses a proxy or populate answer and records the listen addresses.
func (s *Server) note(body []byte) {
	type px struct {
		Listen string `json:"listen"`
	}
	var one px
	var many struct {
		Proxies []px `json:"proxies"`
	}
	_ = json.Unmarshal(body, &one)
	_ = json.Unmarshal(body, &many)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range append(many.Proxies, one) {
		if p.Listen != "" {
			s.listens[p.Listen] = true
		}
	}
}

// recorder keeps a copy of a (small) API answer.
type recorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.body.Len() < 1<<20 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

// Close removes every proxy (closing their listeners and connections) and
// stops the API, in bounded time: when Toxiproxy does not stop its proxies
// within StopTimeout (a wedged toxic, see Server), every socket of this
// process bound to a proxy address is shut down instead and the error says
// so; the wedged goroutines are left behind. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeE
	}
	s.closed = true
	s.mu.Unlock()

	var errs []error
	bound := s.StopTimeout
	if bound <= 0 {
		bound = DefaultStopTimeout
	}
	cleared := make(chan error, 1)
	go func() { cleared <- s.api.Collection.Clear() }()
	select {
	case err := <-cleared:
		if err != nil {
			errs = append(errs, fmt.Errorf("clear proxies: %w", err))
		}
	case <-time.After(bound):
		n, err := s.shutdownProxySockets()
		msg := fmt.Sprintf("proxies did not stop within %s (a toxic is wedged: Toxiproxy's known hang on toxic changes under traffic); %d proxy sockets shut down by force, Toxiproxy goroutines left behind", bound, n)
		if err != nil {
			msg += ": " + err.Error()
		}
		errs = append(errs, errors.New(msg))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = s.http.Close() // a wedged handler never returns: drop its connection
	}
	<-s.done // Serve returns once the listener is closed, whatever handlers do
	err := errors.Join(errs...)
	s.mu.Lock()
	s.closeE = err
	s.mu.Unlock()
	return err
}

// shutdownProxySockets shuts down (both directions) every TCP socket of this
// process whose local address is one a proxy listened on: the listener and
// the client side of every proxied connection. Reads and writes on them
// fail at once, so goroutines blocked on those connections return.
func (s *Server) shutdownProxySockets() (int, error) {
	s.mu.Lock()
	want := make(map[string]bool, len(s.listens))
	for a := range s.listens {
		want[a] = true
	}
	s.mu.Unlock()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("list sockets: %w", err)
	}
	n := 0
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || !strings.HasPrefix(link, "socket:") {
			continue
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			continue
		}
		var addr string
		switch a := sa.(type) {
		case *syscall.SockaddrInet4:
			addr = net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
		case *syscall.SockaddrInet6:
			addr = net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
		default:
			continue
		}
		if !want[addr] {
			continue
		}
		if syscall.Shutdown(fd, syscall.SHUT_RDWR) == nil {
			n++
		}
	}
	return n, nil
}
