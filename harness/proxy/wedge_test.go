package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// within runs f and fails the test if it has not returned by the generous
// bound: a hang check, not a speed check.
func within[T any](t *testing.T, bound time.Duration, what string, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(bound):
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		_ = os.WriteFile(os.TempDir()+"/outagelab-wedge-stacks.txt", buf[:n], 0o644)
		t.Fatalf("%s did not return within %s (stacks in %s/outagelab-wedge-stacks.txt)", what, bound, os.TempDir())
		panic("unreachable")
	}
}

// wedge builds the situation of the reported teardown hang: a latency toxic
// on a proxy whose clients have stopped reading under heavy downstream
// traffic, then a black-hole timeout toxic added behind it (the add wedges
// the toxic chain), then one more client (Toxiproxy's accept loop blocks on
// the wedged chain). It returns the server, client, proxy address and the
// clients' connections.
func wedge(t *testing.T) (*Server, *Client, string, []net.Conn) {
	t.Helper()
	srv, err := StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.StopTimeout = time.Second
	t.Cleanup(func() { _ = srv.Close() })
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	go func() { // upstream: writes as fast as it can, reads and drops
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				go func() {
					buf := make([]byte, 32<<10)
					for {
						if _, err := c.Read(buf); err != nil {
							return
						}
					}
				}()
				chunk := make([]byte, 16<<10)
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
		}
	}()
	c := NewClient(srv.URL())
	c.CallTimeout = time.Second
	t.Cleanup(c.Close)
	ctx := context.Background()
	p, err := c.CreateProxy(ctx, Spec{Name: "x", Listen: "127.0.0.1:0", Upstream: up.Addr().String(), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	dial := func() {
		conn, err := net.Dial("tcp", p.Listen)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conns = append(conns, conn)
	}
	if err := c.AddToxic(ctx, "x", Toxic{Name: "lat", Type: "latency", Stream: Downstream, Toxicity: 1, Attributes: Attributes{"latency": 10}}); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		dial() // never read: the proxy's writes to them block
	}
	// The latency toxic gets stuck writing to a client that does not read,
	// so it never takes the interrupt an add sends it: the add hangs (an
	// error here). Give a loaded machine a few chances to fill the buffers.
	wedged := false
	for attempt := 1; attempt <= 4 && !wedged; attempt++ {
		time.Sleep(time.Duration(attempt) * 300 * time.Millisecond)
		err := within(t, time.Minute, "AddToxic", func() error {
			return c.AddToxic(ctx, "x", Toxic{Name: "hole", Type: "timeout", Stream: Downstream, Toxicity: 1, Attributes: Attributes{"timeout": 0}})
		})
		wedged = err != nil
		if !wedged {
			if err := c.RemoveToxic(ctx, "x", "hole"); err != nil {
				t.Fatalf("no wedge yet, and removing the timeout toxic failed: %v", err)
			}
		}
	}
	if !wedged {
		t.Fatal("the toxic chain never wedged: the test no longer reproduces the hang")
	}
	dial()
	time.Sleep(200 * time.Millisecond) // accepted: the accept loop now waits on the wedged chain
	return srv, c, p.Listen, conns
}

func TestWedgedToxicRemovalIsBoundedAndLoud(t *testing.T) {
	_, c, listen, _ := wedge(t)
	type res struct {
		how Removal
		err error
	}
	known := &Spec{Name: "x", Listen: listen}
	r := within(t, time.Minute, "RemoveToxicGuaranteed", func() res {
		how, err := c.RemoveToxicGuaranteed(context.Background(), "x", "lat", 500*time.Millisecond, known)
		return res{how, err}
	})
	if r.how != RemovedByRecreate {
		t.Fatalf("removal = %q (%v), want the fallback to have been tried", r.how, r.err)
	}
	if r.err == nil {
		// The fallback worked: the proxy must be fresh.
		px, err := c.Proxy(context.Background(), "x")
		if err != nil || len(px.ActiveToxics) != 0 {
			t.Fatalf("after fallback: %+v %v", px, err)
		}
		return
	}
	if !strings.Contains(r.err.Error(), "fallback") {
		t.Errorf("error does not say the fallback failed: %v", r.err)
	}
}

func TestWedgedServerCloseIsBounded(t *testing.T) {
	srv, _, listen, conns := wedge(t)
	err := within(t, time.Minute, "Server.Close", srv.Close)
	if err == nil || !strings.Contains(err.Error(), "by force") {
		t.Fatalf("Close = %v, want the forced stop reported", err)
	}
	if again := srv.Close(); again == nil || again.Error() != err.Error() {
		t.Errorf("second Close = %v, want the first's error", again)
	}
	// Every client connection is closed by the proxy now (EOF or reset after
	// whatever was buffered), not left hanging.
	for i, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 64<<10)
		var rerr error
		for rerr == nil {
			_, rerr = conn.Read(buf)
		}
		var ne net.Error
		if errors.As(rerr, &ne) && ne.Timeout() {
			t.Errorf("conn %d still open after Close", i)
		}
	}
	if conn, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		conn.Close()
		t.Errorf("proxy %s still accepts connections after Close", listen)
	}
	if conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		conn.Close()
		t.Errorf("API %s still accepts connections after Close", srv.Addr())
	}
}

func TestCleanCloseReportsNoError(t *testing.T) {
	srv, err := StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewClient(srv.URL()).CreateProxy(context.Background(), Spec{Name: "y", Listen: "127.0.0.1:0", Upstream: "127.0.0.1:1", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
}

// TestCallTimeoutBoundsEveryCall: an API that never answers cannot hold a
// call longer than CallTimeout, even when ctx allows an hour, and the
// removal fallback gives up in bounded time too.
func TestCallTimeoutBoundsEveryCall(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	c := NewClient(hang.URL)
	c.CallTimeout = 200 * time.Millisecond
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	err := within(t, 30*time.Second, "RemoveToxic", func() error { return c.RemoveToxic(ctx, "x", "t") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RemoveToxic on a hung API = %v, want a deadline error", err)
	}
	type res struct {
		how Removal
		err error
	}
	r := within(t, 30*time.Second, "RemoveToxicGuaranteed", func() res {
		how, err := c.RemoveToxicGuaranteed(ctx, "x", "t", time.Hour, &Spec{Name: "x", Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2"})
		return res{how, err}
	})
	if r.how != RemovedByRecreate || r.err == nil {
		t.Errorf("guaranteed removal on a hung API = %q, %v; want a failed fallback, reported", r.how, r.err)
	}
}

// TestListWhileUpdating: listing proxies while one is disabled and enabled
// again is not a data race in the embedded server (run with -race).
func TestListWhileUpdating(t *testing.T) {
	c, _ := withProxy(t)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 30 {
			if _, err := c.Proxies(ctx); err != nil {
				t.Error(err)
				return
			}
			if _, err := c.Proxy(ctx, "echo"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 30 {
		if err := c.SetEnabled(ctx, "echo", i%2 == 1); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}
