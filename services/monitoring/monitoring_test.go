package monitoring

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outagelab/outagelab/services/resilience"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func server(t *testing.T, h http.HandlerFunc) string {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func TestRoundClassifiesTargets(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	var empty atomic.Bool
	urls := map[string]string{
		"gateway": server(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				w.WriteHeader(404)
				return
			}
			if !healthy.Load() {
				w.WriteHeader(503)
			}
		}),
		"catalog": "http://" + freeAddr(t),
		"cart": server(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}),
		"identity": server(t, func(w http.ResponseWriter, r *http.Request) {}),
	}
	reg := prometheus.NewRegistry()
	dm, _ := resilience.NewMetrics(reg, "monitoring", "us-east-1")
	targets := map[string]*resilience.Dependency{}
	for n, u := range urls {
		o := resilience.Options{URL: u, Metrics: dm}
		if n == "identity" {
			o.EmptyDiscovery = empty.Load
		}
		d, err := resilience.New(n, ProbePolicy(100*time.Millisecond), o)
		if err != nil {
			t.Fatal(err)
		}
		targets[n] = d
	}
	m, err := New(targets, Options{Interval: 200 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.ready(context.Background()) == nil {
		t.Fatal("ready before the first round")
	}
	m.Round(context.Background())
	st := m.Status()
	want := map[string]struct {
		healthy bool
		outcome string
	}{
		"gateway": {true, "ok"}, "catalog": {false, "refused"}, "cart": {false, "timeout"}, "identity": {true, "ok"},
	}
	for n, w := range want {
		got := st.Targets[n]
		if got.Healthy != w.healthy || got.Outcome != w.outcome {
			t.Errorf("%s: %+v, want healthy=%v outcome=%s", n, got, w.healthy, w.outcome)
		}
	}
	if st.Targets["cart"].LatencyMS < 90 || st.Targets["cart"].LatencyMS > 1500 {
		t.Errorf("timeout probe took %.1f ms, want ≈100", st.Targets["cart"].LatencyMS)
	}
	if st.CheckedAt.IsZero() || m.ready(context.Background()) != nil {
		t.Fatal("round not published")
	}

	healthy.Store(false)
	empty.Store(true)
	m.Round(context.Background())
	m.Round(context.Background())
	st = m.Status()
	if g := st.Targets["gateway"]; g.Healthy || g.Outcome != "5xx" || g.ConsecutiveFailures != 2 || g.LastHealthyAt == nil ||
		!strings.Contains(g.Error, "503") {
		t.Errorf("gateway after 2 failures: %+v", g)
	}
	if id := st.Targets["identity"]; id.Healthy || id.Outcome != "dns" {
		t.Errorf("identity with empty discovery: %+v", id)
	}
	if c := st.Targets["catalog"]; c.LastHealthyAt != nil || c.ConsecutiveFailures != 3 {
		t.Errorf("catalog never healthy: %+v", c)
	}

	mfs, _ := reg.Gather()
	up := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "storefront_monitor_target_up" {
			for _, mt := range mf.GetMetric() {
				up[mt.GetLabel()[0].GetValue()] = mt.GetGauge().GetValue()
			}
		}
	}
	if len(up) != 4 || up["gateway"] != 0 || up["identity"] != 0 || up["catalog"] != 0 {
		t.Errorf("up gauges %v", up)
	}

	rec := httptest.NewRecorder()
	mux := http.NewServeMux()
	m.Register(mux)
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	var body Status
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Targets) != 4 || rec.Code != 200 {
		t.Fatalf("/status: %d %s", rec.Code, rec.Body)
	}
}

func TestOptionsValidated(t *testing.T) {
	if _, err := New(nil, Options{Interval: time.Second, ProbeTimeout: 2 * time.Second}, prometheus.NewRegistry(), nil); err == nil {
		t.Fatal("probe timeout over interval accepted")
	}
}

func TestMainServesStatus(t *testing.T) {
	target := server(t, func(w http.ResponseWriter, r *http.Request) {})
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--listen", addr, "--admin-listen", "", "--dep", "gateway=" + target,
			"--interval", "50ms", "--probe-timeout", "40ms", "--log-level", "error"})
	}()
	var st Status
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/status")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Targets["gateway"].Healthy {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !st.Targets["gateway"].Healthy {
		t.Fatalf("status never showed gateway healthy: %+v", st)
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestMainStopsPromptlyOnCancel: the teardown of a run sends SIGTERM and
// kills after 5 s. Connections that were opened but sent no request yet
// (Toxiproxy, TCP health checks) and a target that never answers must not
// hold shutdown up: net/http's Shutdown waits up to 5 s for such a
// connection, and a probe waits for its timeout.
func TestMainStopsPromptlyOnCancel(t *testing.T) {
	hang, err := net.Listen("tcp", "127.0.0.1:0") // accepts connections, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hang.Close() })
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--listen", addr, "--admin-listen", "", "--dep", "stuck=http://" + hang.Addr().String(),
			"--interval", "5s", "--probe-timeout", "5s", "--log-level", "error"})
	}()
	var conn net.Conn
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		}
	}
	if conn == nil {
		t.Fatalf("monitoring never listened on %s: %v", addr, err)
	}
	defer conn.Close() // open, no request sent
	time.Sleep(100 * time.Millisecond)
	cancel()
	// Generous bound, well under the 5 s net/http would wait for conn and
	// the 5 s the stuck probe would take: failing here means Main waited
	// on one of them.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Main did not return within 3 s of its context being cancelled")
	}
}
