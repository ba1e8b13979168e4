package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/testenv"
)

// withProxy starts an embedded Toxiproxy, an echo HTTP server and a proxy
// "echo" in front of it; it returns the client and the proxy's URL.
func withProxy(t testing.TB) (*Client, string) {
	t.Helper()
	srv, err := StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "echo "+r.URL.Path)
	}))
	t.Cleanup(echo.Close)
	c := NewClient(srv.URL())
	t.Cleanup(c.Close)
	p, err := c.CreateProxy(context.Background(), Spec{Name: "echo", Listen: "127.0.0.1:0", Upstream: strings.TrimPrefix(echo.URL, "http://"), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(p.Listen, ":0") {
		t.Fatalf("listen address not resolved: %s", p.Listen)
	}
	return c, "http://" + p.Listen
}

func get(url string, timeout time.Duration) (string, error) {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestServerAndClient(t *testing.T) {
	c, url := withProxy(t)
	ctx := context.Background()
	if v, err := c.Version(ctx); err != nil || v == "" {
		t.Fatalf("version %q %v", v, err)
	}
	if body, err := get(url+"/x", 2*time.Second); err != nil || body != "echo /x" {
		t.Fatalf("through proxy: %q %v", body, err)
	}
	if err := c.AddToxic(ctx, "echo", Toxic{Name: "lat", Type: "latency", Stream: Downstream, Toxicity: 1, Attributes: Attributes{"latency": 50}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := get(url, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("latency toxic: request took %v, want 50ms..500ms", d)
	}
	px, err := c.Proxy(ctx, "echo")
	if err != nil || len(px.ActiveToxics) != 1 {
		t.Fatalf("proxy %+v %v", px, err)
	}
	if err := c.RemoveToxic(ctx, "echo", "lat"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveToxic(ctx, "echo", "lat"); err != nil {
		t.Errorf("removing a missing toxic: %v", err)
	}
	if err := c.SetEnabled(ctx, "echo", false); err != nil {
		t.Fatal(err)
	}
	if _, err := get(url, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("disabled proxy: err = %v, want connection refused", err)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := get(url, time.Second); err != nil {
		t.Errorf("after reset: %v", err)
	}
	if _, err := c.Proxy(ctx, "nope"); !IsNotFound(err) {
		t.Errorf("missing proxy: %v", err)
	}
}

// TestRemoveFallback forces the removal fallback (a deadline that has
// already passed) and checks the toxic is gone and the proxy still works on
// the same address.
func TestRemoveFallback(t *testing.T) {
	c, url := withProxy(t)
	ctx := context.Background()
	if err := c.AddToxic(ctx, "echo", Toxic{Name: "t", Type: "timeout", Stream: Downstream, Toxicity: 1, Attributes: Attributes{"timeout": 0}}); err != nil {
		t.Fatal(err)
	}
	how, err := c.RemoveToxicGuaranteed(ctx, "echo", "t", time.Nanosecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if how != RemovedByRecreate {
		t.Fatalf("how = %s, want the fallback", how)
	}
	px, err := c.Proxy(ctx, "echo")
	if err != nil || len(px.ActiveToxics) != 0 || !px.Enabled {
		t.Fatalf("after fallback: %+v %v", px, err)
	}
	if body, err := get(url, 2*time.Second); err != nil || body != "echo /" {
		t.Fatalf("after fallback: %q %v", body, err)
	}
}

// TestOfficialCLI drives the embedded server with the official toxiproxy-cli.
func TestOfficialCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds toxiproxy-cli")
	}
	goBin := testenv.NeedTool(t, "go")
	c, _ := withProxy(t)
	// `go install pkg@version` resolves the CLI's own dependencies (urfave/cli)
	// from its go.mod, so our go.mod need not carry them.
	dir := t.TempDir()
	build := exec.Command(goBin, "install", "github.com/Shopify/toxiproxy/v2/cmd/cli@v2.12.0")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		testenv.Need(t, "toxiproxy-cli, built by `go install` (Go module proxy or module cache)", fmt.Errorf("%w\n%s", err, out))
	}
	cli := filepath.Join(dir, "cli")
	host := strings.TrimPrefix(c.URL(), "http://")
	out, err := exec.Command(cli, "-h", host, "toxic", "add", "-t", "latency", "-a", "latency=10", "-n", "cli_lat", "echo").CombinedOutput()
	if err != nil {
		t.Fatalf("cli: %v\n%s", err, out)
	}
	px, err := c.Proxy(context.Background(), "echo")
	if err != nil || len(px.ActiveToxics) != 1 || px.ActiveToxics[0].Name != "cli_lat" {
		t.Fatalf("toxic added by cli not visible: %+v %v", px, err)
	}
	out, err = exec.Command(cli, "-h", host, "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "echo") {
		t.Fatalf("cli list: %v\n%s", err, out)
	}
}

func TestServerCloseFreesListeners(t *testing.T) {
	srv, err := StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(srv.URL())
	p, err := c.CreateProxy(context.Background(), Spec{Name: "x", Listen: "127.0.0.1:0", Upstream: "127.0.0.1:1", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", p.Listen, time.Second); err == nil {
		t.Error("proxy listener still open after Close")
	}
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Error("API listener still open after Close")
	}
	_ = srv.Close() // idempotent
}

// BenchmarkRequest compares a request direct to an echo server with the same
// request through a Toxiproxy proxy (no toxics), keep-alive connections.
func BenchmarkRequest(b *testing.B) {
	c, url := withProxy(b)
	px, _ := c.Proxy(context.Background(), "echo")
	direct := "http://" + px.Upstream
	for _, bc := range []struct{ name, url string }{{"direct", direct}, {"toxiproxy", url}} {
		b.Run(bc.name, func(b *testing.B) {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for b.Loop() {
				resp, err := hc.Get(bc.url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
