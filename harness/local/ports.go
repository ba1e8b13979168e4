package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/outagelab/outagelab/internal/procs"
)

// Port allocation. Every port of a run (component ports and proxy ports)
// is chosen up front, because callers are started with their proxies'
// addresses and proxies with their callees' ports, and a restarted process
// or a re-enabled proxy must get its port back. A port is bound only when
// its component starts, seconds later, so three things keep two runs from
// meeting on one port:
//
//   - ports come from below the kernel's ephemeral range: a port from
//     procs.FreePort (ephemeral) can be taken as the local end of any
//     outgoing connection before the component binds it, and a run makes
//     many;
//   - a port handed out is reserved until the run's Teardown, across
//     processes: a write lock on the port's byte of one shared lock file
//     (fcntl; the kernel drops it if the process dies), so concurrent runs
//     in other processes (parallel test binaries, a game day next to a
//     scenario run) skip it instead of binding it first;
//   - a component that still finds its port taken (by a process outside
//     this scheme) is started again on fresh ports, and readiness checks
//     that the listener answering is the component's own process.
//
// Letting each process bind port 0 and report its address does not fit:
// postgres and redis cannot report one, a caller's flags need its
// proxies' ports before it starts, and a restart must keep the port.
var (
	portMu   sync.Mutex
	portUsed = map[int]bool{} // reserved by this process
	lockFile *os.File         // shared reservation file; nil: reservations off
	lockErr  error
	lockOnce sync.Once

	// portRange overrides the range ports are drawn from (tests).
	portRange func() (low, high int)
)

// lockPath is the shared reservation file.
func lockPath() string { return filepath.Join(os.TempDir(), "outagelab-ports.lock") }

func openLockFile() {
	lockOnce.Do(func() {
		f, err := os.OpenFile(lockPath(), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			lockErr = fmt.Errorf("port reservations across processes off: %w", err)
			return
		}
		_ = os.Chmod(lockPath(), 0o666) // other users' runs reserve too (umask)
		lockFile = f
	})
}

// lockPort takes the cross-process reservation of port; false when another
// process holds it. Without a lock file every port counts as free.
func lockPort(port int) bool {
	if lockFile == nil {
		return true
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: int64(port), Len: 1}
	return syscall.FcntlFlock(lockFile.Fd(), syscall.F_SETLK, &lk) == nil
}

func unlockPort(port int) {
	if lockFile == nil {
		return
	}
	lk := syscall.Flock_t{Type: syscall.F_UNLCK, Whence: 0, Start: int64(port), Len: 1}
	_ = syscall.FcntlFlock(lockFile.Fd(), syscall.F_SETLK, &lk)
}

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

// reservePort returns a loopback port that is bindable now, outside the
// ephemeral range when possible, and reserved (in this process and against
// other processes) until releasePort.
func reservePort() (int, error) {
	openLockFile()
	portMu.Lock()
	defer portMu.Unlock()
	low, high := 10000, ephemeralLow()-1
	if portRange != nil {
		low, high = portRange()
	}
	if high-low >= 1 {
		for range 400 {
			p := low + rand.IntN(high-low+1)
			if portUsed[p] || !lockPort(p) {
				continue
			}
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				unlockPort(p)
				continue
			}
			ln.Close()
			portUsed[p] = true
			return p, nil
		}
	}
	if portRange != nil {
		return 0, fmt.Errorf("no free port in %d..%d", low, high)
	}
	for range 20 {
		p, err := procs.FreePort()
		if err != nil {
			return 0, err
		}
		if !portUsed[p] && lockPort(p) {
			portUsed[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// releasePort ends a reservation.
func releasePort(p int) {
	portMu.Lock()
	defer portMu.Unlock()
	if portUsed[p] {
		delete(portUsed, p)
		unlockPort(p)
	}
}

// freePort reserves a port for the deployment; Teardown releases it.
func (d *Deployment) freePort() (int, error) {
	p, err := reservePort()
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	d.ports = append(d.ports, p)
	d.mu.Unlock()
	return p, nil
}

// releasePorts ends every reservation of the deployment.
func (d *Deployment) releasePorts() {
	d.mu.Lock()
	ps := d.ports
	d.ports = nil
	d.mu.Unlock()
	for _, p := range ps {
		releasePort(p)
	}
}

// portTaken reports whether a start failed because a port was taken.
func portTaken(err error, logTail string) bool {
	s := logTail
	if err != nil {
		s += err.Error()
	}
	return errors.Is(err, errForeignListener) || strings.Contains(s, "address already in use") || strings.Contains(s, "port taken")
}

// errForeignListener: the port a component should listen on is served by
// another process.
var errForeignListener = errors.New("port taken by another process")

// listenerOwned reports whether the TCP listener on 127.0.0.1:port (or the
// wildcard address) is a socket of process pid: found=false when nothing
// listens there yet.
func listenerOwned(pid, port int) (found, owned bool, err error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listenInodes(f, port, inodes); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, false, err
		}
	}
	if len(inodes) == 0 {
		return false, false, nil
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return true, false, fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] {
			return true, true, nil
		}
	}
	return true, false, nil
}

// listenInodes adds the inodes of the sockets listening on port on the
// loopback or wildcard address, from a /proc/net/tcp{,6} table.
func listenInodes(path string, port int, into map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[3] != "0A" || !strings.HasSuffix(fs[1], want) { // 0A: LISTEN
			continue
		}
		host := strings.TrimSuffix(fs[1], want)
		switch host {
		case "0100007F", "00000000", // 127.0.0.1, 0.0.0.0
			"00000000000000000000000000000000", "0000000000000000FFFF00000100007F": // ::, ::ffff:127.0.0.1
		default:
			continue
		}
		into[fs[9]] = true
	}
	return sc.Err()
}

// reallocate gives cp new ports and points the proxies of its incoming
// edges at them.
func (cp *comp) reallocate(ctx context.Context) error {
	for name := range cp.ports {
		p, err := cp.d.freePort()
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
