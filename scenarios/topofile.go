package scenarios

import (
	"github.com/outagelab/outagelab/harness/topology"
)

// loadTopologyFile reads a user topology file with the harness's loader
// (every problem reported with file:line:col).
func loadTopologyFile(p string) (*topology.Topology, error) {
	return topology.LoadFile(p)
}
