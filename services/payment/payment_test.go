package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// newServer runs the provider behind the real platform middleware.
func newServer(t *testing.T, o Options) (*Provider, *httptest.Server) {
	t.Helper()
	cfg, err := platform.NewFlagSet("payment").Parse([]string{"--listen", "127.0.0.1:0"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := platform.NewWithLogger(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProvider(o)
	if err != nil {
		t.Fatal(err)
	}
	p.Register(srv.Mux)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return p, ts
}

func post(t *testing.T, url, key, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func authorize(t *testing.T, base, key string, amount int) string {
	t.Helper()
	st, m, _ := post(t, base+"/v1/authorize", key, fmt.Sprintf(`{"amount_cents":%d,"reference":"order-1"}`, amount))
	if st != 200 {
		t.Fatalf("authorize: %d %v", st, m)
	}
	return m["authorization_id"].(string)
}

func TestAuthorizeCaptureIdempotent(t *testing.T) {
	p, ts := newServer(t, Options{})
	a1 := authorize(t, ts.URL, "k-auth", 1299)
	a2 := authorize(t, ts.URL, "k-auth", 1299)
	if a1 != a2 {
		t.Fatalf("retried authorize made a new authorization: %s vs %s", a1, a2)
	}
	body := fmt.Sprintf(`{"authorization_id":%q}`, a1)
	st, c1, _ := post(t, ts.URL+"/v1/capture", "k-auth", body) // same key, other endpoint: its own scope
	if st != 200 || c1["amount_cents"] != 1299.0 || c1["idempotency_key"] != "k-auth" {
		t.Fatalf("capture: %d %v", st, c1)
	}
	st, c2, hdr := post(t, ts.URL+"/v1/capture", "k-auth", body)
	if st != 200 || c2["charge_id"] != c1["charge_id"] || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retried capture: %d %v replayed=%q", st, c2, hdr.Get("Idempotent-Replayed"))
	}
	if n := len(p.Charges()); n != 1 {
		t.Fatalf("%d charges after a retried capture, want 1", n)
	}
	// Capturing again under a new key is refused: an authorization is charged once.
	if st, m, _ := post(t, ts.URL+"/v1/capture", "k-other", body); st != 409 || m["code"] != "already_captured" {
		t.Fatalf("second capture: %d %v", st, m)
	}
	// Same key, different body.
	if st, m, _ := post(t, ts.URL+"/v1/authorize", "k-auth", `{"amount_cents":1}`); st != 409 || m["code"] != "idempotency_key_reuse" {
		t.Fatalf("key reuse: %d %v", st, m)
	}
	// The ledger lists charges with their keys.
	resp, err := http.Get(ts.URL + "/v1/charges")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Charges []Charge `json:"charges"`
		Count   int      `json:"count"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if list.Count != 1 || list.Charges[0].IdempotencyKey != "k-auth" || list.Charges[0].Reference != "order-1" {
		t.Fatalf("charges %+v", list)
	}
}

func TestConcurrentRetriesChargeOnce(t *testing.T) {
	p, ts := newServer(t, Options{Latency: 20 * time.Millisecond})
	a := authorize(t, ts.URL, "k-a", 500)
	body := fmt.Sprintf(`{"authorization_id":%q}`, a)
	var wg sync.WaitGroup
	ids := make([]string, 50)
	for i := range ids {
		wg.Go(func() {
			_, m, _ := post(t, ts.URL+"/v1/capture", "k-c", body)
			ids[i], _ = m["charge_id"].(string)
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("concurrent retries answered different charges: %v", ids)
		}
	}
	if n := len(p.Charges()); n != 1 {
		t.Fatalf("%d charges, want 1", n)
	}
}

// TestTimedOutRetriesChargeOnce: the caller's timeout is shorter than the
// provider's latency, so every attempt times out although the provider
// recorded the charge; retries with the same key never charge again.
func TestTimedOutRetriesChargeOnce(t *testing.T) {
	p, ts := newServer(t, Options{Latency: 150 * time.Millisecond})
	a := authorize(t, ts.URL, "k-a", 700)
	pol, _ := resilience.Preset(resilience.PresetFragile)
	pol.Timeout, pol.MaxAttempts = 40*time.Millisecond, 3
	dep, err := resilience.New("payment", pol, resilience.Options{URL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	hdr := http.Header{"Idempotency-Key": {"order-1-capture"}}
	err = dep.CallJSON(context.Background(), http.MethodPost, "/v1/capture", hdr, CaptureRequest{AuthorizationID: a}, nil)
	if resilience.Classify(err) != resilience.OutcomeTimeout {
		t.Fatalf("CallJSON = %v, want timeout", err)
	}
	pol.Timeout = time.Second
	dep2, _ := resilience.New("payment", pol, resilience.Options{URL: ts.URL})
	var c Charge
	if err := dep2.CallJSON(context.Background(), http.MethodPost, "/v1/capture", hdr, CaptureRequest{AuthorizationID: a}, &c); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Charges()); n != 1 || c.ID != p.Charges()[0].ID {
		t.Fatalf("%d charges after 4 timed-out/retried captures, want 1 (%+v)", n, c)
	}
}

func TestFailureRateChargesNothing(t *testing.T) {
	p, ts := newServer(t, Options{FailureRate: 1})
	st, m, _ := post(t, ts.URL+"/v1/authorize", "k", `{"amount_cents":100}`)
	if st != 503 || m["code"] != "provider_unavailable" {
		t.Fatalf("failure-rate 1: %d %v", st, m)
	}
	p.opts.FailureRate = 0
	// The failed attempt released the key: the retry is executed, once.
	authorize(t, ts.URL, "k", 100)
	authorize(t, ts.URL, "k", 100)
	p.mu.Lock()
	n := len(p.auths)
	p.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d authorizations, want 1", n)
	}
}

func TestFailureRateFraction(t *testing.T) {
	p, _ := NewProvider(Options{FailureRate: 0.25})
	mux := http.NewServeMux()
	p.Register(mux)
	fails := 0
	const n = 4000
	for i := range n {
		req := httptest.NewRequest("POST", "/v1/authorize", strings.NewReader(`{"amount_cents":1}`))
		req.Header.Set("Idempotency-Key", fmt.Sprint(i))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code == 503 {
			fails++
		}
	}
	if f := float64(fails) / n; f < 0.22 || f > 0.28 {
		t.Fatalf("failure rate 0.25 failed %.3f", f)
	}
}

func TestBadInput(t *testing.T) {
	_, ts := newServer(t, Options{})
	for _, tc := range []struct {
		path, key, body string
		status          int
		code            string
	}{
		{"/v1/authorize", "", `{"amount_cents":1}`, 400, "missing_idempotency_key"},
		{"/v1/authorize", "k k", `{"amount_cents":1}`, 400, "bad_idempotency_key"},
		{"/v1/authorize", "k", `{"amount_cents":0}`, 400, "bad_amount"},
		{"/v1/authorize", "k", `{"amount_cents":1,"currency":"usd"}`, 400, "bad_currency"},
		{"/v1/authorize", "k", `{"amount_cents":1,"tip":5}`, 400, "unknown_field"},
		{"/v1/authorize", "k", `{"amount_cents":`, 400, "bad_json"},
		{"/v1/authorize", "k", `{"amount_cents":"1"}`, 400, "bad_json"},
		{"/v1/capture", "k", `{}`, 400, "bad_authorization_id"},
		{"/v1/capture", "k", `{"authorization_id":"auth_nope"}`, 404, "authorization_not_found"},
		{"/v1/authorize", "k", `{"amount_cents":1,"reference":"` + strings.Repeat("r", 70000) + `"}`, 413, "body_too_large"},
	} {
		st, m, _ := post(t, ts.URL+tc.path, tc.key, tc.body)
		if st != tc.status || m["code"] != tc.code {
			t.Errorf("%s %s: %d %v, want %d %s", tc.path, tc.body[:min(len(tc.body), 40)], st, m, tc.status, tc.code)
		}
	}
	a := authorize(t, ts.URL, "ok", 100)
	if st, m, _ := post(t, ts.URL+"/v1/capture", "cap", fmt.Sprintf(`{"authorization_id":%q,"amount_cents":101}`, a)); st != 400 || m["code"] != "amount_exceeds_authorization" {
		t.Errorf("over-capture: %d %v", st, m)
	}
}

func TestMainServes(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--listen", addr, "--admin-listen", "", "--latency", "1ms", "--log-level", "error"})
	}()
	var resp *http.Response
	var err error
	for range 100 {
		if resp, err = http.Get("http://" + addr + "/healthz"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := Main(context.Background(), []string{"--failure-rate", "2"}); err == nil || !strings.Contains(err.Error(), "--failure-rate") {
		t.Fatalf("bad knob: %v", err)
	}
}

func FuzzParseAuthorize(f *testing.F) {
	f.Add([]byte(`{"amount_cents":100,"currency":"EUR","reference":"o1"}`))
	f.Add([]byte(`{"amount_cents":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseAuthorize(httptest.NewRequest("POST", "/", bytes.NewReader(b)))
		checkParse(t, err)
		if err == nil && (req.AmountCents <= 0 || len(req.Currency) != 3) {
			t.Fatalf("invalid request accepted: %+v", req)
		}
	})
}

func FuzzParseCapture(f *testing.F) {
	f.Add([]byte(`{"authorization_id":"auth_1","amount_cents":100}`))
	f.Add([]byte(`{"authorization_id":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseCapture(httptest.NewRequest("POST", "/", bytes.NewReader(b)))
		checkParse(t, err)
		if err == nil && (req.AuthorizationID == "" || req.AmountCents < 0) {
			t.Fatalf("invalid request accepted: %+v", req)
		}
	})
}

func checkParse(t *testing.T, err error) {
	if err == nil {
		return
	}
	var ae *platform.APIError
	if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 {
		t.Fatalf("error %v is not a 4xx APIError", err)
	}
}

func BenchmarkAuthorize(b *testing.B) {
	p, _ := NewProvider(Options{})
	mux := http.NewServeMux()
	p.Register(mux)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		req := httptest.NewRequest("POST", "/v1/authorize", strings.NewReader(`{"amount_cents":100}`))
		req.Header.Set("Idempotency-Key", fmt.Sprint(i))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		io.Copy(io.Discard, rec.Body)
	}
}

// An empty ledger is an empty list, not null: invariant checkers read it.
func TestEmptyLedgerIsList(t *testing.T) {
	p, err := NewProvider(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.handleCharges(rec, httptest.NewRequest(http.MethodGet, "/v1/charges", nil))
	if body := rec.Body.String(); !strings.Contains(body, `"charges":[]`) {
		t.Fatalf("empty ledger: %s", body)
	}
}
