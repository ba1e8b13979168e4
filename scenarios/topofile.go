package scenarios

import (
	"fmt"

	"github.com/outagelab/outagelab/harness/topology"
)

// loadTopologyFile reads a user topology file. BRIDGE: harness/topology's
// file loader (issue 3) replaces this when it lands.
func loadTopologyFile(p string) (*topology.Topology, error) {
	return nil, fmt.Errorf("topology file %s: user topology files are not supported yet by this build", p)
}
