package orders

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// startOrders runs the real orders service on a loopback port against a
// fresh database and returns its base URL once it is ready.
func startOrders(t *testing.T, extra ...string) string {
	t.Helper()
	dsn := newTestDSN(t)
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"--listen", "127.0.0.1:0", "--admin-listen", "", "--log-level", "error",
		"--dep", "postgres=" + dsn, "--products", "50"}, extra...)
	srv, closeFn, err := Setup(ctx, args)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		closeFn()
	})
	base := "http://" + srv.Addr()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders not ready after 30s (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func do(t *testing.T, method, url, key string, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(b)}
	if err := json.Unmarshal(b, &a.body); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%d): %q", method, url, resp.StatusCode, b)
	}
	return a
}

func TestHTTPOrderLifecycle(t *testing.T) {
	base := startOrders(t)
	p1, p10 := "p0001", "p0010" // p0010 is a low-stock product (catalog: every tenth)

	r := do(t, "GET", base+"/v1/inventory/"+p10, "", "")
	if r.status != 200 || r.body["stock"].(float64) != 3 {
		t.Fatalf("low-stock seed: %d %s", r.status, r.raw)
	}
	body := `{"user_id":"user0001","items":[{"product_id":"p0001","qty":2},{"product_id":"p0010","qty":1}]}`
	r = do(t, "POST", base+"/v1/reservations", "key-1", body)
	if r.status != http.StatusCreated || r.body["status"] != "reserved" {
		t.Fatalf("reserve: %d %s", r.status, r.raw)
	}
	id := r.body["order_id"].(string)
	total := r.body["total_cents"].(float64)
	if total <= 0 {
		t.Fatalf("total = %v", total)
	}
	again := do(t, "POST", base+"/v1/reservations", "key-1", body)
	if again.status != http.StatusOK || again.body["order_id"] != id {
		t.Fatalf("replay: %d %s", again.status, again.raw)
	}
	if r := do(t, "GET", base+"/v1/inventory/"+p1, "", ""); r.body["stock"].(float64) != DefaultStock-2 {
		t.Fatalf("stock after one reservation and a replay: %s", r.raw)
	}
	if r := do(t, "POST", base+"/v1/orders/"+id+"/confirm", "", `{"payment_id":"ch_x"}`); r.status != 200 || r.body["status"] != "confirmed" {
		t.Fatalf("confirm: %d %s", r.status, r.raw)
	}
	if r := do(t, "POST", base+"/v1/orders/"+id+"/cancel", "", ""); r.status != http.StatusConflict || r.body["code"] != "order_state_conflict" {
		t.Fatalf("cancel confirmed: %d %s", r.status, r.raw)
	}
	if r := do(t, "GET", base+"/v1/orders?idempotency_key=key-1", "", ""); r.status != 200 || r.body["order_id"] != id || r.body["payment_id"] != "ch_x" {
		t.Fatalf("by key: %d %s", r.status, r.raw)
	}
	if r := do(t, "GET", base+"/v1/orders/"+id, "", ""); r.status != 200 || len(r.body["items"].([]any)) != 2 {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
}

func TestHTTPBadInput(t *testing.T) {
	base := startOrders(t)
	huge := `{"user_id":"u","items":[{"product_id":"` + strings.Repeat("a", 70<<10) + `","qty":1}]}`
	cases := []struct {
		name, method, path, key, body string
		status                        int
		code                          string
	}{
		{"malformed", "POST", "/v1/reservations", "k", `{"user_id":`, 400, "bad_json"},
		{"no key", "POST", "/v1/reservations", "", `{"user_id":"u","items":[{"product_id":"p0001","qty":1}]}`, 400, "missing_idempotency_key"},
		{"unknown product", "POST", "/v1/reservations", "k2", `{"user_id":"u","items":[{"product_id":"nope","qty":1}]}`, 404, "unknown_product"},
		{"out of stock", "POST", "/v1/reservations", "k3", `{"user_id":"u","items":[{"product_id":"p0020","qty":4}]}`, 409, "out_of_stock"},
		{"oversized", "POST", "/v1/reservations", "k4", huge, 413, "body_too_large"},
		{"unknown order", "GET", "/v1/orders/ord_nope", "", "", 404, "order_not_found"},
		{"confirm unknown", "POST", "/v1/orders/ord_nope/confirm", "", "", 404, "order_not_found"},
		{"confirm bad body", "POST", "/v1/orders/ord_nope/confirm", "", `{"payment_id":7}`, 400, "bad_json"},
		{"by key missing", "GET", "/v1/orders", "", "", 400, "missing_idempotency_key"},
		{"unknown stock", "GET", "/v1/inventory/nope", "", "", 404, "unknown_product"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, base+c.path, c.key, c.body)
			if r.status != c.status || r.body["code"] != c.code || r.body["error"] == "" {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, c.status, c.code)
			}
		})
	}
	// The failed reservations left nothing behind.
	if r := do(t, "GET", base+"/v1/inventory/p0020", "", ""); r.body["stock"].(float64) != 3 {
		t.Fatalf("stock changed by a refused reservation: %s", r.raw)
	}
}

func TestCommitsAreSynchronous(t *testing.T) {
	dsn := newTestDSN(t) // the test cluster runs with synchronous_commit=off
	ctx := context.Background()
	cfg, err := PoolConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var server, ours string
	if err := pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&ours); err != nil {
		t.Fatal(err)
	}
	plain, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&server); err != nil {
		t.Fatal(err)
	}
	if ours != "on" {
		t.Fatalf("orders sessions run with synchronous_commit=%s, want on", ours)
	}
	t.Logf("cluster default synchronous_commit=%s, orders sessions=%s", server, ours)
	if _, err := PoolConfig("not a dsn ::"); err == nil {
		t.Fatal("bad DSN accepted")
	}
}
