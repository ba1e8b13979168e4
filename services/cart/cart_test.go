package cart

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/procs"
)

type apiErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// startCart runs Main against redisURL and waits until it is ready. The
// returned stop function stops it (idempotent; also run in Cleanup).
func startCart(t testing.TB, redisURL string, extra ...string) (base string, stop func()) {
	t.Helper()
	p, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	args := append([]string{"--listen", addr, "--admin-listen", "", "--log-level", "error", "--dep", "redis=" + redisURL}, extra...)
	go func() { errc <- Main(ctx, args) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("cart Main: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("cart did not stop")
			}
		})
	}
	t.Cleanup(stop)
	base = "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cart not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func do(t testing.TB, method, url, ctype, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: not JSON: %d %s", method, url, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

func add(t testing.TB, base, user, pid string, qty int) (int, Cart) {
	t.Helper()
	var c Cart
	code := do(t, http.MethodPost, base+"/v1/carts/"+user+"/items", "application/json",
		fmt.Sprintf(`{"product_id":%q,"qty":%d}`, pid, qty), &c)
	return code, c
}

func TestCartSurvivesServiceRestart(t *testing.T) {
	r := procs.NewTestRedis(t)
	base, stop := startCart(t, r.URL())
	if code, c := add(t, base, "user0001", "p0003", 2); code != 200 || len(c.Items) != 1 || c.Items[0] != (Item{"p0003", 2}) {
		t.Fatalf("add: %d %+v", code, c)
	}
	add(t, base, "user0001", "p0001", 1)
	if code, c := add(t, base, "user0001", "p0003", 5); code != 200 || c.Items[1].Qty != 7 {
		t.Fatalf("second add of the same product must sum: %d %+v", code, c)
	}
	stop()

	// A new cart process on the same Redis sees the cart.
	base2, _ := startCart(t, r.URL())
	var c Cart
	if code := do(t, http.MethodGet, base2+"/v1/carts/user0001", "", "", &c); code != 200 {
		t.Fatalf("get after restart: %d", code)
	}
	want := []Item{{"p0001", 1}, {"p0003", 7}}
	if c.User != "user0001" || len(c.Items) != 2 || c.Items[0] != want[0] || c.Items[1] != want[1] {
		t.Fatalf("after service restart: %+v, want %+v", c, want)
	}

	// And a Redis restart (append-only file on) keeps it too.
	if err := r.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for do(t, http.MethodGet, base2+"/v1/carts/user0001", "", "", &c) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("cart never answered after the Redis restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(c.Items) != 2 || c.Items[1] != want[1] {
		t.Fatalf("after Redis restart: %+v", c)
	}

	// Clear (after checkout), twice: idempotent.
	for range 2 {
		if code := do(t, http.MethodDelete, base2+"/v1/carts/user0001", "", "", &c); code != 200 || len(c.Items) != 0 {
			t.Fatalf("clear: %d %+v", code, c)
		}
	}
	do(t, http.MethodGet, base2+"/v1/carts/user0001", "", "", &c)
	if len(c.Items) != 0 {
		t.Fatalf("cart not cleared: %+v", c)
	}
}

func TestConcurrentAddsAreAtomic(t *testing.T) {
	r := procs.NewTestRedis(t, procs.WithAppendOnly(false))
	base, _ := startCart(t, r.URL())
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			add(t, base, "user0002", "p0010", 3)
		}()
	}
	wg.Wait()
	var c Cart
	do(t, http.MethodGet, base+"/v1/carts/user0002", "", "", &c)
	// 33 adds of 3 would be 99; 30 give 90, never a lost update.
	if len(c.Items) != 1 || c.Items[0].Qty != 90 {
		t.Fatalf("30 concurrent adds of 3: %+v", c)
	}
	// Passing the per-line limit is a 409 and changes nothing.
	var e apiErr
	if code := do(t, http.MethodPost, base+"/v1/carts/user0002/items", "application/json", `{"product_id":"p0010","qty":10}`, &e); code != 409 || e.Code != "qty_limit" {
		t.Fatalf("over the line limit: %d %+v", code, e)
	}
	if code, c := add(t, base, "user0002", "p0010", 9); code != 200 || c.Items[0].Qty != 99 {
		t.Fatalf("up to the limit: %d %+v", code, c)
	}
	// Remove one line.
	if code := do(t, http.MethodDelete, base+"/v1/carts/user0002/items/p0010", "", "", &c); code != 200 || len(c.Items) != 0 {
		t.Fatalf("remove line: %d %+v", code, c)
	}
	// Cart-size limit.
	for i := 1; i <= MaxLines; i++ {
		if code, _ := add(t, base, "user0003", fmt.Sprintf("p%04d", i), 1); code != 200 {
			t.Fatalf("line %d: %d", i, code)
		}
	}
	if code := do(t, http.MethodPost, base+"/v1/carts/user0003/items", "application/json", `{"product_id":"extra","qty":1}`, &e); code != 409 || e.Code != "cart_full" {
		t.Fatalf("over the line count: %d %+v", code, e)
	}
}

