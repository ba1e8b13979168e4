package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func newDep(t *testing.T, name string, p Policy, url string) (*Dependency, *Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, "test", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(name, p, Options{URL: url, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	d.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() } // no real waits in unit tests
	return d, m, reg
}

func attempts(m *Metrics, dep, outcome string) int {
	return int(value(m.requests.WithLabelValues(dep, outcome)))
}

func calls(m *Metrics, dep, result string) int {
	return int(value(m.calls.WithLabelValues(dep, result)))
}

func policy(attemptsN int) Policy {
	return Policy{Name: "t", Timeout: time.Second, MaxAttempts: attemptsN, BackoffInitial: time.Millisecond, BackoffMax: time.Millisecond}
}

func TestNewRejectsBadInput(t *testing.T) {
	if _, err := New("", policy(1), Options{}); err == nil {
		t.Error("empty name accepted")
	}
	if _, err := New("x", Policy{}, Options{}); err == nil {
		t.Error("zero policy accepted")
	}
	if _, err := New("x", policy(1), Options{URL: "http://[::1"}); err == nil {
		t.Error("bad URL accepted")
	}
}

func TestDoRetriesAndRecords(t *testing.T) {
	d, m, _ := newDep(t, "catalog", policy(3), "")
	var n int
	err := d.Do(context.Background(), func(ctx context.Context) error {
		n++
		if n < 3 {
			return fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("Do = %v after %d attempts, want success on the 3rd", err, n)
	}
	if a, o := attempts(m, "catalog", OutcomeRefused), attempts(m, "catalog", OutcomeOK); a != 2 || o != 1 {
		t.Errorf("attempts refused=%d ok=%d, want 2 and 1", a, o)
	}
	if c := calls(m, "catalog", ResultOK); c != 1 {
		t.Errorf("calls ok = %d, want 1", c)
	}

	// All attempts fail: error carries outcome and attempt count.
	err = d.Do(context.Background(), func(ctx context.Context) error { return &HTTPError{Status: 502} })
	var e *Error
	if !errors.As(err, &e) || e.Attempts != 3 || e.Outcome != Outcome5xx || Classify(err) != Outcome5xx {
		t.Fatalf("Do = %v, want *Error 5xx after 3 attempts", err)
	}
	if c := calls(m, "catalog", ResultError); c != 1 {
		t.Errorf("calls error = %d, want 1", c)
	}

	// A client error is final and not a failed call.
	n = 0
	err = d.Do(context.Background(), func(ctx context.Context) error { n++; return ClientError(errors.New("no rows")) })
	if n != 1 || Classify(err) != Outcome4xx {
		t.Fatalf("client error: %d attempts, class %s; want 1 and 4xx", n, Classify(err))
	}
	if c := calls(m, "catalog", ResultError); c != 1 {
		t.Errorf("a 4xx counted as a failed call")
	}
}

func TestDoAttemptTimeout(t *testing.T) {
	p := policy(2)
	p.Timeout = 30 * time.Millisecond
	d, m, _ := newDep(t, "slow", p, "")
	start := time.Now()
	err := d.Do(context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		return io.EOF // a driver that reports the cut connection, not the deadline
	})
	if Classify(err) != OutcomeTimeout {
		t.Fatalf("Do = %v (class %s), want timeout", err, Classify(err))
	}
	if got := attempts(m, "slow", OutcomeTimeout); got != 2 {
		t.Errorf("timeout attempts = %d, want 2", got)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("two 30ms attempts took %s", el)
	}
}

func TestDoStopsWhenCallerGivesUp(t *testing.T) {
	d, _, _ := newDep(t, "x", policy(5), "")
	ctx, cancel := context.WithCancel(context.Background())
	var n int
	err := d.Do(ctx, func(context.Context) error { n++; cancel(); return syscall.ECONNRESET })
	if err == nil || n != 1 {
		t.Fatalf("Do = %v after %d attempts, want 1 attempt once the caller cancelled", err, n)
	}
}

func TestBreakerTransitions(t *testing.T) {
	p := policy(1)
	p.Breaker = &BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: 80 * time.Millisecond, HalfOpenMaxRequests: 1}
	d, m, _ := newDep(t, "orders", p, "")
	fail := func(context.Context) error { return syscall.ECONNREFUSED }
	ok := func(context.Context) error { return nil }
	state := func() float64 { return d.breakerState() }

	for range 3 {
		d.Do(context.Background(), fail)
	}
	if d.BreakerState() != "open" || state() != 2 {
		t.Fatalf("after 3 failures breaker is %s (%v), want open (2)", d.BreakerState(), state())
	}
	var ran bool
	err := d.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	if ran || Classify(err) != OutcomeBreakerOpen || !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("open breaker: ran=%v err=%v, want fast breaker_open", ran, err)
	}
	if attempts(m, "orders", OutcomeBreakerOpen) != 1 {
		t.Error("breaker_open attempt not recorded")
	}
	time.Sleep(120 * time.Millisecond)
	if d.BreakerState() != "half-open" || state() != 1 {
		t.Fatalf("after open timeout breaker is %s, want half-open", d.BreakerState())
	}
	// A failed probe opens it again.
	d.Do(context.Background(), fail)
	if d.BreakerState() != "open" {
		t.Fatalf("failed probe left breaker %s, want open", d.BreakerState())
	}
	time.Sleep(120 * time.Millisecond)
	if err := d.Do(context.Background(), ok); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if d.BreakerState() != "closed" || state() != 0 {
		t.Fatalf("successful probe left breaker %s, want closed", d.BreakerState())
	}
	// 4xx answers never trip it.
	for range 10 {
		d.Do(context.Background(), func(context.Context) error { return &HTTPError{Status: 404} })
	}
	if d.BreakerState() != "closed" {
		t.Fatal("4xx answers tripped the breaker")
	}
}

