package checkout

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outagelab/outagelab/services/platform"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestDecodeRequest(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		h      http.Header
		status int
		code   string
		region string
	}{
		{"header only", "", hdr("Authorization", "Bearer t", "Idempotency-Key", "k", "X-Region", "eu-west-1"), 0, "", "eu-west-1"},
		{"body fields", `{"idempotency_key":"k","region":"us-east-1"}`, hdr("Authorization", "Bearer t"), 0, "", "us-east-1"},
		{"no token", "", hdr("Idempotency-Key", "k"), 401, "missing_token", ""},
		{"basic auth", "", hdr("Authorization", "Basic Zm9v", "Idempotency-Key", "k"), 401, "invalid_token", ""},
		{"no key", "", hdr("Authorization", "Bearer t"), 400, "missing_idempotency_key", ""},
		{"malformed", `{"region":`, hdr("Authorization", "Bearer t", "Idempotency-Key", "k"), 400, "bad_json", ""},
		{"unknown field", `{"amount":1}`, hdr("Authorization", "Bearer t", "Idempotency-Key", "k"), 400, "unknown_field", ""},
		{"oversized", `{"region":"` + strings.Repeat("x", platform.MaxBodyBytes) + `"}`, hdr("Authorization", "Bearer t", "Idempotency-Key", "k"), 413, "body_too_large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := DecodeRequest(strings.NewReader(c.body), c.h)
			if c.status == 0 {
				if err != nil || req.Region != c.region || req.Token != "t" || req.IdempotencyKey != "k" {
					t.Fatalf("req=%+v err=%v", req, err)
				}
				return
			}
			var ae *platform.APIError
			if !errors.As(err, &ae) || ae.Status != c.status || ae.Code != c.code {
				t.Fatalf("err = %v, want %d %s", err, c.status, c.code)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(`{"region":"eu-west-1"}`, "Bearer abc", "key-1", "")
	f.Add(``, "Bearer ", "", "us-east-1")
	f.Add(`{"idempotency_key":"k k"}`, "bearer x", "", "")
	f.Add(`null`, "Token x", "k", "x")
	f.Fuzz(func(t *testing.T, body, auth, key, region string) {
		h := http.Header{}
		h.Set("Authorization", auth)
		h.Set("Idempotency-Key", key)
		h.Set("X-Region", region)
		req, err := DecodeRequest(strings.NewReader(body), h)
		if err != nil {
			var ae *platform.APIError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
				t.Fatalf("error is not a 4xx APIError: %v", err)
			}
			return
		}
		if req.Token == "" || req.IdempotencyKey == "" || len(req.Region) > 32 {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
	})
}

func TestKeyLocksSerialiseOneKey(t *testing.T) {
	var (
		k       keyLocks
		inside  atomic.Int32
		maxSeen atomic.Int32
		wg      sync.WaitGroup
	)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := k.lock("same")
			n := inside.Add(1)
			if n > maxSeen.Load() {
				maxSeen.Store(n)
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if maxSeen.Load() != 1 {
		t.Fatalf("%d holders at once, want 1", maxSeen.Load())
	}
	if len(k.m) != 0 {
		t.Fatalf("lock table not emptied: %d entries", len(k.m))
	}
	// Different keys do not wait for each other.
	u1 := k.lock("a")
	done := make(chan struct{})
	go func() { k.lock("b")(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("lock b waited for lock a")
	}
	u1()
}
