package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/local"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/procs"
)

// childEnv, when set in the environment, makes this test binary a harness
// child instead of running tests: "up:<runtime>:<regions>" brings a scaled
// storefront up, prints one JSON line (childReport), waits for stdin to
// close, tears down and prints a second line. The parent measures the
// child's memory from outside: a fresh process holding nothing but the
// harness.
const childEnv = "OUTAGELAB_BENCH_CHILD"

// memProfileEnv, set to a file, makes a child write a heap profile once its
// topology is up (where the harness's memory goes:
// `go tool pprof -sample_index=inuse_space FILE`).
const memProfileEnv = "OUTAGELAB_BENCH_MEMPROFILE"

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}

// childPrepare lets a runtime prepare before the timer starts (the docker
// runtime builds or finds its images); registered by build-tagged files.
var childPrepare = map[string]func(ctx context.Context) error{}

func TestMain(m *testing.M) {
	// testcontainers-go reads these once: set them before any call can.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	if spec := os.Getenv(childEnv); spec != "" {
		if err := runChild(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	closeShared()
	os.Exit(code)
}

// childReport is what a child prints once its topology is up.
type childReport struct {
	Runtime    string             `json:"runtime"`
	Regions    int                `json:"regions"`
	Components int                `json:"components"`
	Edges      int                `json:"edges"`
	UpSeconds  float64            `json:"up_s"`
	Ready      map[string]float64 `json:"ready_s"` // per component: start → ready
	Teardown   float64            `json:"teardown_s,omitempty"`
}

func runChild(spec string, stdin io.Reader, stdout io.Writer) error {
	parts := strings.Split(spec, ":")
	if len(parts) != 3 || parts[0] != "up" {
		return fmt.Errorf("%s=%q: want up:<runtime>:<regions>", childEnv, spec)
	}
	rt := parts[1]
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return fmt.Errorf("%s=%q: regions: %w", childEnv, spec, err)
	}
	topo, err := ScaledStorefront(n, topology.StorefrontOptions{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if prep := childPrepare[rt]; prep != nil {
		if err := prep(ctx); err != nil {
			return fmt.Errorf("prepare %s runtime: %w", rt, err)
		}
	}
	rec := &readyRecorder{took: map[string]float64{}}
	start := time.Now()
	env, err := harness.Up(ctx, harness.Options{Runtime: rt, Topology: topo, Logger: slog.New(rec), Notice: io.Discard})
	if err != nil {
		return err
	}
	rep := childReport{Runtime: rt, Regions: n, Components: len(topo.Components), Edges: len(topo.Edges),
		UpSeconds: time.Since(start).Seconds(), Ready: rec.snapshot()}
	if p := os.Getenv(memProfileEnv); p != "" {
		if err := writeHeapProfile(p); err != nil {
			_ = env.Close(ctx)
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(rep); err != nil {
		_ = env.Close(ctx)
		return err
	}
	_, _ = io.Copy(io.Discard, stdin) // the parent closes stdin when it has measured
	t0 := time.Now()
	if err := env.Close(ctx); err != nil {
		return err
	}
	rep.Teardown = time.Since(t0).Seconds()
	return enc.Encode(rep)
}

// readyRecorder is a slog handler that keeps the runtimes' "component ready"
// events (attribute took) per component.
type readyRecorder struct {
	mu   sync.Mutex
	took map[string]float64
}

func (r *readyRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *readyRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *readyRecorder) WithGroup(string) slog.Handler            { return r }
func (r *readyRecorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "component ready" {
		return nil
	}
	var name string
	var took time.Duration
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "component":
			name = a.Value.String()
		case "took":
			if a.Value.Kind() == slog.KindDuration {
				took = a.Value.Duration()
			}
		}
		return true
	})
	if name != "" {
		r.mu.Lock()
		r.took[name] = took.Seconds()
		r.mu.Unlock()
	}
	return nil
}

func (r *readyRecorder) snapshot() map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]float64, len(r.took))
	for k, v := range r.took {
		out[k] = v
	}
	return out
}

// child is a running harness child process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *strings.Builder
	Report childReport
}

// startChild re-executes this test binary as a harness child and waits for
// its topology to be up.
func startChild(tb testing.TB, runtime string, regions int) *child {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=up:%s:%d", childEnv, runtime, regions))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), stderr: &strings.Builder{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		_ = cmd.Wait()
		tb.Fatalf("%s topology with %d regions did not come up: %v\n%s", runtime, regions, err, tail(c.stderr.String(), 3000))
	}
	if err := json.Unmarshal(line, &c.Report); err != nil {
		c.stop(tb)
		tb.Fatalf("child report %q: %v", line, err)
	}
	return c
}

// stop closes the child's stdin (it tears down) and waits for it.
func (c *child) stop(tb testing.TB) {
	tb.Helper()
	c.stdin.Close()
	if line, err := c.out.ReadBytes('\n'); err == nil {
		_ = json.Unmarshal(line, &c.Report)
	}
	if err := c.cmd.Wait(); err != nil {
		tb.Errorf("harness child: %v\n%s", err, tail(c.stderr.String(), 3000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// shared is one local storefront for the benchmarks that need a running
// topology (fault effect, halt, request overhead), closed by TestMain.
var shared struct {
	once sync.Once
	env  *harness.Env
	err  error
}

func sharedEnv(b *testing.B) *harness.Env {
	b.Helper()
	procs.RequireBinaries(b)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := local.FindStorefront(ctx); err != nil {
			shared.err = fmt.Errorf("storefront binary: %w", err)
			return
		}
		shared.env, shared.err = harness.Up(ctx, harness.Options{Runtime: "local", Notice: io.Discard})
	})
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	return shared.env
}

func closeShared() {
	if shared.env != nil {
		if err := shared.env.Close(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "bench: close shared storefront:", err)
		}
	}
}
