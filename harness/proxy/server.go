package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Server is a Toxiproxy server embedded in this process (local runtime),
// serving the same HTTP API as the toxiproxy-server binary, with per-proxy
// metrics on /metrics.
type Server struct {
	api  *toxiproxy.ApiServer
	ln   net.Listener
	http *http.Server
	done chan struct{}
}

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
		api:  api,
		ln:   ln,
		http: &http.Server{Handler: api.Routes(), ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
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

// Close removes every proxy (closing their listeners and connections) and
// stops the API. Idempotent.
func (s *Server) Close() error {
	var errs []error
	if err := s.api.Collection.Clear(); err != nil {
		errs = append(errs, fmt.Errorf("clear proxies: %w", err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = s.http.Close()
	}
	<-s.done
	return errors.Join(errs...)
}
