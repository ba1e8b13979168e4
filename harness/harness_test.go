package harness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/local"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/procs"
)

// probeRuntime is a registered runtime whose probe fails or panics, to test
// the auto choice; it never starts anything.
type probeRuntime struct {
	name  string
	err   error
	panic bool
}

func (p probeRuntime) Name() string { return p.name }
func (p probeRuntime) Available(ctx context.Context) error {
	if p.panic {
		panic("probe exploded")
	}
	return p.err
}
func (p probeRuntime) Start(context.Context, *topology.Topology, harness.StartOptions) (harness.Deployment, error) {
	return nil, errors.New("not startable")
}

func TestChooseRuntime(t *testing.T) {
	if !strings.Contains(strings.Join(harness.Runtimes(), ","), "local") {
		t.Fatalf("local runtime not registered: %v", harness.Runtimes())
	}
	ctx := context.Background()
	var notice bytes.Buffer
	rt, err := harness.ChooseRuntime(ctx, "", time.Second, &notice)
	if err != nil {
		t.Fatal(err)
	}
	if _, dockerThere := harness.LookupRuntime("docker"); dockerThere != nil && rt.Name() != "local" {
		t.Errorf("auto without docker chose %s", rt.Name())
	}
	if _, err := harness.ChooseRuntime(ctx, "podman", time.Second, io.Discard); err == nil || !strings.Contains(err.Error(), "known:") {
		t.Errorf("unknown runtime: %v", err)
	}
}

// TestChooseRuntimeFallsBack registers failing "docker" runtimes (a probe
// error, a probe panic) and checks auto mode falls back to local with a
// one-line notice and never panics. It replaces "docker" only in this test
// binary, which does not import harness/docker.
func TestChooseRuntimeFallsBack(t *testing.T) {
	for _, p := range []probeRuntime{{name: "docker", err: errors.New("Cannot connect to the Docker daemon\nsecond line")}, {name: "docker", panic: true}} {
		harness.RegisterRuntime("docker", p)
		var notice bytes.Buffer
		rt, err := harness.ChooseRuntime(context.Background(), "", 100*time.Millisecond, &notice)
		if err != nil || rt.Name() != "local" {
			t.Fatalf("auto: %v %v", rt, err)
		}
		if n := strings.Count(notice.String(), "\n"); n != 1 || !strings.Contains(notice.String(), "local runtime") {
			t.Errorf("notice = %q", notice.String())
		}
		if _, err := harness.ChooseRuntime(context.Background(), "docker", 100*time.Millisecond, io.Discard); err == nil {
			t.Error("forced docker with a failing probe accepted")
		}
	}
}

func storefrontBin(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := local.FindStorefront(ctx); err != nil {
		t.Fatalf("the storefront binary must build (go build ./cmd/storefront): %v", err)
	}
}

func getJSON(t *testing.T, url string, out any) (time.Duration, int) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	d := time.Since(start)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, b)
		}
	}
	return d, resp.StatusCode
}

