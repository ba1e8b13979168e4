//go:build e2e

package docker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/docker"
	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/testenv"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

func TestMain(m *testing.M) {
	// Before any testcontainers call: no Ryuk (no registry), loopback host.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	if os.Getenv(quietHelperEnv) != "" {
		os.Exit(quietHelperMain()) // with the package's own testcontainers logging
	}
	if os.Getenv("OUTAGELAB_TC_LOG") == "" {
		tclog.SetDefault(stdlog.New(io.Discard, "", 0)) // per-container chatter
	}
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

func needDocker(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	testenv.Need(t, "a Docker engine", (&docker.Runtime{}).Available(ctx))
}

// goImages resolves the Toxiproxy image (and the storefront when it builds)
// once per test binary.
func toxiproxyImages(t testing.TB) *images.Set {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := images.ModuleRoot("")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "toxiproxy-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, images.ToxiproxyServerPkg)
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build toxiproxy-server: %v\n%s", err, out)
	}
	set, err := images.Ensure(ctx, images.Options{StorefrontBinary: bin, ToxiproxyBinary: bin, SkipDatastores: true, RepoPrefix: "outagelab-e2e/"})
	if err != nil {
		t.Fatal(err)
	}
	return &set
}

// echoTopology is a user topology made only of local images: "api" is a
// Toxiproxy server (its HTTP API answers /version), "client" is another
// one that the test turns into a forwarder to api:8474 by name, so the
// client → api edge is reached through its proxy by alias, with no
// configuration naming the proxy.
func echoTopology(img string) *topology.Topology {
	tp := func(name string) *topology.Component {
		return &topology.Component{
			Name: name, Kind: topology.KindUser, Region: "r1", Image: img,
			Command: []string{"-host=0.0.0.0", "-port=8474"},
			Ports:   []topology.Port{{Name: "api", Container: 8474}, {Name: "fwd", Container: 9000}},
			Ready:   topology.Readiness{HTTPPath: "/version", Port: "api"},
		}
	}
	return &topology.Topology{
		Name:       "echo",
		Regions:    []string{"r1"},
		Components: []*topology.Component{tp("api"), tp("client")},
		Edges:      []*topology.Edge{{Name: "client__api", From: "client", To: "api", Port: "api"}},
	}
}

