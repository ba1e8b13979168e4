//go:build e2e

package docker_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/docker"
	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
)

// storefrontImages resolves every image, building the storefront from
// ./cmd/storefront.
func storefrontImages(t testing.TB) *images.Set {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	set, err := images.Ensure(ctx, images.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &set
}

func TestStorefrontUp(t *testing.T) {
	needDocker(t)
	set := storefrontImages(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	topo, err := topology.Storefront(topology.StorefrontOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("e2e-sf-%d", time.Now().UnixNano())
	start := time.Now()
	depI, err := (&docker.Runtime{Images: set, PublishProxies: true}).Start(ctx, topo, harness.StartOptions{RunID: runID, AdminToken: "tok", LogDir: t.TempDir()})
	if depI != nil {
		t.Cleanup(func() {
			if err := depI.Teardown(context.Background()); err != nil {
				t.Errorf("teardown: %v", err)
			}
			assertNoLeftovers(t, runID)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("storefront healthy in docker after %s", time.Since(start).Round(time.Millisecond))
	dep := depI.(*docker.Deployment)

	for _, r := range []string{topology.RegionUSEast1, topology.RegionEUWest1} {
		u, err := dep.Endpoint("gateway-"+r, topology.PortHTTP)
		if err != nil {
			t.Fatal(err)
		}
		mustGet(t, u+"/readyz", 200)
		mustGet(t, u+"/api/products?limit=5", 200)
	}

	// Latency toxic on one edge, timed through that edge's proxy from the host.
	const edge = "gateway-us-east-1__catalog-us-east-1"
	addr, err := dep.ProxyHostAddr(edge)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr + "/healthz"
	base := medianGet(t, url, 9)
	tox := proxy.NewClient(dep.ToxiproxyURL())
	const lat = 200 * time.Millisecond
	if err := tox.AddToxic(ctx, edge, proxy.Toxic{Name: "lat", Type: "latency", Stream: proxy.Downstream, Toxicity: 1, Attributes: proxy.Attributes{"latency": lat.Milliseconds()}}); err != nil {
		t.Fatal(err)
	}
	slow := medianGet(t, url, 5)
	t.Logf("edge %s: median %s, with a %s latency toxic %s", edge, base, lat, slow)
	if added := slow - base; added < lat-10*time.Millisecond || added > lat+150*time.Millisecond {
		t.Errorf("latency toxic of %s added %s", lat, added)
	}
	if err := tox.RemoveToxic(ctx, edge, "lat"); err != nil {
		t.Fatal(err)
	}

	// Proxy down: the gateway's calls to catalog are refused (its own metric).
	gw, _ := dep.Endpoint("gateway-us-east-1", topology.PortHTTP)
	before := metric(t, gw, "storefront_dependency_requests_total", `dependency="catalog"`, `outcome="refused"`)
	if err := tox.SetEnabled(ctx, edge, false); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if resp, err := http.Get(gw + "/api/products?limit=5"); err == nil {
			resp.Body.Close()
		}
	}
	after := metric(t, gw, "storefront_dependency_requests_total", `dependency="catalog"`, `outcome="refused"`)
	if after <= before {
		t.Errorf("proxy down: refused attempts %v → %v; want an increase", before, after)
	}
	tox.SetEnabled(ctx, edge, true)

	// Pause/unpause catalog.
	cat, _ := dep.Endpoint("catalog-us-east-1", topology.PortHTTP)
	if err := dep.ComponentAction(ctx, "catalog-us-east-1", topology.ActionPause); err != nil {
		t.Fatal(err)
	}
	if resp, err := (&http.Client{Timeout: 500 * time.Millisecond}).Get(cat + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("paused catalog answered")
	}
	if err := dep.ComponentAction(ctx, "catalog-us-east-1", topology.ActionUnpause); err != nil {
		t.Fatal(err)
	}
	mustGet(t, cat+"/healthz", 200)
}

func mustGet(t *testing.T, url string, want int) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d", url, resp.Status, want)
	}
}

// metric sums the samples of name whose labels contain every matcher.
func metric(t *testing.T, base, name string, matchers ...string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for _, m := range matchers {
			ok = ok && strings.Contains(line, m)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// BenchmarkStorefrontUp: the whole storefront healthy in Docker with every
// image present (built before the timer starts), torn down after each.
func BenchmarkStorefrontUp(b *testing.B) {
	needDocker(b)
	set := storefrontImages(b)
	topo, err := topology.Storefront(topology.StorefrontOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		dep, err := (&docker.Runtime{Images: set}).Start(ctx, topo, harness.StartOptions{RunID: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)})
		b.StopTimer()
		if dep != nil {
			dep.Teardown(context.Background())
		}
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkUserTopologyUp: two user components and one Toxiproxy, healthy.
func BenchmarkUserTopologyUp(b *testing.B) {
	needDocker(b)
	set := toxiproxyImages(b)
	b.ResetTimer()
	for i := range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		dep, err := (&docker.Runtime{Images: set}).Start(ctx, echoTopology(set.Toxiproxy.Ref), harness.StartOptions{RunID: fmt.Sprintf("bench-u-%d-%d", time.Now().UnixNano(), i)})
		b.StopTimer()
		if dep != nil {
			dep.Teardown(context.Background())
		}
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