func median(t *testing.T, url string, n int) time.Duration {
	var ds []time.Duration
	for range n {
		d, code := getJSON(t, url, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d", url, code)
		}
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[n/2]
}

// TestLocalStorefront brings the whole storefront up as local processes,
// injects faults through the harness and tears it down.
func TestLocalStorefront(t *testing.T) {
	if testing.Short() {
		t.Skip("brings up the whole storefront")
	}
	procs.RequireBinaries(t)
	storefrontBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	logDir := t.TempDir()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ents, _ := os.ReadDir(logDir)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(logDir, e.Name()))
			if len(b) > 2000 {
				b = b[len(b)-2000:]
			}
			t.Logf("--- %s (tail)\n%s", e.Name(), b)
		}
	})
	start := time.Now()
	env, err := harness.Up(ctx, harness.Options{Runtime: "local", LogDir: logDir,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("storefront up (local) in %v", time.Since(start).Round(time.Millisecond))
	var closed bool
	defer func() {
		if !closed {
			_ = env.Close(context.Background())
		}
	}()
	topo := env.Topology()

	// Every edge has its proxy; every component answers.
	ps, err := env.Proxy.Proxies(ctx)
	if err != nil || len(ps) != len(topo.Edges) {
		t.Fatalf("proxies: %d for %d edges (%v)", len(ps), len(topo.Edges), err)
	}
	var addrs []string
	for _, c := range topo.Components {
		for _, p := range c.Ports {
			a, err := env.Addr(c.Name, p.Name)
			if err != nil {
				t.Fatal(err)
			}
			addrs = append(addrs, a)
		}
	}
	gw, _ := env.Endpoint("gateway-us-east-1", topology.PortHTTP)
	products := gw + "/api/products?limit=5"
	var body struct {
		Products []struct {
			ID string `json:"id"`
		} `json:"products"`
	}
	if _, code := getJSON(t, products, &body); code != 200 || len(body.Products) == 0 {
		t.Fatalf("browse: %d %+v", code, body)
	}
	if _, code := getJSON(t, mustEndpoint(t, env, "gateway-eu-west-1")+"/api/products?limit=5", nil); code != 200 {
		t.Fatalf("browse eu-west-1: %d", code)
	}

	// A latency toxic on gateway→catalog raises browse latency by about that much.
	base := median(t, products, 5)
	if _, err := env.Apply(ctx, faults.Spec{ID: "lat", Kind: "latency",
		Selector: faults.Selector{Edges: []string{"gateway-us-east-1__catalog-us-east-1"}},
		Params:   &faults.Latency{Latency: faults.Duration(200 * time.Millisecond), ToxicParams: faults.DefaultToxic()}}); err != nil {
		t.Fatal(err)
	}
	slow := median(t, products, 5)
	if slow-base < 180*time.Millisecond || slow-base > 800*time.Millisecond {
		t.Errorf("latency 200ms on gateway→catalog: browse median %v → %v (+%v), want +180..800ms", base, slow, slow-base)
	}
	if _, err := env.Faults.Remove(ctx, "lat"); err != nil {
		t.Fatal(err)
	}

	// App-level hook: catalog answers 503; the gateway's browse fails or degrades.
	if _, err := env.Apply(ctx, faults.Spec{ID: "err", Kind: "http_error",
		Selector: faults.Selector{Components: []string{"catalog-us-east-1"}}, Params: &faults.HTTPError{Rate: 1, Status: 503}}); err != nil {
		t.Fatal(err)
	}
	cat, _ := env.Endpoint("catalog-us-east-1", topology.PortHTTP)
	if _, code := getJSON(t, cat+"/v1/products?limit=1", nil); code != 503 {
		t.Errorf("catalog with http_error rate 1: status %d, want 503", code)
	}
	if _, err := env.Faults.RemoveAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, code := getJSON(t, cat+"/v1/products?limit=1", nil); code != 200 {
		t.Errorf("catalog after removal: %d", code)
	}

	// Process faults: pause hangs, unpause answers; kill refuses, start answers.
	if _, err := env.Apply(ctx, faults.Spec{ID: "p", Kind: "pause", Selector: faults.Selector{Components: []string{"recommendations-us-east-1"}}}); err != nil {
		t.Fatal(err)
	}
	rec, _ := env.Addr("recommendations-us-east-1", topology.PortHTTP)
	hc := &http.Client{Timeout: 300 * time.Millisecond}
	if _, err := hc.Get("http://" + rec + "/healthz"); err == nil {
		t.Error("paused recommendations answered")
	}
	if _, err := env.Faults.Remove(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if _, code := getJSON(t, "http://"+rec+"/healthz", nil); code != 200 {
		t.Errorf("unpaused recommendations: %d", code)
	}
	if _, err := env.Apply(ctx, faults.Spec{ID: "k", Kind: "kill", Selector: faults.Selector{Components: []string{"recommendations-us-east-1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Get("http://" + rec + "/healthz"); err == nil {
		t.Error("killed recommendations answered")
	}
	if _, err := env.Faults.Remove(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, code := getJSON(t, "http://"+rec+"/healthz", nil); code != 200 {
		t.Errorf("restarted recommendations: %d", code)
	}

	// Teardown: nothing listens any more.
	toxi := strings.TrimPrefix(env.ToxiproxyURL(), "http://")
	if err := env.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	for _, a := range append(addrs, toxi) {
		if c, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still listening after Close", a)
		}
	}
}

func mustEndpoint(t *testing.T, env *harness.Env, c string) string {
	t.Helper()
	u, err := env.Endpoint(c, topology.PortHTTP)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// BenchmarkLocalStorefrontUp measures time to healthy for the whole
// storefront as local processes (ARCHITECTURE.md budget: 2 s), teardown excluded.
// Run with -benchtime=Nx; the first iteration may build the storefront
// binary and the postgres template.
func BenchmarkLocalStorefrontUp(b *testing.B) {
	if _, err := local.FindStorefront(context.Background()); err != nil {
		b.Skipf("storefront binary: %v", err)
	}
	var up time.Duration
	for b.Loop() {
		start := time.Now()
		env, err := harness.Up(context.Background(), harness.Options{Runtime: "local"})
		if err != nil {
			b.Fatal(err)
		}
		up += time.Since(start)
		b.StopTimer()
		if err := env.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(up.Seconds()/float64(b.N), "s-to-healthy")
}

func TestUpBadInput(t *testing.T) {
	ctx := context.Background()
	_, err := harness.Up(ctx, harness.Options{Runtime: "local", Topology: &topology.Topology{Name: "empty"}})
	if err == nil || !strings.Contains(err.Error(), "at least one component") {
		t.Errorf("empty topology: %v", err)
	}
	_, err = harness.Up(ctx, harness.Options{Runtime: "vmware"})
	if err == nil || !strings.Contains(err.Error(), `runtime "vmware" is not available`) {
		t.Errorf("unknown runtime: %v", err)
	}
	_, err = harness.Up(ctx, harness.Options{Runtime: "local", Policy: "brittle"})
	if err == nil || !strings.Contains(err.Error(), "brittle") {
		t.Errorf("bad policy: %v", err)
	}
	if id1, id2 := harness.NewRunID(), harness.NewRunID(); id1 == id2 || len(id1) < 20 {
		t.Errorf("run ids %q %q", id1, id2)
	}
}