func TestBreakerFailureRatio(t *testing.T) {
	p := policy(1)
	p.Breaker = &BreakerSettings{FailureRatio: 0.5, MinRequests: 10, Interval: time.Minute, OpenTimeout: time.Minute}
	d, _, _ := newDep(t, "x", p, "")
	for i := range 9 {
		d.Do(context.Background(), func(context.Context) error {
			if i%2 == 0 {
				return syscall.ECONNRESET
			}
			return nil
		})
	}
	if d.BreakerState() != "closed" {
		t.Fatal("tripped below MinRequests")
	}
	d.Do(context.Background(), func(context.Context) error { return syscall.ECONNRESET })
	if d.BreakerState() != "open" {
		t.Fatalf("6/10 failures left breaker %s, want open", d.BreakerState())
	}
}

func TestBulkhead(t *testing.T) {
	p := policy(3)
	p.MaxInFlight = 2
	d, m, _ := newDep(t, "payment", p, "")
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			d.Do(context.Background(), func(ctx context.Context) error { started.Done(); <-release; return nil })
		})
	}
	started.Wait()
	if got := value(m.inflight.WithLabelValues("payment")); got != 2 {
		t.Errorf("inflight = %v, want 2", got)
	}
	var ran bool
	err := d.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	if ran || Classify(err) != OutcomeBulkheadFull {
		t.Fatalf("third call: ran=%v err=%v, want bulkhead_full without running", ran, err)
	}
	if attempts(m, "payment", OutcomeBulkheadFull) != 1 {
		t.Error("bulkhead_full must fail fast: exactly one attempt recorded")
	}
	close(release)
	wg.Wait()
	if err := d.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if got := value(m.inflight.WithLabelValues("payment")); got != 0 {
		t.Errorf("inflight = %v after all calls, want 0", got)
	}
}

func TestEmptyDiscovery(t *testing.T) {
	var empty atomic.Bool
	empty.Store(true)
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg, "gw", "eu-west-1")
	d, err := New("identity", policy(2), Options{URL: "http://127.0.0.1:1", Metrics: m, EmptyDiscovery: empty.Load})
	if err != nil {
		t.Fatal(err)
	}
	d.sleep = func(ctx context.Context, _ time.Duration) error { return nil }
	var ran bool
	err = d.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	if ran || Classify(err) != OutcomeDNS {
		t.Fatalf("empty discovery: ran=%v err=%v, want dns without running", ran, err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error %q does not name the host", err)
	}
	if got := attempts(m, "identity", OutcomeDNS); got != 2 {
		t.Errorf("dns attempts = %d, want 2 (retried)", got)
	}
	empty.Store(false)
	if err := d.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("discovery restored: %v", err)
	}
}

