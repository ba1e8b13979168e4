package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/testenv"
)

// testRange picks a small range of currently free ports below the
// ephemeral range, so reservations must meet.
func testRange(t *testing.T, n int) (int, int) {
	t.Helper()
	for base := 20000 + os.Getpid()%5000; base < 30000; base += n {
		ok := true
		for p := base; p < base+n; p++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return base, base + n - 1
		}
	}
	testenv.Need(t, fmt.Sprintf("%d free loopback ports in a row between 20000 and 30000", n), errors.New("every range has a port in use"))
	return 0, 0
}

// TestHelperReservePorts is not a test: TestPortReservationAcrossProcesses
// runs the test binary with it as another process that reserves ports.
func TestHelperReservePorts(t *testing.T) {
	spec := os.Getenv("OUTAGELAB_TEST_RESERVE")
	if spec == "" {
		t.Skip("helper process only")
	}
	var low, high, n int
	if _, err := fmt.Sscanf(spec, "%d:%d:%d", &low, &high, &n); err != nil {
		t.Fatal(err)
	}
	portRange = func() (int, int) { return low, high }
	var ps []string
	for range n {
		p, err := reservePort()
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, strconv.Itoa(p))
	}
	fmt.Println("RESERVED " + strings.Join(ps, ","))
	_, _ = io.Copy(io.Discard, os.Stdin) // hold them until the parent closes stdin
}

// TestPortReservationAcrossProcesses: ports another process reserved (and
// has not bound yet) are never handed out here, and are free again once it
// is gone.
func TestPortReservationAcrossProcesses(t *testing.T) {
	low, high := testRange(t, 30)
	defer func(f func() (int, int)) { portRange = f }(portRange)
	portRange = func() (int, int) { return low, high }

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperReservePorts$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("OUTAGELAB_TEST_RESERVE=%d:%d:%d", low, high, 10))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	theirs := map[int]bool{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RESERVED "); ok {
			for _, f := range strings.Split(rest, ",") {
				n, _ := strconv.Atoi(f)
				theirs[n] = true
			}
			break
		}
	}
	if len(theirs) != 10 {
		t.Fatalf("helper reserved %v", theirs)
	}
	var mine []int
	for {
		p, err := reservePort()
		if err != nil {
			break
		}
		mine = append(mine, p)
		if theirs[p] {
			t.Errorf("port %d handed out while another process holds it", p)
		}
		if len(mine) > 30 {
			t.Fatal("more ports than the range holds")
		}
	}
	if len(mine) != 20 {
		t.Errorf("reserved %d ports of the 20 left in the range", len(mine))
	}
	for _, p := range mine {
		releasePort(p)
	}
	// The helper exits: its reservations go with it.
	stdin.Close()
	_ = cmd.Wait()
	got := map[int]bool{}
	for {
		p, err := reservePort()
		if err != nil {
			break
		}
		got[p] = true
	}
	for p := range got {
		releasePort(p)
	}
	for p := range theirs {
		if !got[p] {
			t.Errorf("port %d still reserved after its holder exited", p)
		}
	}
}

// TestReadinessRejectsForeignListener: a component whose port is served by
// another process is not "ready" because that process answers; the start
// fails with a port-taken error so it is retried on fresh ports.
func TestReadinessRejectsForeignListener(t *testing.T) {
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer foreign.Close()
	_, ps, _ := net.SplitHostPort(strings.TrimPrefix(foreign.URL, "http://"))
	port, _ := strconv.Atoi(ps)

	sleeper := exec.Command("sleep", "30") // alive, listens on nothing
	testenv.Need(t, "sleep(1)", sleeper.Start())
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()

	cp := &comp{c: &topology.Component{Name: "svc", Ports: []topology.Port{{Name: "http"}},
		Ready: topology.Readiness{HTTPPath: "/healthz"}}, ports: map[string]int{"http": port}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cp.waitReady(ctx, sleeper.Process.Pid, make(chan struct{}))
	if !errors.Is(err, errForeignListener) || !portTaken(err, "") {
		t.Fatalf("waitReady = %v, want a foreign-listener (port taken) error", err)
	}
	// The same check passes for the listener's real owner (this process),
	// also on the plain TCP readiness path.
	cp.c.Ready.HTTPPath = ""
	if err := cp.waitReady(ctx, os.Getpid(), make(chan struct{})); err != nil {
		t.Fatalf("own listener: %v", err)
	}
}

func FuzzListenInodes(f *testing.F) {
	f.Add("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n", 8080)
	f.Fuzz(func(t *testing.T, table string, port int) {
		path := t.TempDir() + "/tcp"
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
		into := map[string]bool{}
		_ = listenInodes(path, port, into)
	})
}
