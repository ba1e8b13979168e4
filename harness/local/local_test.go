package local

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/procs"
	"github.com/outagelab/outagelab/internal/testenv"
)

// datastores is a topology the local runtime can run without the storefront
// binary: a postgres and a redis, with an edge between "client" components
// that are themselves datastores (edges only need a caller and a callee).
func datastores() *topology.Topology {
	return &topology.Topology{Name: "ds", Regions: []string{"r"}, Components: []*topology.Component{
		{Name: "pg", Kind: topology.KindDatastore, Region: "r", Image: topology.ImagePostgres, Databases: []string{"app"},
			Ports: []topology.Port{{Name: topology.PortPostgres, Container: 5432}}},
		{Name: "cache", Kind: topology.KindDatastore, Region: "r", Image: topology.ImageRedis,
			Ports: []topology.Port{{Name: topology.PortRedis, Container: 6379}}},
	}, Edges: []*topology.Edge{{Name: "cache__pg", From: "cache", To: "pg", Port: topology.PortPostgres}}}
}

func redisPing(t *testing.T, addr string) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "+PONG") {
		return errors.New("unexpected answer " + string(buf[:n]))
	}
	return nil
}

func TestLocalDatastoresLifecycle(t *testing.T) {
	procs.RequireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := Start(ctx, datastores(), Options{RunID: "test-ds", AdminToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Teardown(context.Background())
	runDir := d.dir

	cacheAddr, err := d.Addr("cache", topology.PortRedis)
	if err != nil {
		t.Fatal(err)
	}
	if err := redisPing(t, cacheAddr); err != nil {
		t.Fatalf("redis: %v", err)
	}
	pgProxy, err := d.ProxyAddr("cache__pg")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", pgProxy, time.Second); err != nil {
		t.Fatalf("postgres through its proxy: %v", err)
	} else {
		c.Close()
	}

	// pause: the process stops answering, unpause: it answers again.
	if err := d.ComponentAction(ctx, "cache", topology.ActionPause); err != nil {
		t.Fatal(err)
	}
	if err := redisPing(t, cacheAddr); err == nil {
		t.Error("paused redis answered PING")
	}
	if err := d.ComponentAction(ctx, "cache", topology.ActionUnpause); err != nil {
		t.Fatal(err)
	}
	if err := redisPing(t, cacheAddr); err != nil {
		t.Errorf("unpaused redis: %v", err)
	}

	// kill then start on the same port.
	pgAddr, _ := d.Addr("pg", topology.PortPostgres)
	oldPid := d.comps["pg"].pid()
	if err := d.ComponentAction(ctx, "pg", topology.ActionKill); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", pgAddr, 500*time.Millisecond); err == nil {
		t.Error("killed postgres still accepts connections")
	}
	if err := syscall.Kill(oldPid, 0); err == nil {
		t.Errorf("killed postgres pid %d still exists", oldPid)
	}
	if err := d.ComponentAction(ctx, "pg", topology.ActionStart); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", pgAddr, time.Second); err != nil {
		t.Errorf("restarted postgres: %v", err)
	} else {
		c.Close()
	}
	if err := d.ComponentAction(ctx, "cache", topology.ActionRestart); err != nil {
		t.Fatal(err)
	}
	if err := redisPing(t, cacheAddr); err != nil {
		t.Errorf("restarted redis: %v", err)
	}
	if err := d.ComponentAction(ctx, "nope", topology.ActionStop); err == nil {
		t.Error("unknown component accepted")
	}

	// Pause before teardown: teardown must still stop it.
	if err := d.ComponentAction(ctx, "cache", topology.ActionPause); err != nil {
		t.Fatal(err)
	}
	pids := []int{d.comps["pg"].pid(), d.comps["cache"].pid()}
	if err := d.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Teardown(ctx); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("pid %d survived teardown", pid)
		}
	}
	for _, a := range []string{cacheAddr, pgAddr, pgProxy, strings.TrimPrefix(d.ToxiproxyURL(), "http://")} {
		if c, err := net.DialTimeout("tcp", a, 300*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still listening after teardown", a)
		}
	}
	if _, err := os.Stat(runDir); !os.IsNotExist(err) {
		t.Errorf("run dir %s left behind: %v", runDir, err)
	}
	if err := d.ComponentAction(ctx, "pg", topology.ActionStart); err == nil {
		t.Error("action after teardown accepted")
	}
}

func TestLocalRejectsImages(t *testing.T) {
	topo := datastores()
	topo.Components[1].Image = "example/app:1"
	_, err := Start(context.Background(), topo, Options{})
	if err == nil || !strings.Contains(err.Error(), "--runtime docker") {
		t.Fatalf("err = %v", err)
	}
}

func TestLocalStartFailureCleansUp(t *testing.T) {
	procs.RequireBinaries(t)
	topo := datastores()
	// A storefront service whose binary exits at once: start fails, nothing is left.
	topo.Components = append(topo.Components, &topology.Component{Name: "bad", Kind: topology.KindService, Region: "r",
		Image: topology.ImageStorefront, Service: "gateway", Ports: []topology.Port{{Name: "http", Container: 8080}},
		Ready: topology.Readiness{HTTPPath: "/healthz", Timeout: 5 * time.Second}})
	topo.Edges = append(topo.Edges, &topology.Edge{Name: "bad__cache", From: "bad", To: "cache", Port: topology.PortRedis})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runID := "failtest" + strconv.Itoa(os.Getpid())
	_, err := Start(ctx, topo, Options{RunID: runID, StorefrontBin: "/bin/false"})
	if err == nil || !strings.Contains(err.Error(), "start bad") {
		t.Fatalf("err = %v", err)
	}
	matches, _ := os.ReadDir(os.TempDir())
	for _, m := range matches {
		if strings.HasPrefix(m.Name(), "outagelab-"+runID+"-") {
			t.Errorf("run dir left behind: %s", m.Name())
		}
	}
}

// TestSweep: a run dir whose owner died is removed, a live owner's is kept.
func TestSweep(t *testing.T) {
	dead := exec.Command("true")
	testenv.Need(t, "true(1)", dead.Run())
	mk := func(pid int) string {
		dir, err := os.MkdirTemp("", "outagelab-sweeptest-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	stale := mk(dead.ProcessState.Pid())
	mine := mk(os.Getpid())
	removed, err := Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, stale) {
		t.Errorf("stale dir %s not removed (removed %v)", stale, removed)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("live run's dir removed: %v", err)
	}
}