func startEcho(t *testing.T, ctx context.Context, set *images.Set) harness.Deployment {
	t.Helper()
	rt := &docker.Runtime{Images: set}
	runID := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	dep, err := rt.Start(ctx, echoTopology(set.Toxiproxy.Ref), harness.StartOptions{RunID: runID, AdminToken: "tok"})
	if dep != nil {
		t.Cleanup(func() {
			if err := dep.Teardown(context.Background()); err != nil {
				t.Errorf("teardown: %v", err)
			}
			assertNoLeftovers(t, runID)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	// client forwards :9000 to api:8474 by name (alias mode).
	capi, _ := dep.Endpoint("client", "api")
	if _, err := proxy.NewClient(capi).CreateProxy(ctx, proxy.Spec{Name: "fwd", Listen: "0.0.0.0:9000", Upstream: "api:8474", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	return dep
}

func assertNoLeftovers(t *testing.T, runID string) {
	t.Helper()
	for _, args := range [][]string{
		{"ps", "-a", "--filter", "label=org.outagelab.run=" + runID, "-q"},
		{"network", "ls", "--filter", "label=org.outagelab.run=" + runID, "-q"},
	} {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Errorf("docker %v: %v: %s", args, err, out)
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("docker %v: left behind:\n%s", args, s)
		}
	}
}

// median round-trip of GET url over n fresh connections.
func medianGet(t *testing.T, url string, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	for range n {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func TestUserTopologyFaults(t *testing.T) {
	needDocker(t)
	set := toxiproxyImages(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dep := startEcho(t, ctx, set)
	fwd, _ := dep.Endpoint("client", "fwd")
	url := fwd + "/version"
	tox := proxy.NewClient(dep.ToxiproxyURL())

	base := medianGet(t, url, 9)
	const lat = 150 * time.Millisecond
	if err := tox.AddToxic(ctx, "client__api", proxy.Toxic{Name: "lat", Type: "latency", Stream: proxy.Downstream, Toxicity: 1, Attributes: proxy.Attributes{"latency": lat.Milliseconds()}}); err != nil {
		t.Fatal(err)
	}
	slow := medianGet(t, url, 5)
	t.Logf("client → api through the edge: median %s, with a %s latency toxic %s", base, lat, slow)
	if added := slow - base; added < lat-10*time.Millisecond || added > lat+150*time.Millisecond {
		t.Errorf("latency toxic of %s on client__api added %s (base %s, with toxic %s)", lat, added, base, slow)
	}
	if err := tox.RemoveToxic(ctx, "client__api", "lat"); err != nil {
		t.Fatal(err)
	}

	// Proxy down: the caller's connection through the edge is refused, and
	// the forwarder in client reports it as a failed request.
	if err := tox.SetEnabled(ctx, "client__api", false); err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err == nil {
		resp.Body.Close()
		t.Errorf("GET through a disabled proxy succeeded: %s", resp.Status)
	}
	tox.SetEnabled(ctx, "client__api", true)
	medianGet(t, url, 1)

	// Pause: the API stops answering; unpause: it answers again.
	api, _ := dep.Endpoint("api", "api")
	if err := dep.ComponentAction(ctx, "api", topology.ActionPause); err != nil {
		t.Fatal(err)
	}
	if resp, err := (&http.Client{Timeout: 500 * time.Millisecond}).Get(api + "/version"); err == nil {
		resp.Body.Close()
		t.Error("paused component answered")
	} else if !errors.Is(err, context.DeadlineExceeded) && !os.IsTimeout(err) {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("paused component: want a timeout, got %v", err)
		}
	}
	if err := dep.ComponentAction(ctx, "api", topology.ActionUnpause); err != nil {
		t.Fatal(err)
	}
	medianGet(t, api+"/version", 1)

	// Restart keeps the addresses and waits for readiness.
	if err := dep.ComponentAction(ctx, "api", topology.ActionRestart); err != nil {
		t.Fatal(err)
	}
	if a2, _ := dep.Endpoint("api", "api"); a2 != api {
		t.Errorf("address changed over restart: %s → %s", api, a2)
	}
	medianGet(t, api+"/version", 1)
	// Kill then start.
	if err := dep.ComponentAction(ctx, "api", topology.ActionKill); err != nil {
		t.Fatal(err)
	}
	if err := dep.ComponentAction(ctx, "api", topology.ActionStart); err != nil {
		t.Fatal(err)
	}
	medianGet(t, url, 1)
}

// TestToxiproxyCLI drives the printed Toxiproxy API with the official CLI.
func TestToxiproxyCLI(t *testing.T) {
	needDocker(t)
	set := toxiproxyImages(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, _ := images.ModuleRoot("")
	cli, err := images.BuildToxiproxyCLI(ctx, filepath.Join(root, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	dep := startEcho(t, ctx, set)
	run := func(args ...string) string {
		out, err := exec.CommandContext(ctx, cli, append([]string{"-h", dep.ToxiproxyURL()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("toxiproxy-cli %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("list"); !strings.Contains(out, "client__api") {
		t.Errorf("toxiproxy-cli list lacks the edge:\n%s", out)
	}
	run("toxic", "add", "-t", "latency", "-n", "cli_lat", "-a", "latency=50", "client__api")
	p, err := proxy.NewClient(dep.ToxiproxyURL()).Proxy(ctx, "client__api")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ActiveToxics) != 1 || p.ActiveToxics[0].Name != "cli_lat" {
		t.Errorf("toxic added by the CLI not seen through the API: %+v", p.ActiveToxics)
	}
}

// TestSweepAfterSIGKILL starts a run in a child process, kills it with
// SIGKILL once the topology is up, and checks the next sweep removes what
// it left.
func TestSweepAfterSIGKILL(t *testing.T) {
	needDocker(t)
	set := toxiproxyImages(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runID := fmt.Sprintf("e2e-kill-%d", time.Now().UnixNano())
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+runID, "HELPER_IMAGE="+set.Toxiproxy.Ref)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "ready") {
		n, err := stdout.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("helper ended before ready: %v: %s", err, got.String())
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	ids, _ := exec.Command("docker", "ps", "-a", "-q", "--filter", "label=org.outagelab.run="+runID).Output()
	if len(strings.Fields(string(ids))) < 3 {
		t.Fatalf("expected the killed run's containers to remain, found %q", ids)
	}
	c, err := images.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	removed, err := docker.Sweep(ctx, c, docker.SweepFilter{DeadOwnersOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range removed {
		if r.RunID == runID {
			kinds = append(kinds, r.Kind)
		}
	}
	if !slices.Contains(kinds, "container") || !slices.Contains(kinds, "network") {
		t.Errorf("sweep removed %v of the killed run", kinds)
	}
	assertNoLeftovers(t, runID)
}

const helperEnv = "OUTAGELAB_E2E_HELPER_RUN"

// helperMain is the child of TestSweepAfterSIGKILL: start, say ready, wait.
func helperMain() int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img := os.Getenv("HELPER_IMAGE")
	set := &images.Set{Toxiproxy: images.Image{Name: images.Toxiproxy, Ref: img, Port: 8474}}
	_, err := (&docker.Runtime{Images: set}).Start(ctx, echoTopology(img), harness.StartOptions{RunID: os.Getenv(helperEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("ready")
	<-ctx.Done()
	return 0
}
