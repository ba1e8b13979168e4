package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/procs"
)

func TestRunUsageAndVersion(t *testing.T) {
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := run(ctx, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage:") {
		t.Fatalf("no args: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run(ctx, []string{"shop"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown service "shop"`) {
		t.Fatalf("bad subcommand: %d %q", code, errb.String())
	}
	out.Reset()
	if code := run(ctx, []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "storefront ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	for name := range services {
		out.Reset()
		if code := run(ctx, []string{name, "-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--listen") && !strings.Contains(out.String(), "-listen") {
			t.Errorf("%s -h: %d %q", name, code, out.String())
		}
	}
	errb.Reset()
	if code := run(ctx, []string{"identity", "--no-such-flag"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no-such-flag") {
		t.Fatalf("bad flag: %d %q", code, errb.String())
	}
}

func TestEveryContractServiceIsWired(t *testing.T) {
	for _, n := range []string{"gateway", "identity", "catalog", "cart", "checkout", "payment", "orders", "recommendations", "monitoring"} {
		if services[n].main == nil {
			t.Errorf("service %s is not wired", n)
		}
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds the static binary once per test run (CGO_ENABLED=0).
func buildBinary(t *testing.T) string { return buildBinaryB(t) }

func buildBinaryB(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "storefront-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "storefront")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for the exec copier and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a started storefront process.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed after Wait
	stderr *syncBuffer
}

// startBinary starts `storefront args...` on a free port and waits for /readyz.
func startBinary(t *testing.T, bin string, args ...string) (string, *proc) {
	return startBinaryTB(t, bin, args...)
}

func startBinaryTB(t testing.TB, bin string, args ...string) (string, *proc) {
	t.Helper()
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, append(args, "--listen", addr, "--admin-listen", "")...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, &proc{cmd: cmd, done: done, stderr: stderr}
			}
		}
		select {
		case <-done:
			t.Fatalf("storefront %v exited: %s", args, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("storefront %v not ready: %v\n%s", args, err, stderr)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func stopBinary(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit 15 s after SIGTERM:\n%s", p.stderr)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.stderr)
	}
}

// TestBinaryServices runs the real binary's identity, catalog and cart
// against real PostgreSQL and Redis, through env configuration (SF_DEPS).
func TestBinaryServices(t *testing.T) {
	procs.RequireBinaries(t)
	bin := buildBinary(t)
	pg := procs.NewTestPostgres(t)
	rd := procs.NewTestRedis(t)

	idBase, idProc := startBinary(t, bin, "identity", "--signing-seed", strings.Repeat("ab", 32))
	resp, err := http.Post(idBase+"/v1/login", "application/json", strings.NewReader(`{"username":"user0100","password":"pw-user0100"}`))
	if err != nil {
		t.Fatal(err)
	}
	var lr struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&lr)
	resp.Body.Close()
	if resp.StatusCode != 200 || lr.Token == "" {
		t.Fatalf("login via binary: %d", resp.StatusCode)
	}

	t.Setenv("SF_DEPS", "postgres="+pg.DSN("postgres"))
	catBase, catProc := startBinary(t, bin, "catalog")
	var list struct {
		Products []json.RawMessage `json:"products"`
		Total    int               `json:"total"`
	}
	resp, err = http.Get(catBase + "/v1/products?limit=5")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Products) != 5 || list.Total < 50 {
		t.Fatalf("catalog via binary: %d products, total %d", len(list.Products), list.Total)
	}

	t.Setenv("SF_DEPS", "redis="+rd.URL())
	cartBase, cartProc := startBinary(t, bin, "cart", "--region", "eu-west-1")
	resp, err = http.Post(cartBase+"/v1/carts/user0100/items", "application/json", strings.NewReader(`{"product_id":"p0001","qty":2}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"qty":2`) {
		t.Fatalf("cart via binary: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(cartBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `region="eu-west-1"`) {
		t.Fatal("--region not on metrics")
	}

	for _, p := range []*proc{idProc, catProc, cartProc} {
		stopBinary(t, p)
	}
	if !strings.Contains(idProc.stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no graceful-stop log line in identity's JSON logs:\n%s", idProc.stderr)
	}
}
