package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// resetServer accepts connections, reads the request's first bytes and
// aborts the connection with an RST (SO_LINGER 0), like Toxiproxy's reset_peer.
func resetServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 16)
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				io.ReadFull(c, buf)
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func sleepServer(t *testing.T, d time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestClassifyRealSockets(t *testing.T) {
	client := NewHTTPClient()
	t.Run("refused", func(t *testing.T) {
		err := get(context.Background(), client, "http://"+closedPort(t)+"/")
		if got := Classify(err); got != OutcomeRefused {
			t.Fatalf("Classify(%v) = %s, want refused", err, got)
		}
	})
	t.Run("reset", func(t *testing.T) {
		err := get(context.Background(), client, "http://"+resetServer(t)+"/some/path/long/enough")
		if got := Classify(err); got != OutcomeReset {
			t.Fatalf("Classify(%v) = %s, want reset", err, got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := sleepServer(t, 5*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := get(ctx, client, srv.URL)
		if got := Classify(err); got != OutcomeTimeout {
			t.Fatalf("Classify(%v) = %s, want timeout", err, got)
		}
	})
	t.Run("net deadline", func(t *testing.T) {
		srv := sleepServer(t, 5*time.Second)
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		if got := Classify(err); got != OutcomeTimeout {
			t.Fatalf("Classify(%v) = %s, want timeout", err, got)
		}
	})
}

func TestClassifyValues(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, OutcomeOK},
		{&net.DNSError{Err: "no such host", Name: "catalog", IsNotFound: true}, OutcomeDNS},
		{fmt.Errorf("dial: %w", &net.DNSError{Err: "i/o timeout", IsTimeout: true}), OutcomeDNS},
		{fmt.Errorf("x: %w", syscall.ECONNREFUSED), OutcomeRefused},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, OutcomeReset},
		{io.ErrUnexpectedEOF, OutcomeReset},
		{context.DeadlineExceeded, OutcomeTimeout},
		{&HTTPError{Status: 503}, Outcome5xx},
		{&HTTPError{Status: 409}, Outcome4xx},
		{ClientError(errors.New("no rows")), Outcome4xx},
		{fmt.Errorf("x: %w", ErrBulkheadFull), OutcomeBulkheadFull},
		{gobreaker.ErrOpenState, OutcomeBreakerOpen},
		{gobreaker.ErrTooManyRequests, OutcomeBreakerOpen},
		{&Error{Outcome: OutcomeTimeout, Err: io.EOF}, OutcomeTimeout},
		{context.Canceled, OutcomeOther},
		{errors.New("weird"), OutcomeOther},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	if ClientError(nil) != nil {
		t.Error("ClientError(nil) != nil")
	}
}

func BenchmarkClassify(b *testing.B) {
	err := fmt.Errorf("get: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED})
	for b.Loop() {
		Classify(err)
	}
}
