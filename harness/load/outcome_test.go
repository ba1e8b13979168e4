package load

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// get sends one GET with a short timeout and classifies it as the generator does.
func get(t *testing.T, url string, timeout time.Duration) Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err == nil {
		defer resp.Body.Close()
		_, err = readAll(resp)
	}
	return Classify(resp, err)
}

func readAll(resp *http.Response) (int, error) {
	buf := make([]byte, 4096)
	n := 0
	for {
		m, err := resp.Body.Read(buf)
		n += m
		if err != nil {
			if err.Error() == "EOF" {
				return n, nil
			}
			return n, err
		}
	}
}

func TestClassifyRealSockets(t *testing.T) {
	// refused: a port that was just listening and is now closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if o := get(t, "http://"+closed+"/", time.Second); o != Refused {
		t.Errorf("closed port: %v, want refused", o)
	}

	// reset: accept, read the request, close with SO_LINGER 0 (RST).
	rst := listen(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		_, _ = c.Read(buf)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	if o := get(t, "http://"+rst+"/", 2*time.Second); o != Reset {
		t.Errorf("RST: %v, want reset", o)
	}

	// closed without an answer (EOF): also reset.
	eof := listen(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		_, _ = c.Read(buf)
		c.Close()
	})
	if o := get(t, "http://"+eof+"/", 2*time.Second); o != Reset {
		t.Errorf("EOF: %v, want reset", o)
	}

	// timeout: accept and never answer (a black hole).
	hole := listen(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		_, _ = c.Read(buf)
		time.Sleep(2 * time.Second)
		c.Close()
	})
	if o := get(t, "http://"+hole+"/", 150*time.Millisecond); o != Timeout {
		t.Errorf("black hole: %v, want timeout", o)
	}

	// reset mid-body: headers then RST.
	mid := listen(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		_, _ = c.Read(buf)
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial"))
		time.Sleep(20 * time.Millisecond)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	if o := get(t, "http://"+mid+"/", 2*time.Second); o != Reset {
		t.Errorf("reset mid-body: %v, want reset", o)
	}

	// statuses and the degraded header.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/degraded":
			w.Header().Set(DegradedHeader, "recommendations")
		case "/404":
			w.WriteHeader(404)
		case "/503":
			w.WriteHeader(503)
		case "/302":
			w.WriteHeader(302)
		}
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	for path, want := range map[string]Outcome{"/": OK, "/degraded": Fallback, "/404": Status4xx, "/503": Status5xx, "/302": Other} {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if o := Classify(resp, nil); o != want {
			t.Errorf("%s: %v, want %v", path, o, want)
		}
	}
}

func listen(t *testing.T, handle func(net.Conn)) string {
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
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

func TestClassifyErrorFallbacks(t *testing.T) {
	if ClassifyError(errors.New("tls: bad certificate")) != Other {
		t.Error("unknown error not other")
	}
	if Classify(nil, nil) != Other {
		t.Error("nil response not other")
	}
	if Outcome(200).String() != "other" || Fallback.String() != "fallback" {
		t.Error("names")
	}
	if !Fallback.Success() || Status5xx.Success() {
		t.Error("success")
	}
}
