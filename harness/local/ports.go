package local

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/outagelab/outagelab/internal/procs"
)

// Ports are chosen below the kernel's ephemeral range: a port from
// procs.FreePort (ephemeral) can be taken as the local end of any outgoing
// connection before the component binds it, and a run makes many.
var (
	portMu   sync.Mutex
	portUsed = map[int]bool{} // handed out by this process
)

func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 2048 {
		return 32768
	}
	return n
}

// freePort returns a loopback port that is bindable now, outside the
// ephemeral range when possible, never handed out twice by this process.
func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	low, high := 10000, ephemeralLow()-1
	if high-low > 1000 {
		for range 200 {
			p := low + rand.IntN(high-low)
			if portUsed[p] {
				continue
			}
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				continue
			}
			ln.Close()
			portUsed[p] = true
			return p, nil
		}
	}
	p, err := procs.FreePort()
	if err == nil {
		portUsed[p] = true
	}
	return p, err
}

// portTaken reports whether a start failed because a port was taken.
func portTaken(err error, logTail string) bool {
	s := logTail
	if err != nil {
		s += err.Error()
	}
	return strings.Contains(s, "address already in use") || strings.Contains(s, "port taken")
}

// reallocate gives cp new ports and points the proxies of its incoming
// edges at them.
func (cp *comp) reallocate(ctx context.Context) error {
	for name := range cp.ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		cp.ports[name] = p
	}
	for _, e := range cp.d.topo.Incoming(cp.c.Name) {
		if err := cp.d.px.SetUpstream(ctx, e.Name, "127.0.0.1:"+strconv.Itoa(cp.ports[e.Port])); err != nil {
			return err
		}
	}
	return nil
}
