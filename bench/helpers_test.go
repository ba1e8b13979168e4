package bench

import "github.com/outagelab/outagelab/harness/topology"

var defaultOpts = topology.StorefrontOptions{}

func names(t *topology.Topology) map[string]bool {
	out := map[string]bool{}
	for _, c := range t.Components {
		out[c.Name] = true
	}
	return out
}