func TestDoFallback(t *testing.T) {
	for _, allowed := range []bool{true, false} {
		p := policy(1)
		p.Fallback = allowed
		d, m, _ := newDep(t, "recommendations", p, "")
		var served bool
		fellBack, err := d.DoFallback(context.Background(),
			func(context.Context) error { return syscall.ECONNREFUSED },
			func(_ context.Context, cause error) error {
				if Classify(cause) != OutcomeRefused {
					t.Errorf("fallback cause %v", cause)
				}
				served = true
				return nil
			})
		if allowed {
			if !fellBack || err != nil || !served {
				t.Fatalf("allowed: fellBack=%v err=%v served=%v", fellBack, err, served)
			}
			if calls(m, "recommendations", ResultFallback) != 1 || value(m.fallback.WithLabelValues("recommendations")) != 1 {
				t.Error("fallback not recorded")
			}
		} else {
			if fellBack || err == nil || served {
				t.Fatalf("not allowed: fellBack=%v err=%v served=%v", fellBack, err, served)
			}
			if calls(m, "recommendations", ResultError) != 1 {
				t.Error("failed call not recorded")
			}
		}
	}
	// A failing fallback reports both.
	p := policy(1)
	p.Fallback = true
	d, _, _ := newDep(t, "x", p, "")
	_, err := d.DoFallback(context.Background(), func(context.Context) error { return syscall.ECONNREFUSED },
		func(context.Context, error) error { return errors.New("cache empty") })
	if err == nil || !strings.Contains(err.Error(), "cache empty") || Classify(err) != OutcomeRefused {
		t.Fatalf("failed fallback err = %v", err)
	}
}

// flaky answers 503 until it has been called failN times.
func flaky(t *testing.T, failN int32, status int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= failN {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, `{"error":"busy","code":"busy"}`)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestDoHTTPRetriesOnlyIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name, method, key string
		wantCalls         int32
		wantErr           bool
	}{
		{"GET retried", http.MethodGet, "", 3, false},
		{"POST not retried", http.MethodPost, "", 1, true},
		{"POST with key retried", http.MethodPost, "k1", 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := flaky(t, 2, http.StatusServiceUnavailable)
			d, m, _ := newDep(t, "checkout", policy(3), srv.URL)
			resp, err := d.DoHTTP(context.Background(), func(ctx context.Context) (*http.Request, error) {
				req, err := http.NewRequestWithContext(ctx, tc.method, d.URL("/x"), strings.NewReader("{}"))
				if tc.key != "" && err == nil {
					req.Header.Set("Idempotency-Key", tc.key)
				}
				return req, err
			})
			if n.Load() != tc.wantCalls {
				t.Fatalf("server saw %d requests, want %d", n.Load(), tc.wantCalls)
			}
			if tc.wantErr {
				var he *HTTPError
				if err == nil || resp != nil || !errors.As(err, &he) || he.Status != 503 || he.Code != "busy" {
					t.Fatalf("DoHTTP = %v, %v; want nil response and HTTPError 503 busy", resp, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != `{"ok":true}` {
				t.Fatalf("body %q", b)
			}
			if attempts(m, "checkout", Outcome5xx) != 2 || attempts(m, "checkout", OutcomeOK) != 1 {
				t.Error("per-attempt outcomes not recorded")
			}
		})
	}
}

func TestDoHTTPRefusedPostIsRetried(t *testing.T) {
	d, m, _ := newDep(t, "payment", policy(3), "http://"+closedPort(t))
	_, err := d.DoHTTP(context.Background(), func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodPost, d.URL("/v1/authorize"), strings.NewReader("{}"))
	})
	if Classify(err) != OutcomeRefused {
		t.Fatalf("err = %v, want refused", err)
	}
	if got := attempts(m, "payment", OutcomeRefused); got != 3 {
		t.Fatalf("refused attempts = %d, want 3: a refused POST never reached the server", got)
	}
}

