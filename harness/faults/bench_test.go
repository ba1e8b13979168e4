package faults

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
)

// topoSystem is a System over a topology whose components are not running:
// enough for edge faults, which only touch Toxiproxy.
type topoSystem struct{ topo *topology.Topology }

func (s topoSystem) Topology() *topology.Topology { return s.topo }
func (s topoSystem) ComponentAction(context.Context, string, topology.Action) error {
	return errors.New("no components running")
}
func (s topoSystem) AdminEndpoint(string) (string, error) { return "", errors.New("no admin API") }
func (s topoSystem) AdminToken() string                   { return "" }

// BenchmarkApplySkewRegion applies a latency fault to every edge touching
// us-east-1 of the storefront (one proxy per edge in an embedded Toxiproxy)
// and reports the skew between the first and last edge taking effect
// (ARCHITECTURE.md budget: 20 ms) and the time from the call to the last effect.
func BenchmarkApplySkewRegion(b *testing.B) {
	topo, err := topology.Storefront(topology.StorefrontOptions{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := proxy.StartServer("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	px := proxy.NewClient(srv.URL())
	defer px.Close()
	var specs []proxy.Spec
	for _, e := range topo.Edges {
		specs = append(specs, proxy.Spec{Name: e.Name, Listen: "127.0.0.1:0", Upstream: "127.0.0.1:9", Enabled: true})
	}
	if err := px.Populate(context.Background(), specs); err != nil {
		b.Fatal(err)
	}
	app := NewApplier(NewEnv(topoSystem{topo}, px), discard())
	sel := Selector{Region: topology.RegionUSEast1}
	targets, _ := sel.Resolve(topo, ScopeEdge)
	var skew, total time.Duration
	for b.Loop() {
		aps, err := app.Apply(context.Background(), Spec{Kind: "latency", Selector: sel,
			Params: &Latency{Latency: Duration(100 * time.Millisecond), ToxicParams: DefaultToxic()}})
		if err != nil {
			b.Fatal(err)
		}
		skew += Skew(aps)
		total += aps[0].AppliedAt.Sub(aps[0].RequestedAt)
		if _, err := app.RemoveAll(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(targets)), "edges")
	b.ReportMetric(float64(skew.Microseconds())/1000/float64(b.N), "skew-ms")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "apply-ms")
}