func TestBadInputIs4xxJSON(t *testing.T) {
	r := procs.NewTestRedis(t, procs.WithAppendOnly(false))
	base, _ := startCart(t, r.URL())
	big := `{"product_id":"p1","qty":1,"pad":"` + strings.Repeat("x", 70<<10) + `"}`
	for _, tc := range []struct {
		method, path, ctype, body string
		status                    int
		code                      string
	}{
		{"POST", "/v1/carts/user0001/items", "application/json", `{"product_id":"p0001","qty":0}`, 400, "invalid_qty"},
		{"POST", "/v1/carts/user0001/items", "application/json", `{"product_id":"p0001","qty":100}`, 400, "invalid_qty"},
		{"POST", "/v1/carts/user0001/items", "application/json", `{"product_id":"p0001","qty":-5}`, 400, "invalid_qty"},
		{"POST", "/v1/carts/user0001/items", "application/json", `{"product_id":"p0001","qty":1.5}`, 400, "bad_json"},
		{"POST", "/v1/carts/user0001/items", "application/json", `{"product_id":"p0001","qty":"2"}`, 400, "bad_json"},
		{"POST", "/v1/carts/user0001/items", "application/json", `{"product_id":"../etc","qty":1}`, 400, "invalid_product_id"},
		{"POST", "/v1/carts/user0001/items", "application/json", `{"product_id":"","qty":1}`, 400, "invalid_product_id"},
		{"POST", "/v1/carts/user0001/items", "application/json", `{"qty":1}`, 400, "invalid_product_id"},
		{"POST", "/v1/carts/user0001/items", "application/json", `{"product_id":"p1","qty":1,"price":0}`, 400, "unknown_field"},
		{"POST", "/v1/carts/user0001/items", "application/json", `{"product_id":`, 400, "bad_json"},
		{"POST", "/v1/carts/user0001/items", "application/json", ``, 400, "empty_body"},
		{"POST", "/v1/carts/user0001/items", "text/plain", `{"product_id":"p1","qty":1}`, 415, "unsupported_media_type"},
		{"POST", "/v1/carts/user0001/items", "application/json", big, 413, "body_too_large"},
		{"POST", "/v1/carts/bad%20user/items", "application/json", `{"product_id":"p1","qty":1}`, 400, "invalid_user"},
		{"GET", "/v1/carts/" + strings.Repeat("u", 65), "", "", 400, "invalid_user"},
		{"DELETE", "/v1/carts/a%2Fb", "", "", 400, "invalid_user"},
		{"DELETE", "/v1/carts/user0001/items/bad%20id", "", "", 400, "invalid_product_id"},
	} {
		var e apiErr
		if code := do(t, tc.method, base+tc.path, tc.ctype, tc.body, &e); code != tc.status || e.Code != tc.code || e.Error == "" {
			t.Errorf("%s %s %.40s: %d %+v, want %d %s", tc.method, tc.path, tc.body, code, e, tc.status, tc.code)
		}
	}
}

func TestRedisDownIs503(t *testing.T) {
	r := procs.NewTestRedis(t, procs.WithAppendOnly(false))
	base, _ := startCart(t, r.URL(), "--policy", "hardened")
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	var e apiErr
	if code := do(t, http.MethodGet, base+"/v1/carts/user0001", "", "", &e); code != 503 || e.Code != "redis_unavailable" {
		t.Fatalf("redis down: %d %+v", code, e)
	}
	if code := do(t, http.MethodPost, base+"/v1/carts/user0001/items", "application/json", `{"product_id":"p1","qty":1}`, &e); code != 503 {
		t.Fatalf("add with redis down: %d %+v", code, e)
	}
	var ready map[string]any
	if code := do(t, http.MethodGet, base+"/readyz", "", "", &ready); code != 503 {
		t.Fatalf("readyz with redis down: %d", code)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(m, []byte(`storefront_dependency_requests_total{dependency="redis",outcome="refused",region="us-east-1",service="cart"}`)) {
		t.Fatal("no refused series for redis")
	}
	if bytes.Contains(m, []byte(`storefront_dependency_requests_total{dependency="redis",outcome="refused",region="us-east-1",service="cart"} 0`)) {
		t.Fatal("refused attempts not counted")
	}
}

func TestMainRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--listen", "127.0.0.1:0"},
		{"--dep", "redis=http://x", "--listen", "127.0.0.1:0"},
		{"--dep", "redis=redis://127.0.0.1:1/0", "--redis-pool-size", "0"},
	} {
		if err := Main(context.Background(), append(args, "--admin-listen", "")); err == nil {
			t.Errorf("Main(%v) accepted bad flags", args)
		}
	}
}
