package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outagelab/outagelab/services/resilience"
)

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newTestServer(t *testing.T, args ...string) (*Server, *logBuf) {
	t.Helper()
	cfg, err := NewFlagSet("catalog").Parse(append([]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, args...), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	lb := &logBuf{}
	s, err := NewWithLogger(cfg, slog.New(slog.NewJSONHandler(lb, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, lb
}

type resp struct {
	status int
	body   map[string]any
	raw    string
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr ...string) resp {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := resp{status: rec.Code, raw: rec.Body.String()}
	json.Unmarshal(rec.Body.Bytes(), &r.body)
	return r
}

func TestHealthzMetricsAndRouteLabels(t *testing.T) {
	s, _ := newTestServer(t)
	s.Mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, map[string]string{"id": r.PathValue("id")})
	})
	h := s.Handler()
	if r := do(t, h, "GET", "/healthz", ""); r.status != 200 || r.body["status"] != "ok" {
		t.Fatalf("healthz %+v", r)
	}
	do(t, h, "GET", "/products/1", "")
	do(t, h, "GET", "/products/2", "")
	if r := do(t, h, "GET", "/nope", ""); r.status != 404 {
		t.Fatalf("unknown route %d", r.status)
	}
	m := do(t, h, "GET", "/metrics", "").raw
	for _, want := range []string{
		`storefront_http_requests_total{code="200",region="us-east-1",route="GET /products/{id}",service="catalog"} 2`,
		`storefront_http_requests_total{code="404",region="us-east-1",route="unmatched",service="catalog"} 1`,
		`storefront_http_request_duration_seconds_count{region="us-east-1",route="GET /products/{id}",service="catalog"} 2`,
		"go_goroutines",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestPanicRecovery(t *testing.T) {
	s, lb := newTestServer(t)
	s.Mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { panic("kaboom") })
	r := do(t, s.Handler(), "GET", "/boom", "")
	if r.status != 500 || r.body["code"] != "internal" {
		t.Fatalf("panic answered %+v", r)
	}
	if !strings.Contains(lb.String(), "kaboom") {
		t.Error("panic not logged")
	}
	if !strings.Contains(do(t, s.Handler(), "GET", "/metrics", "").raw, `code="500",region="us-east-1",route="GET /boom"`) {
		t.Error("panic not counted as a 500")
	}
}

type item struct {
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

func TestDecodeJSONErrors(t *testing.T) {
	s, _ := newTestServer(t)
	s.Mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		var it item
		if !DecodeJSON(w, r, &it) {
			return
		}
		WriteJSON(w, 201, it)
	})
	h := s.Handler()
	big := `{"product_id":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	for _, tc := range []struct {
		name, body, ct string
		status         int
		code           string
	}{
		{"ok", `{"product_id":"p1","qty":2}`, "application/json", 201, ""},
		{"no content type", `{"product_id":"p1","qty":2}`, "", 201, ""},
		{"malformed", `{"product_id":`, "application/json", 400, "bad_json"},
		{"syntax", `{"product_id" 1}`, "", 400, "bad_json"},
		{"unknown field", `{"product_id":"p1","price":1}`, "", 400, "unknown_field"},
		{"wrong type", `{"qty":"two"}`, "", 400, "bad_json"},
		{"empty", ``, "", 400, "empty_body"},
		{"trailing", `{"qty":1}{"qty":2}`, "", 400, "bad_json"},
		{"curl default ct", `{"qty":1}`, "application/x-www-form-urlencoded", 201, ""},
		{"form body", `qty=1`, "application/x-www-form-urlencoded", 400, "bad_json"},
		{"xml", `<qty>1</qty>`, "application/xml", 415, "unsupported_media_type"},
		{"too large", big, "", 413, "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ct != "" {
				hdr = []string{"Content-Type", tc.ct}
			}
			r := do(t, h, "POST", "/items", tc.body, hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tc.status, r.raw)
			}
			if tc.code != "" && (r.body["code"] != tc.code || r.body["error"] == "") {
				t.Fatalf("body %s, want code %s and a message", r.raw, tc.code)
			}
		})
	}
	// A chunked body (no Content-Length) over the limit is a 413 too.
	req := httptest.NewRequest("POST", "/items", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Fatalf("chunked oversize: %d %s", rec.Code, rec.Body)
	}
}

func TestParseJSONDirect(t *testing.T) {
	var it item
	if err := ParseJSON(strings.NewReader(strings.Repeat(" ", MaxBodyBytes+10)+"{}"), &it); err == nil {
		t.Fatal("oversize accepted")
	} else if ae := (*APIError)(nil); !errors.As(err, &ae) || ae.Status != 413 {
		t.Fatalf("oversize: %v", err)
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"product_id":"p","qty":1}`, `{`, `[]`, `{"qty":1e99}`, `null`, `{"x":1}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var it item
		err := ParseJSON(bytes.NewReader(b), &it)
		if err == nil {
			return
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 || ae.Code == "" {
			t.Fatalf("ParseJSON(%q) = %v, want a 4xx *APIError", b, err)
		}
	})
}

func TestAdminAuth(t *testing.T) {
	disabled, _ := newTestServer(t)
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer "}, {"Authorization", "Bearer x"}} {
		if r := do(t, disabled.AdminHandler(), "GET", "/admin/faults", "", hdr...); r.status != 403 || r.body["code"] != "admin_disabled" {
			t.Fatalf("empty token: %+v", r)
		}
	}
	s, _ := newTestServer(t, "--admin-token", "tok")
	h := s.AdminHandler()
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer tok2"}, {"Authorization", "tok"}, {"Authorization", "Basic tok"}} {
		if r := do(t, h, "PUT", "/admin/faults", `{"error_rate":1}`, hdr...); r.status != 401 {
			t.Fatalf("auth %v: %+v", hdr, r)
		}
	}
	if s.Faults.Get().ErrorRate != 0 {
		t.Fatal("unauthorised PUT changed faults")
	}
	if r := do(t, h, "GET", "/admin/faults", "", "Authorization", "Bearer tok"); r.status != 200 || r.body["error_rate"] != 0.0 {
		t.Fatalf("GET %+v", r)
	}
}

func TestAdminFaultHooks(t *testing.T) {
	s, _ := newTestServer(t, "--admin-token", "tok", "--dep", "identity=http://127.0.0.1:1", "--policy", "hardened")
	s.Mux.HandleFunc("GET /api/x", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, map[string]bool{"ok": true}) })
	s.Mux.HandleFunc("GET /other", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, map[string]bool{"ok": true}) })
	admin, main := s.AdminHandler(), s.Handler()
	auth := []string{"Authorization", "Bearer tok", "Content-Type", "application/json"}

	for _, bad := range []string{`{"error_rate":2}`, `{"error_status":200}`, `{"delay_ms":-1}`, `{"empty_discovery":["nope"]}`,
		`{"routes":["api"]}`, `{"error_rate":0.5,"bogus":1}`, `{`} {
		if r := do(t, admin, "PUT", "/admin/faults", bad, auth...); r.status != 400 {
			t.Errorf("PUT %s: %d %s", bad, r.status, r.raw)
		}
	}
	r := do(t, admin, "PUT", "/admin/faults", `{"error_rate":1,"routes":["/api/"],"empty_discovery":["identity"]}`, auth...)
	if r.status != 200 || r.body["error_status"] != 503.0 {
		t.Fatalf("PUT: %+v", r)
	}
	if r := do(t, main, "GET", "/api/x", ""); r.status != 503 || r.body["code"] != "injected_fault" {
		t.Fatalf("faulted route: %+v", r)
	}
	if r := do(t, main, "GET", "/other", ""); r.status != 200 {
		t.Fatalf("route outside the filter: %+v", r)
	}
	// Empty discovery reaches the dependency: outcome dns, the callee is never dialled.
	dep, err := s.Dependency("identity")
	if err != nil {
		t.Fatal(err)
	}
	var ran bool
	err = dep.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	if ran || resilience.Classify(err) != resilience.OutcomeDNS {
		t.Fatalf("empty discovery: ran=%v err=%v", ran, err)
	}
	if !strings.Contains(do(t, main, "GET", "/metrics", "").raw,
		`storefront_dependency_requests_total{dependency="identity",outcome="dns",region="us-east-1",service="catalog"} 2`) {
		t.Error("dns attempts not in /metrics")
	}

	// Error rate everywhere; /healthz and /metrics are exempt.
	do(t, admin, "PUT", "/admin/faults", `{"error_rate":1,"error_status":500}`, auth...)
	if r := do(t, main, "GET", "/other", ""); r.status != 500 {
		t.Fatalf("error_status 500: %+v", r)
	}
	for _, p := range []string{"/healthz", "/metrics"} {
		if r := do(t, main, "GET", p, ""); r.status != 200 {
			t.Fatalf("%s faulted: %d", p, r.status)
		}
	}
	// Delay.
	do(t, admin, "PUT", "/admin/faults", `{"delay_ms":60}`, auth...)
	start := time.Now()
	do(t, main, "GET", "/other", "")
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Fatalf("delay 60ms took %s", el)
	}
	// Clear.
	if r := do(t, admin, "DELETE", "/admin/faults", "", auth...); r.status != 200 {
		t.Fatal(r)
	}
	if f := s.Faults.Get(); f.DelayMS != 0 || f.ErrorRate != 0 || len(f.EmptyDiscovery) != 0 {
		t.Fatalf("after DELETE: %+v", f)
	}
	if err := dep.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("after DELETE: %v", err)
	}
}

func TestErrorRateIsAFraction(t *testing.T) {
	f := &Faults{}
	f.Set(FaultSettings{ErrorRate: 0.3})
	n, hit := 10000, 0
	for range n {
		if _, st := f.inbound("/api"); st != 0 {
			hit++
		}
	}
	if frac := float64(hit) / float64(n); frac < 0.27 || frac > 0.33 {
		t.Fatalf("error rate 0.3 hit %.3f of requests", frac)
	}
}

func FuzzFaultSettings(f *testing.F) {
	f.Add([]byte(`{"error_rate":0.5,"error_status":503,"delay_ms":200,"empty_discovery":["identity"],"routes":["/api/"]}`))
	f.Add([]byte(`{"error_rate":-1}`))
	known := map[string]string{"identity": "http://x"}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fs FaultSettings
		if err := ParseJSON(bytes.NewReader(b), &fs); err != nil {
			return
		}
		if err := fs.Validate(known); err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("Validate error %v is not a 400", err)
			}
			return
		}
		if fs.ErrorRate < 0 || fs.ErrorRate > 1 || fs.DelayMS < 0 {
			t.Fatalf("invalid settings accepted: %+v", fs)
		}
		fl := &Faults{}
		fl.Set(fs)
		fl.inbound("/api/x")
	})
}

func TestReadyz(t *testing.T) {
	s, _ := newTestServer(t)
	var fail bool
	var mu sync.Mutex
	s.AddReadiness("postgres", func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("connection refused")
		}
		return nil
	})
	if r := do(t, s.Handler(), "GET", "/readyz", ""); r.status != 200 {
		t.Fatalf("readyz %+v", r)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	r := do(t, s.Handler(), "GET", "/readyz", "")
	if r.status != 503 || r.body["status"] != "unready" || !strings.Contains(r.raw, `"failing":["postgres"]`) {
		t.Fatalf("readyz %+v", r)
	}
}

func TestHTTPReadiness(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			WriteJSON(w, 200, map[string]string{"status": "ok"})
		}
	}))
	defer up.Close()
	s, _ := newTestServer(t, "--dep", "catalog="+up.URL, "--dep", "cart=http://127.0.0.1:1")
	for _, name := range []string{"catalog", "cart"} {
		d, err := s.Dependency(name)
		if err != nil {
			t.Fatal(err)
		}
		s.AddReadiness(name, HTTPReadiness(d))
	}
	r := do(t, s.Handler(), "GET", "/readyz", "")
	if r.status != 503 || !strings.Contains(r.raw, `"failing":["cart"]`) {
		t.Fatalf("readyz with cart refused: %+v", r)
	}
	s.Faults.Set(FaultSettings{EmptyDiscovery: []string{"catalog"}})
	r = do(t, s.Handler(), "GET", "/readyz", "")
	if r.status != 503 || !strings.Contains(r.raw, `"failing":["cart","catalog"]`) || !strings.Contains(r.raw, "no such host") {
		t.Fatalf("readyz with catalog undiscoverable: %+v", r)
	}
}

func TestDependencyConfig(t *testing.T) {
	s, _ := newTestServer(t, "--dep", "orders=http://127.0.0.1:5/", "--policy-override", "orders=hardened")
	if _, err := s.Dependency("payment"); err == nil || !strings.Contains(err.Error(), "--dep payment=URL") {
		t.Fatalf("unconfigured dependency: %v", err)
	}
	d, err := s.Dependency("orders")
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := s.Dependency("orders")
	if d != d2 || d.Policy().Name != "hardened" || d.URL("/orders") != "http://127.0.0.1:5/orders" {
		t.Fatalf("dependency %p %p %s %s", d, d2, d.Policy().Name, d.URL("/orders"))
	}
}

// TestRunServesAndShutsDown runs the real listeners.
func TestRunServesAndShutsDown(t *testing.T) {
	s, _ := newTestServer(t, "--admin-token", "tok")
	release := make(chan struct{})
	s.Mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		<-release
		WriteJSON(w, 200, map[string]string{"done": "yes"})
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	base, admin := "http://"+s.Addr(), "http://"+s.AdminAddr()
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	req, _ := http.NewRequest("GET", admin+"/admin/faults", nil)
	req.Header.Set("Authorization", "Bearer tok")
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("admin: %v %v", res, err)
	}
	res.Body.Close()
	// An in-flight request survives shutdown.
	got := make(chan int, 1)
	go func() {
		r, err := http.Get(base + "/slow")
		if err != nil {
			got <- -1
			return
		}
		r.Body.Close()
		got <- r.StatusCode
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if code := <-got; code != 200 {
		t.Fatalf("in-flight request got %d during shutdown", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestListenErrorIsClear(t *testing.T) {
	s, _ := newTestServer(t)
	s.Config.Listen = "127.0.0.1:99999"
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("Listen = %v", err)
	}
}

func BenchmarkHandlerOverhead(b *testing.B) {
	cfg, _ := NewFlagSet("bench").Parse([]string{"--listen", "127.0.0.1:0"}, env(nil))
	s, _ := NewWithLogger(cfg, slog.New(slog.DiscardHandler))
	s.Mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	h := s.Handler()
	req := httptest.NewRequest("GET", "/x", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// A connection that was opened but never sent a request (a health checker, a
// proxy pre-dialling) must not hold shutdown for Go's 5 s new-connection
// grace, while a request in flight still completes.
func TestShutdownDropsSilentConnections(t *testing.T) {
	s, _ := newTestServer(t)
	release := make(chan struct{})
	s.Mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		<-release
		WriteJSON(w, 200, map[string]string{"done": "yes"})
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	silent, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	got := make(chan int, 1)
	go func() {
		r, err := http.Get("http://" + s.Addr() + "/slow")
		if err != nil {
			got <- -1
			return
		}
		r.Body.Close()
		got <- r.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	time.Sleep(100 * time.Millisecond)
	close(release)
	if code := <-got; code != 200 {
		t.Fatalf("in-flight request got %d during shutdown", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(4 * time.Second): // Go's own grace for new conns is 5 s
		t.Fatal("Run still waiting on a connection that never sent a request")
	}
}
