package proxy

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestZZExperiment(t *testing.T) {
	srv, err := StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := net.Listen("tcp", "127.0.0.1:0")
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				go func() { for { if _, err := c.Read(buf); err != nil { return } } }()
				for {
					if _, err := c.Write(make([]byte, 1024)); err != nil {
						return
					}
				}
			}()
		}
	}()
	c := NewClient(srv.URL())
	ctx := context.Background()
	p, err := c.CreateProxy(ctx, Spec{Name: "x", Listen: "127.0.0.1:0", Upstream: up.Addr().String(), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.AddToxic(ctx, "x", Toxic{Name: "lat", Type: "latency", Stream: Downstream, Toxicity: 1, Attributes: Attributes{"latency": 100}})
	_ = c.AddToxic(ctx, "x", Toxic{Name: "to", Type: "timeout", Stream: Downstream, Toxicity: 1, Attributes: Attributes{"timeout": 0}})
	for i := 0; i < 20; i++ {
		conn, err := net.Dial("tcp", p.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() { for { if _, err := conn.Write(make([]byte, 1024)); err != nil { return } } }()
	}
	time.Sleep(500 * time.Millisecond)
	t0 := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = c.RemoveToxic(rctx, "x", "lat")
	cancel()
	t.Logf("remove: %v after %v", err, time.Since(t0))
	done := make(chan error)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		t.Logf("close: %v after %v", err, time.Since(t0))
	case <-time.After(20 * time.Second):
		t.Fatal("close hangs")
	}
}