func TestDoHTTP4xxReturnsResponse(t *testing.T) {
	srv, n := flaky(t, 100, http.StatusNotFound)
	d, m, _ := newDep(t, "catalog", policy(3), srv.URL)
	resp, err := d.DoHTTP(context.Background(), func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, d.URL("products/9"), nil)
	})
	if err != nil || resp.StatusCode != 404 || n.Load() != 1 {
		t.Fatalf("DoHTTP = %v, %v after %d requests; want the 404 response, once", resp, err, n.Load())
	}
	if attempts(m, "catalog", Outcome4xx) != 1 || calls(m, "catalog", ResultOK) != 1 {
		t.Error("4xx attempt/call not recorded as 4xx/ok")
	}
	var out struct{ OK bool }
	err = d.CallJSON(context.Background(), http.MethodGet, "/products/9", nil, nil, &out)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 404 || Classify(err) != Outcome4xx {
		t.Fatalf("CallJSON 404 = %v", err)
	}
}

func TestDoHTTPTimeoutAndReset(t *testing.T) {
	p := policy(2)
	p.Timeout = 50 * time.Millisecond
	srv := sleepServer(t, 5*time.Second)
	d, m, _ := newDep(t, "slow", p, srv.URL)
	_, err := d.DoHTTP(context.Background(), func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, d.URL("/"), nil)
	})
	if Classify(err) != OutcomeTimeout || attempts(m, "slow", OutcomeTimeout) != 2 {
		t.Fatalf("err = %v, timeouts = %d; want 2 timeouts", err, attempts(m, "slow", OutcomeTimeout))
	}
	r, m2, _ := newDep(t, "rst", policy(2), "http://"+resetServer(t))
	_, err = r.DoHTTP(context.Background(), func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, r.URL("/a/long/enough/path"), nil)
	})
	if Classify(err) != OutcomeReset || attempts(m2, "rst", OutcomeReset) != 2 {
		t.Fatalf("err = %v, resets = %d; want 2 resets", err, attempts(m2, "rst", OutcomeReset))
	}
}

func TestCallJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") != "abc" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	defer srv.Close()
	d, _, _ := newDep(t, "echo", policy(1), srv.URL+"/")
	var out map[string]int
	err := d.CallJSON(context.Background(), http.MethodPost, "/echo", http.Header{"Idempotency-Key": {"abc"}}, map[string]int{"a": 1}, &out)
	if err != nil || out["a"] != 1 {
		t.Fatalf("CallJSON = %v, %v", out, err)
	}
}

func TestMetricsExposition(t *testing.T) {
	p, _ := Preset(PresetHardened)
	d, _, reg := newDep(t, "catalog", p, "")
	d.Do(context.Background(), func(context.Context) error { return nil })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{ // series per family, pre-created before any failure
		"storefront_dependency_requests_total": 10, "storefront_dependency_calls_total": 3,
		"storefront_dependency_duration_seconds": 1, "storefront_breaker_state": 1,
		"storefront_fallback_served_total": 1, "storefront_inflight": 1,
	}
	for _, mf := range mfs {
		n, ok := want[mf.GetName()]
		if !ok {
			t.Errorf("unexpected family %s", mf.GetName())
			continue
		}
		delete(want, mf.GetName())
		if len(mf.GetMetric()) != n {
			t.Errorf("%s has %d series, want %d", mf.GetName(), len(mf.GetMetric()), n)
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["service"] != "test" || labels["region"] != "us-east-1" || labels["dependency"] != "catalog" {
				t.Errorf("%s labels %v", mf.GetName(), labels)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("missing families %v", want)
	}
}

func BenchmarkDoSuccess(b *testing.B) {
	p, _ := Preset(PresetHardened)
	m, _ := NewMetrics(prometheus.NewRegistry(), "b", "r")
	d, _ := New("x", p, Options{Metrics: m})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		d.Do(ctx, fn)
	}
}

func BenchmarkDoHTTPLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	p, _ := Preset(PresetHardened)
	d, _ := New("x", p, Options{URL: srv.URL})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.DoHTTP(ctx, func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
