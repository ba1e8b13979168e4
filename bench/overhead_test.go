package bench

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
)

// BenchmarkRequestPath compares one request (GET /healthz on the running
// catalog-us-east-1) three ways, interleaved so machine noise hits all three
// alike: direct to the service; through a Toxiproxy of its own with one
// proxy and no toxics (Toxiproxy alone, the anchor: ~0.2 ms on loopback);
// through the harness's topology, i.e. the local runtime's proxy for the
// gateway-us-east-1 → catalog-us-east-1 edge. Keep-alive connections.
// It reports each path's median (direct-us, toxiproxy-us, harness-us) and
// the medians of the per-iteration differences to direct
// (toxiproxy-overhead-us, harness-overhead-us); the budget is
// harness-overhead ≤ toxiproxy-overhead.
func BenchmarkRequestPath(b *testing.B) {
	env := sharedEnv(b)
	ctx := context.Background()
	catAddr, err := env.Addr(benchCatalog, topology.PortHTTP)
	if err != nil {
		b.Fatal(err)
	}
	edge, err := env.Proxy.Proxy(ctx, benchEdge)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := proxy.StartServer("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	pc := proxy.NewClient(srv.URL())
	defer pc.Close()
	alone, err := pc.CreateProxy(ctx, proxy.Spec{Name: "alone", Listen: "127.0.0.1:0", Upstream: catAddr, Enabled: true})
	if err != nil {
		b.Fatal(err)
	}
	paths := []struct{ name, url string }{
		{"direct", "http://" + catAddr + "/healthz"},
		{"toxiproxy", "http://" + alone.Listen + "/healthz"},
		{"harness", "http://" + edge.Listen + "/healthz"},
	}
	clients := make([]*http.Client, len(paths))
	for i := range paths {
		clients[i] = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	}
	get := func(i int) time.Duration {
		start := time.Now()
		resp, err := clients[i].Get(paths[i].url)
		if err != nil {
			b.Fatalf("%s: %v", paths[i].name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: status %d", paths[i].name, resp.StatusCode)
		}
		return time.Since(start)
	}
	for i := range paths { // warm the connections
		get(i)
	}
	var d, tox, har, toxOver, harOver []float64
	b.ResetTimer()
	for b.Loop() {
		td, tt, th := get(0), get(1), get(2)
		d, tox, har = append(d, us(td)), append(tox, us(tt)), append(har, us(th))
		toxOver, harOver = append(toxOver, us(tt-td)), append(harOver, us(th-td))
	}
	b.ReportMetric(median(d), "direct-us")
	b.ReportMetric(median(tox), "toxiproxy-us")
	b.ReportMetric(median(har), "harness-us")
	b.ReportMetric(median(toxOver), "toxiproxy-overhead-us")
	b.ReportMetric(median(harOver), "harness-overhead-us")
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
