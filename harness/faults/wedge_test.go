package faults

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestWedgedRemovalIsBoundedAndLoud reproduces the reported teardown hang at
// the applier: a latency fault and a black-hole timeout fault on one proxy
// with heavy traffic in flight to clients that stopped reading. Toxiproxy
// wedges (see proxy.Server); removing the faults must still return in
// bounded time and say loudly that removal and its fallback failed.
func TestWedgedRemovalIsBoundedAndLoud(t *testing.T) {
	r := newRig(t, 1)
	r.px.CallTimeout = time.Second
	r.env.RemoveTimeout = time.Second
	ctx := context.Background()
	edge := "client__echo-0"

	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() { // upstream pushing data as fast as it can
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				chunk := make([]byte, 16<<10)
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
		}
	}()
	if err := r.px.SetUpstream(ctx, edge, up.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := r.env.RememberProxies(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.app.Apply(ctx, spec("lag", "latency", Selector{Edges: []string{edge}},
		&Latency{Latency: Duration(10 * time.Millisecond), ToxicParams: DefaultToxic()})); err != nil {
		t.Fatal(err)
	}
	px, err := r.px.Proxy(ctx, edge)
	if err != nil {
		t.Fatal(err)
	}
	dial := func() {
		c, err := net.Dial("tcp", px.Listen)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	for range 8 {
		dial() // never read
	}
	// The wedge forms once the latency toxic is stuck writing to a client
	// that does not read: the timeout fault's add then hangs (an error).
	// Give a loaded machine a few chances to fill the socket buffers.
	wedged := false
	for attempt := 1; attempt <= 4 && !wedged; attempt++ {
		time.Sleep(time.Duration(attempt) * 300 * time.Millisecond)
		done := make(chan error, 1)
		go func() {
			_, err := r.app.Apply(ctx, spec("hole", "timeout", Selector{Edges: []string{edge}}, &Timeout{ToxicParams: DefaultToxic()}))
			done <- err
		}()
		select {
		case err := <-done:
			wedged = err != nil
		case <-time.After(time.Minute):
			t.Fatal("Apply did not return within a minute")
		}
		if !wedged {
			if _, err := r.app.Remove(ctx, "hole"); err != nil {
				t.Fatalf("no wedge yet, and removing the timeout fault failed: %v", err)
			}
		}
	}
	if !wedged {
		t.Fatal("the toxic chain never wedged: the test no longer reproduces the hang")
	}
	dial()
	time.Sleep(200 * time.Millisecond)

	done := make(chan error, 1)
	go func() {
		_, err := r.app.RemoveAll(ctx)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("RemoveAll did not return within two minutes")
	}
	if err == nil {
		t.Fatal("removal from a wedged proxy reported no problem")
	}
	var fb *FallbackError
	if !errors.As(err, &fb) {
		t.Fatalf("err = %v, want the fallback reported", err)
	}
	if len(r.app.Active()) != 0 {
		t.Errorf("faults still active after RemoveAll: %d", len(r.app.Active()))
	}
}
