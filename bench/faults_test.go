package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/topology"
)

const (
	benchEdge    = "gateway-us-east-1__catalog-us-east-1"
	benchCatalog = "catalog-us-east-1"
	benchLatency = 100 * time.Millisecond
)

// effectProbe tells, from outside the harness, whether a fault is in force.
// observe makes one attempt and returns whether it saw the fault and when
// the fault was at the latest in force (for latency: the response's end
// minus the latency it carried).
type effectProbe struct {
	spec    faults.Spec
	observe func() (faulted bool, at time.Time)
}

func probes(b *testing.B, env *harness.Env) map[string]effectProbe {
	ctx := context.Background()
	px, err := env.Proxy.Proxy(ctx, benchEdge)
	if err != nil {
		b.Fatal(err)
	}
	viaEdge := "http://" + px.Listen + "/healthz"
	cat, err := env.Endpoint(benchCatalog, topology.PortHTTP)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	get := func(url string) (int, time.Time, time.Duration) {
		start := time.Now()
		resp, err := hc.Get(url)
		if err != nil {
			return 0, time.Now(), time.Since(start)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Now(), time.Since(start)
	}
	return map[string]effectProbe{
		// Toxiproxy: the edge's proxy stops listening; a connect is refused.
		"down": {
			spec: faults.Spec{Kind: "down", Selector: faults.Selector{Edges: []string{benchEdge}}},
			observe: func() (bool, time.Time) {
				c, err := net.DialTimeout("tcp", px.Listen, time.Second)
				if err != nil {
					return true, time.Now()
				}
				c.Close()
				return false, time.Now()
			},
		},
		// Toxiproxy: a latency toxic; a request through the edge is slow.
		"latency": {
			spec: faults.Spec{Kind: "latency", Selector: faults.Selector{Edges: []string{benchEdge}},
				Params: &faults.Latency{Latency: faults.Duration(benchLatency), ToxicParams: faults.DefaultToxic()}},
			observe: func() (bool, time.Time) {
				_, end, d := get(viaEdge)
				if d >= benchLatency*9/10 {
					return true, end.Add(-benchLatency)
				}
				return false, end
			},
		},
		// App-level hook on the storefront's admin API: the catalog answers 503.
		"http_error": {
			spec: faults.Spec{Kind: "http_error", Selector: faults.Selector{Components: []string{benchCatalog}},
				Params: &faults.HTTPError{Rate: 1, Status: http.StatusServiceUnavailable}},
			observe: func() (bool, time.Time) {
				code, end, _ := get(cat + "/v1/products?limit=1")
				return code == http.StatusServiceUnavailable, end
			},
		},
	}
}

// BenchmarkFaultEffect times, on the local storefront, one fault per
// mechanism (Toxiproxy down, Toxiproxy latency toxic, the storefront's
// app-level hook) from the Apply call to its effect as a client sees it
// (apply-to-effect-ms), the Apply call itself (api-ms), and from the
// removal call until clients see the fault gone (remove-to-clear-ms). A
// probe loops back to back from before the call, so the figures include at
// most one probe's duration of slack.
func BenchmarkFaultEffect(b *testing.B) {
	env := sharedEnv(b)
	ps := probes(b, env)
	for _, kind := range []string{"down", "latency", "http_error"} {
		p := ps[kind]
		b.Run("kind="+kind, func(b *testing.B) {
			ctx := context.Background()
			var effect, api, clear time.Duration
			for b.Loop() {
				if faulted, _ := p.observe(); faulted {
					b.Fatalf("%s in force before it was applied", kind)
				}
				t0 := time.Now()
				at := waitFor(b, p.observe, true, func() {
					if _, err := env.Apply(ctx, p.spec); err != nil {
						b.Fatal(err)
					}
					api += time.Since(t0)
				})
				effect += max(at.Sub(t0), 0)
				t1 := time.Now()
				at = waitFor(b, p.observe, false, func() {
					if _, err := env.Faults.RemoveAll(ctx); err != nil {
						b.Fatal(err)
					}
				})
				clear += max(at.Sub(t1), 0)
			}
			n := float64(b.N)
			b.ReportMetric(ms(effect)/n, "apply-to-effect-ms")
			b.ReportMetric(ms(api)/n, "api-ms")
			b.ReportMetric(ms(clear)/n, "remove-to-clear-ms")
		})
	}
}

// waitFor runs call while probing in a loop until the probe says want, and
// returns when the probe saw it. It fails after 10 s.
func waitFor(b *testing.B, observe func() (bool, time.Time), want bool, call func()) time.Time {
	type seen struct{ at time.Time }
	done := make(chan seen, 1)
	stop := make(chan struct{})
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			default:
			}
			if got, at := observe(); got == want {
				done <- seen{at}
				return
			}
		}
		close(done)
	}()
	call()
	s, ok := <-done
	close(stop)
	if !ok {
		b.Fatalf("probe never saw the fault %s", map[bool]string{true: "in force", false: "gone"}[want])
	}
	return s.at
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// storefrontServices selects the storefront services that get the HTTP 503
// hook: all but monitoring and recommendations (paused: a stopped process
// cannot answer its admin API). The datastores carry app=storefront too, so
// no label selects the services alone.
var storefrontServices = []string{"gateway-*", "catalog-*", "cart-*", "identity", "checkout", "orders", "payment"}

// BenchmarkHaltStorefront applies a storefront-wide phase to the running
// local storefront — a 50 ms latency toxic on every edge, a 30 % HTTP 503
// hook on every other storefront service, every recommendations process paused —
// and times halting it: RemoveAll, every toxic removed, hook cleared and
// process resumed, confirmed (halt-ms). It also reports that phase's apply
// time and skew across all its targets (ARCHITECTURE.md: ≤ 20 ms), on a real
// topology rather than BenchmarkApplySkewRegion's idle proxies.
func BenchmarkHaltStorefront(b *testing.B) {
	env := sharedEnv(b)
	ctx := context.Background()
	phase := []faults.Spec{
		{ID: "lat", Kind: "latency", Selector: faults.Selector{From: "*"},
			Params: &faults.Latency{Latency: faults.Duration(50 * time.Millisecond), ToxicParams: faults.DefaultToxic()}},
		{ID: "err", Kind: "http_error", Selector: faults.Selector{Components: storefrontServices},
			Params: &faults.HTTPError{Rate: 0.3, Status: http.StatusServiceUnavailable}},
		{ID: "pause", Kind: "pause", Selector: faults.Selector{Components: []string{"recommendations-*"}}},
	}
	var apply, skew, halt time.Duration
	var targets int
	for b.Loop() {
		t0 := time.Now()
		aps, err := env.Apply(ctx, phase...)
		if err != nil {
			_, _ = env.Faults.RemoveAll(ctx)
			b.Fatal(err)
		}
		apply += time.Since(t0)
		skew += faults.Skew(aps)
		targets = 0
		for _, ap := range aps {
			targets += len(ap.Targets)
		}
		t1 := time.Now()
		if _, err := env.Faults.RemoveAll(ctx); err != nil {
			b.Fatal(err)
		}
		halt += time.Since(t1)
		if len(env.Faults.Active()) != 0 {
			b.Fatal("faults still active after RemoveAll")
		}
	}
	n := float64(b.N)
	b.ReportMetric(ms(halt)/n, "halt-ms")
	b.ReportMetric(ms(apply)/n, "apply-ms")
	b.ReportMetric(ms(skew)/n, "skew-ms")
	b.ReportMetric(float64(targets), "targets")
}
