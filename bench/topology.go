// Package bench holds the figures that need several components together
// (fault effect and halt on a running storefront, request overhead through
// the harness, memory during a run, the scale curve) and the helpers they
// share. `make bench` runs them with every component benchmark and writes
// BENCHMARKS.md through bench/cmd/benchdriver.
package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/outagelab/outagelab/harness/topology"
)

// ScaleRegions names the regions of a scaled storefront, in order: the
// built-in two first, then more AWS-like names.
var ScaleRegions = []string{topology.RegionUSEast1, topology.RegionEUWest1, "ap-southeast-1", "sa-east-1", "ap-northeast-1", "ca-central-1", "eu-central-1", "us-west-2"}

// ScaledStorefront is the built-in storefront (topology.Storefront) with
// regions regional stacks instead of two: regions=2 is the built-in one
// unchanged; regions=1 drops eu-west-1; regions>2 clones eu-west-1's stack
// (postgres, redis, catalog, cart, recommendations, gateway and their edges,
// the gateway's edges to the global services, monitoring's checks) into
// each extra region. The global services stay single: checkout reads only
// the carts of us-east-1 and eu-west-1 (services/checkout.Regions), so extra
// regions get no checkout → cart edge.
func ScaledStorefront(regions int, opts topology.StorefrontOptions) (*topology.Topology, error) {
	if regions < 1 || regions > len(ScaleRegions) {
		return nil, fmt.Errorf("scaled storefront: regions %d out of range (want 1..%d)", regions, len(ScaleRegions))
	}
	t, err := topology.Storefront(opts)
	if err != nil {
		return nil, err
	}
	const src = topology.RegionEUWest1
	inSrc := map[string]bool{}
	for _, c := range t.Components {
		if c.Region == src {
			inSrc[c.Name] = true
		}
	}
	if regions == 1 {
		t.Name = "storefront-1-region"
		t.Regions = slices.DeleteFunc(t.Regions, func(r string) bool { return r == src })
		t.Components = slices.DeleteFunc(t.Components, func(c *topology.Component) bool { return inSrc[c.Name] })
		t.Edges = slices.DeleteFunc(t.Edges, func(e *topology.Edge) bool { return inSrc[e.From] || inSrc[e.To] })
		return t, validate(t)
	}
	if regions == 2 {
		return t, nil
	}
	t.Name = fmt.Sprintf("storefront-%d-regions", regions)
	srcComps := slices.DeleteFunc(slices.Clone(t.Components), func(c *topology.Component) bool { return !inSrc[c.Name] })
	srcEdges := slices.DeleteFunc(slices.Clone(t.Edges), func(e *topology.Edge) bool { return !inSrc[e.From] && !inSrc[e.To] })
	for _, r := range ScaleRegions[2:regions] {
		rename := func(s string) string { return strings.ReplaceAll(s, src, r) }
		t.Regions = append(t.Regions, r)
		for _, c := range srcComps {
			n := *c
			n.Name, n.Region = rename(c.Name), r
			n.Labels = maps.Clone(c.Labels)
			n.Command = make([]string, len(c.Command))
			for i, a := range c.Command {
				n.Command[i] = rename(a)
			}
			n.Env = maps.Clone(c.Env)
			n.Ports = slices.Clone(c.Ports)
			n.Databases = slices.Clone(c.Databases)
			t.Components = append(t.Components, &n)
		}
		for _, e := range srcEdges {
			if !inSrc[e.From] && e.From != "monitoring" {
				continue // checkout → cart-eu-west-1: checkout knows two regions only
			}
			n := *e
			n.From, n.To, n.DepName = rename(e.From), rename(e.To), rename(e.DepName)
			n.Name = topology.EdgeName(n.From, n.To)
			t.Edges = append(t.Edges, &n)
		}
	}
	return t, validate(t)
}

func validate(t *topology.Topology) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("scaled storefront %s: %w", t.Name, err)
	}
	return nil
}
