package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
)

// rig is a real embedded Toxiproxy with one proxy per edge of a small
// topology (client → echo-0..n-1), each echo a real HTTP server, and a real
// HTTP server speaking the storefront admin API contract for app-level hooks.
type rig struct {
	topo  *topology.Topology
	px    *proxy.Client
	urls  map[string]string // edge → http://proxy-address
	admin *adminServer
	env   *Env
	app   *Applier
}

func (r *rig) Topology() *topology.Topology { return r.topo }
func (r *rig) ComponentAction(ctx context.Context, c string, a topology.Action) error {
	return fmt.Errorf("%s %s: component actions are tested with the local runtime", a, c)
}
func (r *rig) AdminEndpoint(c string) (string, error) {
	if r.topo.Component(c).AdminPort == "" {
		return "", errors.New("no admin API")
	}
	return r.admin.URL, nil
}
func (r *rig) AdminToken() string { return "secret" }

func newRig(t testing.TB, n int) *rig {
	t.Helper()
	srv, err := proxy.StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	r := &rig{px: proxy.NewClient(srv.URL()), urls: map[string]string{}, admin: newAdminServer(t)}
	t.Cleanup(r.px.Close)
	r.topo = &topology.Topology{Name: "echo", Components: []*topology.Component{{Name: "client", Kind: topology.KindUser, Image: "x", Region: "r1",
		Ports: []topology.Port{{Name: "http", Container: 80}, {Name: "admin", Container: 90}}, AdminPort: "admin"}}}
	for i := range n {
		name := fmt.Sprintf("echo-%d", i)
		region := "r1"
		if i%2 == 1 {
			region = "r2"
		}
		r.topo.Components = append(r.topo.Components, &topology.Component{Name: name, Kind: topology.KindUser, Image: "x", Region: region,
			Ports: []topology.Port{{Name: "http", Container: 80}}})
		e := &topology.Edge{Name: topology.EdgeName("client", name), From: "client", To: name, Port: "http", DepName: name}
		r.topo.Edges = append(r.topo.Edges, e)
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { _, _ = io.WriteString(w, name) }))
		t.Cleanup(echo.Close)
		p, err := r.px.CreateProxy(context.Background(), proxy.Spec{Name: e.Name, Listen: "127.0.0.1:0", Upstream: strings.TrimPrefix(echo.URL, "http://"), Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		r.urls[e.Name] = "http://" + p.Listen
	}
	if err := r.topo.Validate(); err != nil {
		t.Fatal(err)
	}
	r.env = NewEnv(r, r.px)
	if err := r.env.RememberProxies(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.app = NewApplier(r.env, discard())
	t.Cleanup(func() {
		if _, err := r.app.RemoveAll(context.Background()); err != nil {
			t.Errorf("cleanup RemoveAll: %v", err)
		}
	})
	return r
}

// call makes one request on a fresh connection and returns its duration.
func (r *rig) call(edge string, timeout time.Duration) (time.Duration, error) {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := hc.Get(r.urls[edge])
	if err != nil {
		return time.Since(start), err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return time.Since(start), err
}

func (r *rig) median(t *testing.T, edge string, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	for range n {
		d, err := r.call(edge, 5*time.Second)
		if err != nil {
			t.Fatalf("call %s: %v", edge, err)
		}
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[n/2]
}

func spec(id, kind string, sel Selector, p Fault) Spec {
	return Spec{ID: id, Kind: kind, Selector: sel, Params: p}
}

func TestLatencyRaisesAndRemovalRestores(t *testing.T) {
	r := newRig(t, 2)
	edge := "client__echo-0"
	base := r.median(t, edge, 5)
	aps, err := r.app.Apply(context.Background(), spec("lat", "latency", Selector{Edges: []string{edge}},
		&Latency{Latency: Duration(100 * time.Millisecond), Jitter: Duration(10 * time.Millisecond), ToxicParams: DefaultToxic()}))
	if err != nil {
		t.Fatal(err)
	}
	got := r.median(t, edge, 5)
	// One downstream toxic delays the response once: 100±10 ms plus the base.
	if got < 90*time.Millisecond || got > 110*time.Millisecond+base+60*time.Millisecond {
		t.Errorf("median with 100±10ms latency = %v (base %v)", got, base)
	}
	other := r.median(t, "client__echo-1", 3)
	if other > 60*time.Millisecond {
		t.Errorf("untouched edge slowed down: %v", other)
	}
	if _, err := r.app.Remove(context.Background(), "lat"); err != nil {
		t.Fatal(err)
	}
	if after := r.median(t, edge, 5); after > 60*time.Millisecond {
		t.Errorf("after removal median = %v", after)
	}
	res := aps[0].Result()
	if res.AppliedAt == nil || res.RemovedAt == nil || !res.RemovedAt.After(*res.AppliedAt) || res.Params["latency"] != "100ms" {
		t.Errorf("result = %+v", res)
	}
}

func TestDownRefusesAndComposes(t *testing.T) {
	r := newRig(t, 1)
	edge := "client__echo-0"
	ctx := context.Background()
	if _, err := r.app.Apply(ctx, spec("d1", "down", Selector{To: "echo-0"}, nil), spec("d2", "partition", Selector{To: "echo-0"}, &Partition{Mode: PartitionRefuse})); err != nil {
		t.Fatal(err)
	}
	if _, err := r.call(edge, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("down: err = %v, want connection refused", err)
	}
	if _, err := r.app.Remove(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.call(edge, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("one of two down faults removed: err = %v, want still refused", err)
	}
	if _, err := r.app.Remove(ctx, "d2"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.call(edge, time.Second); err != nil {
		t.Fatalf("both removed: %v", err)
	}
}

func TestResetPeer(t *testing.T) {
	r := newRig(t, 1)
	if _, err := r.app.Apply(context.Background(), spec("rp", "reset_peer", Selector{To: "echo-0"}, &ResetPeer{ToxicParams: ToxicParams{Toxicity: 1, Stream: StreamUpstream}})); err != nil {
		t.Fatal(err)
	}
	_, err := r.call("client__echo-0", 2*time.Second)
	if !errors.Is(err, syscall.ECONNRESET) && !isEOF(err) {
		t.Fatalf("reset_peer: err = %v, want connection reset", err)
	}
	if _, err := r.app.RemoveAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.call("client__echo-0", 2*time.Second); err != nil {
		t.Fatalf("after removal: %v", err)
	}
}

func isEOF(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))
}

func TestTimeoutBlackHoleAndPartition(t *testing.T) {
	r := newRig(t, 4)
	ctx := context.Background()
	if _, err := r.app.Apply(ctx, spec("bh", "timeout", Selector{Edges: []string{"client__echo-0"}}, &Timeout{ToxicParams: ToxicParams{Toxicity: 1, Stream: StreamBoth}}),
		spec("cut", "partition", Selector{Crossing: []string{"r1", "r2"}}, nil)); err != nil {
		t.Fatal(err)
	}
	for _, edge := range []string{"client__echo-0", "client__echo-1", "client__echo-3"} {
		d, err := r.call(edge, 300*time.Millisecond)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: err = %v after %v, want a client timeout (black hole)", edge, err, d)
		}
	}
	if _, err := r.call("client__echo-2", time.Second); err != nil {
		t.Errorf("client__echo-2 (same region, not selected) failed: %v", err)
	}
	if _, err := r.app.RemoveAll(ctx); err != nil {
		t.Fatal(err)
	}
	for edge := range r.urls {
		if _, err := r.call(edge, time.Second); err != nil {
			t.Errorf("%s after removal: %v", edge, err)
		}
	}
}

func TestPlanReportsEveryError(t *testing.T) {
	r := newRig(t, 1)
	_, err := r.app.Apply(context.Background(),
		spec("a", "lag", Selector{To: "echo-0"}, nil),
		spec("b", "latency", Selector{To: "nobody"}, &Latency{ToxicParams: DefaultToxic()}),
		spec("c", "pause", Selector{To: "echo-0"}, nil),
	)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{`fault a: unknown kind "lag"`, "fault b (latency): latency: required", "fault b (latency): selector", "matches no edge", "fault c (pause): selector"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	if len(r.app.Active()) != 0 {
		t.Error("an invalid set left faults active")
	}
	px, _ := r.px.Proxy(context.Background(), "client__echo-0")
	if len(px.ActiveToxics) != 0 {
		t.Errorf("an invalid set touched Toxiproxy: %+v", px.ActiveToxics)
	}
}

// TestRemovalFallback forces the proxy-recreate fallback and checks that the
// removed fault is gone, the other fault on the same proxy is back, and the
// fallback is reported.
func TestRemovalFallback(t *testing.T) {
	r := newRig(t, 1)
	ctx := context.Background()
	edge := "client__echo-0"
	if _, err := r.app.Apply(ctx,
		spec("keep", "latency", Selector{Edges: []string{edge}}, &Latency{Latency: Duration(30 * time.Millisecond), ToxicParams: DefaultToxic()}),
		spec("drop", "timeout", Selector{Edges: []string{edge}}, &Timeout{ToxicParams: DefaultToxic()})); err != nil {
		t.Fatal(err)
	}
	r.env.RemoveTimeout = time.Nanosecond // every removal call "hangs"
	aps, err := r.app.Remove(ctx, "drop")
	r.env.RemoveTimeout = 3 * time.Second
	var fb *FallbackError
	if !errors.As(err, &fb) || fb.Err != nil {
		t.Fatalf("err = %v, want a FallbackError that succeeded", err)
	}
	if !slices.Equal(aps[0].Fallbacks, []string{edge}) || aps[0].RemovedAt.IsZero() {
		t.Errorf("applied = %+v", aps[0])
	}
	px, err := r.px.Proxy(ctx, edge)
	if err != nil {
		t.Fatal(err)
	}
	var toxics []string
	for _, tx := range px.ActiveToxics {
		toxics = append(toxics, tx.Name)
	}
	if !slices.Equal(toxics, []string{ToxicName("keep", StreamDownstream)}) {
		t.Errorf("toxics after fallback = %v, want only keep's", toxics)
	}
	if d := r.median(t, edge, 3); d < 30*time.Millisecond {
		t.Errorf("re-applied latency not in effect: %v", d)
	}
}

func TestConcurrentApplyRecordsTimes(t *testing.T) {
	r := newRig(t, 8)
	aps, err := r.app.Apply(context.Background(),
		spec("l", "latency", Selector{Edges: []string{"*"}}, &Latency{Latency: Duration(5 * time.Millisecond), ToxicParams: ToxicParams{Toxicity: 1, Stream: StreamBoth}}),
		spec("b", "bandwidth", Selector{Region: "r2"}, &Bandwidth{Rate: 1000, ToxicParams: DefaultToxic()}),
		spec("s", "slicer", Selector{Region: "r2"}, &Slicer{AverageSize: 100, SizeVariation: 10, Delay: Duration(10 * time.Microsecond), ToxicParams: DefaultToxic()}),
		spec("c", "slow_close", Selector{To: "echo-3"}, &SlowClose{Delay: Duration(10 * time.Millisecond), ToxicParams: DefaultToxic()}),
		spec("d", "limit_data", Selector{To: "echo-5"}, &LimitData{Bytes: 1 << 20, ToxicParams: DefaultToxic()}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(aps[0].TargetApplied) != 8 || len(aps[1].TargetApplied) != 4 {
		t.Fatalf("targets applied: %d %d", len(aps[0].TargetApplied), len(aps[1].TargetApplied))
	}
	for _, ap := range aps {
		if ap.AppliedAt.Before(ap.RequestedAt) {
			t.Errorf("%s applied %v before requested %v", ap.ID, ap.AppliedAt, ap.RequestedAt)
		}
	}
	ps, _ := r.px.Proxies(context.Background())
	if n := len(ps["client__echo-5"].ActiveToxics); n != 5 { // latency×2 streams, bandwidth, slicer, limit_data
		t.Errorf("echo-5 toxics = %d, want 5", n)
	}
	if _, err := r.app.RemoveAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	ps, _ = r.px.Proxies(context.Background())
	for name, p := range ps {
		if len(p.ActiveToxics) != 0 || !p.Enabled {
			t.Errorf("%s after RemoveAll: %+v", name, p)
		}
	}
}

// adminServer speaks the storefront admin API contract (PUT/GET/DELETE
// /admin/faults with a bearer token) and keeps the current hooks.
type adminServer struct {
	*httptest.Server
	mu    sync.Mutex
	state map[string]any
}

func newAdminServer(t testing.TB) *adminServer {
	a := &adminServer{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			http.Error(w, `{"error":"unauthorized","code":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.Method {
		case http.MethodPut:
			var m map[string]any
			if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			a.state = m
		case http.MethodDelete:
			a.state = nil
		}
		_ = json.NewEncoder(w).Encode(a.state)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *adminServer) get() map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

func TestAppHooks(t *testing.T) {
	r := newRig(t, 2)
	ctx := context.Background()
	if _, err := r.app.Apply(ctx,
		spec("err", "http_error", Selector{Components: []string{"client"}}, &HTTPError{Rate: 0.5, Status: 503}),
		spec("slow", "delay", Selector{Components: []string{"client"}}, &Delay{Delay: Duration(200 * time.Millisecond)}),
		spec("dns", "empty_discovery", Selector{From: "client"}, nil),
	); err != nil {
		t.Fatal(err)
	}
	st := r.admin.get()
	if st["error_rate"] != 0.5 || st["error_status"] != 503.0 || st["delay_ms"] != 200.0 {
		t.Errorf("admin state = %v", st)
	}
	if d, _ := st["empty_discovery"].([]any); len(d) != 2 {
		t.Errorf("empty_discovery = %v", st["empty_discovery"])
	}
	if _, err := r.app.Remove(ctx, "err", "dns"); err != nil {
		t.Fatal(err)
	}
	st = r.admin.get()
	if st["error_rate"] != nil || st["delay_ms"] != 200.0 || st["empty_discovery"] != nil {
		t.Errorf("after removing two: %v", st)
	}
	if _, err := r.app.RemoveAll(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.admin.get(); st != nil {
		t.Errorf("after RemoveAll: %v", st)
	}
	// A component without an admin API: a clear error, nothing left active.
	_, err := r.app.Apply(ctx, spec("x", "http_error", Selector{Components: []string{"echo-0"}}, &HTTPError{Rate: 1, Status: 500}))
	if err == nil || !strings.Contains(err.Error(), "no admin API") {
		t.Errorf("err = %v", err)
	}
	if _, err := r.app.RemoveAll(ctx); err != nil {
		t.Errorf("removing a fault that failed to apply: %v", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
