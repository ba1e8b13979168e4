package harness_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/procs"
	"github.com/outagelab/outagelab/internal/testenv"
)

// twoRedis: two redis-server datastores and one edge between them.
func twoRedis() *topology.Topology {
	r := func(name string) *topology.Component {
		return &topology.Component{Name: name, Kind: topology.KindDatastore, Region: "r", Image: topology.ImageRedis,
			Ports: []topology.Port{{Name: topology.PortRedis, Container: 6379}}}
	}
	return &topology.Topology{Name: "attach", Regions: []string{"r"},
		Components: []*topology.Component{r("front"), r("back")},
		Edges:      []*topology.Edge{{Name: "front__back", From: "front", To: "back", Port: topology.PortRedis}}}
}

// toxicsOf lists the toxics on a proxy through Toxiproxy's HTTP API.
func toxicsOf(t *testing.T, api, proxyName string) []map[string]any {
	t.Helper()
	resp, err := http.Get(api + "/proxies/" + proxyName + "/toxics")
	if err != nil {
		t.Fatalf("toxiproxy API: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("toxiproxy API: GET toxics of %s: %s", proxyName, resp.Status)
	}
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAttachLocal(t *testing.T) {
	procs.RequireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	owner, err := harness.Up(ctx, harness.Options{Runtime: "local", Topology: twoRedis(), RunID: "attach-test-" + strconv.Itoa(os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(context.Background())

	dir := filepath.Join(t.TempDir(), "state")
	path, err := harness.WriteState(owner, dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file %s: %v %v, want mode 0600", path, fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v %v, want mode 0700", fi.Mode(), err)
	}
	st, err := harness.ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Processes["front"].PID <= 0 || st.Processes["back"].PID <= 0 || st.Processes["back"].PID == os.Getpid() {
		t.Errorf("state records processes %+v, want the two redis-server PIDs", st.Processes)
	}

	env, err := harness.Attach(ctx, harness.AttachOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if env.RunID() != owner.RunID() || env.RuntimeName() != "local" || env.ToxiproxyURL() != owner.ToxiproxyURL() || env.Topology().Name != "attach" {
		t.Errorf("attached %s/%s/%s, owner %s/%s", env.RunID(), env.RuntimeName(), env.ToxiproxyURL(), owner.RunID(), owner.ToxiproxyURL())
	}
	backAddr, _ := owner.Addr("back", topology.PortRedis)
	if a, err := env.Addr("back", topology.PortRedis); err != nil || a != backAddr {
		t.Errorf("attached Addr(back) = %q, %v; owner says %q", a, err, backAddr)
	}
	if _, err := env.Addr("nope", topology.PortRedis); err == nil {
		t.Error("Addr of an unknown component succeeded")
	}

	// A latency fault through the attached Env lands in the owner's Toxiproxy.
	if _, err := env.Apply(ctx, faults.Spec{ID: "lat", Kind: "latency",
		Selector: faults.Selector{Edges: []string{"front__back"}},
		Params:   &faults.Latency{Latency: faults.Duration(150 * time.Millisecond), ToxicParams: faults.DefaultToxic()}}); err != nil {
		t.Fatal(err)
	}
	tx := toxicsOf(t, owner.ToxiproxyURL(), "front__back")
	if len(tx) != 1 || tx[0]["type"] != "latency" {
		t.Fatalf("toxics after applying latency through the attached env: %v", tx)
	}
	if attrs, _ := tx[0]["attributes"].(map[string]any); attrs["latency"] != float64(150) {
		t.Errorf("latency toxic attributes %v, want latency 150", tx[0]["attributes"])
	}

	// Process actions: pause/unpause by signal work; stop is refused clearly.
	if err := env.ComponentAction(ctx, "back", harness.ActionPause); err != nil {
		t.Fatal(err)
	}
	if err := redisPingTimeout(backAddr, 300*time.Millisecond); err == nil {
		t.Error("paused back answered PING")
	}
	if err := env.ComponentAction(ctx, "back", harness.ActionUnpause); err != nil {
		t.Fatal(err)
	}
	if err := redisPingTimeout(backAddr, 2*time.Second); err != nil {
		t.Errorf("unpaused back: %v", err)
	}
	err = env.ComponentAction(ctx, "back", harness.ActionStop)
	if err == nil || !strings.Contains(err.Error(), "not supported on an attached local topology") {
		t.Errorf("stop on attached local: %v", err)
	}

	// Close removes the fault and leaves the topology running.
	if err := env.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if tx := toxicsOf(t, owner.ToxiproxyURL(), "front__back"); len(tx) != 0 {
		t.Errorf("toxics after closing the attached env: %v", tx)
	}
	for _, c := range []string{"front", "back"} {
		a, _ := owner.Addr(c, topology.PortRedis)
		if err := redisPingTimeout(a, 2*time.Second); err != nil {
			t.Errorf("%s after closing the attached env: %v", c, err)
		}
	}
	if _, err := owner.Proxy.Proxy(ctx, "front__back"); err != nil {
		t.Errorf("proxy gone after closing the attached env: %v", err)
	}

	// "latest" finds the same file through OUTAGELAB_STATE_DIR.
	t.Setenv("OUTAGELAB_STATE_DIR", dir)
	latest, err := harness.Attach(ctx, harness.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if latest.RunID() != owner.RunID() {
		t.Errorf("latest attached %s, want %s", latest.RunID(), owner.RunID())
	}
	latest.Close(ctx)
}

func redisPingTimeout(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = pingOnce(addr, d); err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pingOnce(addr string, d time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
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

func TestAttachStaleOwner(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("true")
	testenv.Need(t, "true(1)", cmd.Run())
	dead := cmd.ProcessState.Pid()
	st := validState(dead)
	path := writeStateFile(t, dir, st)
	_, err := harness.Attach(context.Background(), harness.AttachOptions{Path: path})
	if err == nil {
		t.Fatal("attach to a state file whose owner is dead succeeded")
	}
	for _, want := range []string{path, "is gone", "outagelab cleanup", strconv.Itoa(dead)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, serr := os.Stat(path); !os.IsNotExist(serr) {
		t.Errorf("stale state file still there: %v", serr)
	}

	// A live PID whose start time differs (a reused PID) is dead too.
	st = validState(os.Getpid())
	st.OwnerStart = "1"
	path = writeStateFile(t, dir, st)
	if _, err := harness.Attach(context.Background(), harness.AttachOptions{Path: path}); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("reused pid: %v", err)
	}

	// latest with only stale files says so; with none says to start `up`.
	t.Setenv("OUTAGELAB_STATE_DIR", dir)
	writeStateFile(t, dir, validState(dead))
	if _, err := harness.Attach(context.Background(), harness.AttachOptions{}); err == nil || !strings.Contains(err.Error(), "outagelab cleanup") {
		t.Errorf("latest with a stale file: %v", err)
	}
	t.Setenv("OUTAGELAB_STATE_DIR", filepath.Join(dir, "empty"))
	if _, err := harness.Attach(context.Background(), harness.AttachOptions{}); err == nil || !strings.Contains(err.Error(), "outagelab up") {
		t.Errorf("latest with no state dir: %v", err)
	}
}

func TestAttachBadFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.json")
	if _, err := harness.Attach(context.Background(), harness.AttachOptions{Path: missing}); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	for name, body := range map[string]string{
		"corrupt.json":   "{not json",
		"empty.json":     "",
		"version.json":   `{"schema_version": 99, "run_id": "x", "owner_pid": 1, "toxiproxy_url": "http://127.0.0.1:1", "topology": {"name": "t"}}`,
		"notopo.json":    `{"schema_version": 1, "run_id": "x", "owner_pid": 1, "toxiproxy_url": "http://127.0.0.1:1"}`,
		"wrongtype.json": `{"schema_version": "one"}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := harness.Attach(context.Background(), harness.AttachOptions{Path: p})
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	// An owner that lives but whose Toxiproxy does not answer.
	st := validState(os.Getpid())
	st.Toxiproxy = "http://127.0.0.1:1"
	p := writeStateFile(t, dir, st)
	if _, err := harness.Attach(context.Background(), harness.AttachOptions{Path: p}); err == nil || !strings.Contains(err.Error(), "Toxiproxy") {
		t.Errorf("dead toxiproxy: %v", err)
	}
}

func TestStateDir(t *testing.T) {
	t.Setenv("OUTAGELAB_STATE_DIR", "/x/state")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/7")
	if d, _ := harness.StateDir(); d != "/x/state" {
		t.Errorf("with OUTAGELAB_STATE_DIR: %s", d)
	}
	t.Setenv("OUTAGELAB_STATE_DIR", "")
	if d, _ := harness.StateDir(); d != "/run/user/7/outagelab" {
		t.Errorf("with XDG_RUNTIME_DIR: %s", d)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := harness.StateDir(); d != "/home/u/.cache/outagelab/up" {
		t.Errorf("fallback: %s", d)
	}
	if _, err := harness.StatePath("/d", "../etc"); err == nil {
		t.Error("run id with a slash accepted")
	}
}

func validState(pid int) *harness.State {
	return &harness.State{SchemaVersion: harness.StateSchemaVersion, RunID: "run-" + strconv.Itoa(pid), Runtime: "local",
		OwnerPID: pid, Created: time.Now(), Topology: twoRedis(), Toxiproxy: "http://127.0.0.1:1"}
}

func writeStateFile(t *testing.T, dir string, st *harness.State) string {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, st.RunID+".json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cleanup's sweep removes state files of dead owners and keeps live ones.
func TestSweepStates(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("OUTAGELAB_STATE_DIR", dir)
	cmd := exec.Command("true")
	testenv.Need(t, "true(1)", cmd.Run())
	deadSt := validState(cmd.ProcessState.Pid())
	deadSt.RunID = "dead-run"
	dead := writeStateFile(t, dir, deadSt)
	liveSt := validState(os.Getpid())
	liveSt.RunID = "live-run"
	live := writeStateFile(t, dir, liveSt)
	removed, err := harness.SweepStates()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dead {
		t.Errorf("removed %v, want only %s", removed, dead)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("dead owner's state file still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live owner's state file removed: %v", err)
	}
}
