package checkout_test

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

	"github.com/jackc/pgx/v5"

	"github.com/outagelab/outagelab/services/catalog"
	"github.com/outagelab/outagelab/services/checkout/storetest"
)

type reply struct {
	Status int
	Body   map[string]any
	Raw    string
}

func call(t testing.TB, method, url string, body any, hdr map[string]string) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Raw: string(raw)}
	if len(raw) > 0 && json.Unmarshal(raw, &r.Body) != nil {
		t.Fatalf("%s %s answered non-JSON %d: %q", method, url, resp.StatusCode, raw)
	}
	return r
}

func login(t testing.TB, s *storetest.Stack, user string) string {
	t.Helper()
	r := call(t, "POST", s.URL("identity")+"/v1/login", map[string]string{"username": user, "password": "pw-" + user}, nil)
	if r.Status != 200 {
		t.Fatalf("login %s: %d %s", user, r.Status, r.Raw)
	}
	return r.Body["token"].(string)
}

func addToCart(t testing.TB, s *storetest.Stack, user, product string, qty int) {
	t.Helper()
	r := call(t, "POST", s.URL("cart")+"/v1/carts/"+user+"/items", map[string]any{"product_id": product, "qty": qty}, nil)
	if r.Status != 200 {
		t.Fatalf("add to cart: %d %s", r.Status, r.Raw)
	}
}

func checkoutCall(t testing.TB, s *storetest.Stack, token, key string) reply {
	t.Helper()
	h := map[string]string{"X-Region": storetest.Region}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	return call(t, "POST", s.URL("checkout")+"/v1/checkout", nil, h)
}

func charges(t testing.TB, s *storetest.Stack) []map[string]any {
	t.Helper()
	r := call(t, "GET", s.URL("payment")+"/v1/charges", nil, nil)
	if r.Status != 200 {
		t.Fatalf("charges: %d %s", r.Status, r.Raw)
	}
	var out []map[string]any
	list, _ := r.Body["charges"].([]any) // null when there are none
	for _, c := range list {
		out = append(out, c.(map[string]any))
	}
	return out
}

func stock(t testing.TB, s *storetest.Stack, product string) int {
	t.Helper()
	r := call(t, "GET", s.URL("orders")+"/v1/inventory/"+product, nil, nil)
	if r.Status != 200 {
		t.Fatalf("inventory %s: %d %s", product, r.Status, r.Raw)
	}
	return int(r.Body["stock"].(float64))
}

func price(id string) int64 {
	for _, p := range catalog.SeedProducts(catalog.DefaultProducts) {
		if p.ID == id {
			return p.PriceCents
		}
	}
	panic("no product " + id)
}

func setStock(t testing.TB, s *storetest.Stack, product string, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.PG.DSN("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE inventory SET stock=$2 WHERE product_id=$1`, product, n); err != nil {
		t.Fatal(err)
	}
}

func TestCheckoutEndToEnd(t *testing.T) {
	s := storetest.Start(t, storetest.Options{})
	tok := login(t, s, "user0001")
	addToCart(t, s, "user0001", "p0001", 2)
	addToCart(t, s, "user0001", "p0002", 1)
	before := stock(t, s, "p0001")

	r := checkoutCall(t, s, tok, "e2e-1")
	if r.Status != 200 || r.Body["status"] != "confirmed" || r.Body["replayed"] != false {
		t.Fatalf("checkout: %d %s", r.Status, r.Raw)
	}
	want := 2*price("p0001") + price("p0002")
	if got := int64(r.Body["total_cents"].(float64)); got != want {
		t.Fatalf("total = %d, want %d", got, want)
	}
	id := r.Body["order_id"].(string)

	// Durable and confirmed in orders, paid once, stock taken, cart emptied.
	o := call(t, "GET", s.URL("orders")+"/v1/orders/"+id, nil, nil)
	if o.Body["status"] != "confirmed" || o.Body["payment_id"] == "" {
		t.Fatalf("order in orders: %s", o.Raw)
	}
	cs := charges(t, s)
	if len(cs) != 1 || int64(cs[0]["amount_cents"].(float64)) != want || cs[0]["idempotency_key"] != "e2e-1" {
		t.Fatalf("charges = %v", cs)
	}
	if got := stock(t, s, "p0001"); got != before-2 {
		t.Fatalf("stock p0001 = %d, want %d", got, before-2)
	}
	c := call(t, "GET", s.URL("cart")+"/v1/carts/user0001", nil, nil)
	if len(c.Body["items"].([]any)) != 0 {
		t.Fatalf("cart not cleared: %s", c.Raw)
	}
	// The owner reads the order through checkout; another user cannot.
	if r := call(t, "GET", s.URL("checkout")+"/v1/orders/"+id, nil, map[string]string{"Authorization": "Bearer " + tok}); r.Status != 200 || r.Body["order_id"] != id {
		t.Fatalf("owner reads order: %d %s", r.Status, r.Raw)
	}
	other := login(t, s, "user0002")
	if r := call(t, "GET", s.URL("checkout")+"/v1/orders/"+id, nil, map[string]string{"Authorization": "Bearer " + other}); r.Status != 404 {
		t.Fatalf("other user reads order: %d %s", r.Status, r.Raw)
	}
	// Another user's retry with the same key must not see this order.
	addToCart(t, s, "user0002", "p0003", 1)
	if r := checkoutCall(t, s, other, "e2e-1"); r.Status != 409 || r.Body["code"] != "idempotency_key_reused" {
		t.Fatalf("key reuse by another user: %d %s", r.Status, r.Raw)
	}
}

func TestRetriedCheckoutChargesOnce(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Policy: "hardened"})
	tok := login(t, s, "user0003")
	addToCart(t, s, "user0003", "p0004", 1)

	first := checkoutCall(t, s, tok, "retry-1")
	if first.Status != 200 {
		t.Fatalf("first: %d %s", first.Status, first.Raw)
	}
	// Sequential retry: the cart is empty now, the key finds the order.
	again := checkoutCall(t, s, tok, "retry-1")
	if again.Status != 200 || again.Body["order_id"] != first.Body["order_id"] || again.Body["replayed"] != true {
		t.Fatalf("retry: %d %s", again.Status, again.Raw)
	}
	// Concurrent retries of a fresh checkout: one order, one charge.
	addToCart(t, s, "user0003", "p0005", 1)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[string]int{}
	)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := checkoutCall(t, s, tok, "retry-2")
			mu.Lock()
			defer mu.Unlock()
			if r.Status == 200 {
				ids[r.Body["order_id"].(string)]++
			} else {
				ids[fmt.Sprintf("status %d %s", r.Status, r.Body["code"])]++
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 {
		t.Fatalf("concurrent retries answered %v, want one order id for all", ids)
	}
	perKey := map[string]int{}
	for _, c := range charges(t, s) {
		perKey[c["idempotency_key"].(string)]++
	}
	if perKey["retry-1"] != 1 || perKey["retry-2"] != 1 || len(perKey) != 2 {
		t.Fatalf("charges per key = %v, want one each", perKey)
	}
}

func TestLastItemFiftyConcurrentCheckouts(t *testing.T) {
	s := storetest.Start(t, storetest.Options{})
	const n = 50
	const product = "p0010"
	setStock(t, s, product, 1)
	tokens := make([]string, n)
	for i := range n {
		user := fmt.Sprintf("user%04d", i+101)
		tokens[i] = login(t, s, user)
		addToCart(t, s, user, product, 1)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[string]int{}
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := checkoutCall(t, s, tokens[i], fmt.Sprintf("last-%d", i))
			mu.Lock()
			statuses[fmt.Sprintf("%d %v", r.Status, r.Body["code"])]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if statuses["200 <nil>"] != 1 || statuses["409 out_of_stock"] != n-1 {
		t.Fatalf("answers = %v, want exactly one 200 and %d 409 out_of_stock", statuses, n-1)
	}
	if got := stock(t, s, product); got != 0 {
		t.Fatalf("stock = %d, want 0", got)
	}
	if cs := charges(t, s); len(cs) != 1 {
		t.Fatalf("%d charges, want 1", len(cs))
	}
}

func setFaults(t testing.TB, s *storetest.Stack, svc string, body string) {
	t.Helper()
	method := "PUT"
	if body == "" {
		method = "DELETE"
	}
	r := call(t, method, s.AdminURL(svc)+"/admin/faults", body, map[string]string{"Authorization": "Bearer " + storetest.AdminToken})
	if r.Status != 200 && r.Status != 204 {
		t.Fatalf("set faults on %s: %d %s", svc, r.Status, r.Raw)
	}
}

func TestPaymentFailureReleasesStockAndRetrySucceeds(t *testing.T) {
	for _, policy := range []struct {
		name   string
		status int
		code   string
	}{{"fragile", 502, "dependency_failed"}, {"hardened", 503, "checkout_unavailable"}} {
		t.Run(policy.name, func(t *testing.T) {
			s := storetest.Start(t, storetest.Options{Policy: policy.name})
			tok := login(t, s, "user0007")
			addToCart(t, s, "user0007", "p0007", 3)
			before := stock(t, s, "p0007")

			setFaults(t, s, "payment", `{"error_rate":1,"error_status":503,"routes":["/v1/authorize"]}`)
			r := checkoutCall(t, s, tok, "comp-1")
			if r.Status != policy.status || r.Body["code"] != policy.code {
				t.Fatalf("checkout with payment down: %d %s", r.Status, r.Raw)
			}
			if got := stock(t, s, "p0007"); got != before {
				t.Fatalf("stock = %d after failed checkout, want %d (released)", got, before)
			}
			o := call(t, "GET", s.URL("orders")+"/v1/orders?idempotency_key=comp-1", nil, nil)
			if o.Body["status"] != "cancelled" {
				t.Fatalf("order after compensation: %s", o.Raw)
			}
			if cs := charges(t, s); len(cs) != 0 {
				t.Fatalf("charged while payment failed: %v", cs)
			}

			setFaults(t, s, "payment", "")
			r = checkoutCall(t, s, tok, "comp-1")
			if r.Status != 200 || r.Body["order_id"] != o.Body["order_id"] {
				t.Fatalf("retry after recovery: %d %s", r.Status, r.Raw)
			}
			if got := stock(t, s, "p0007"); got != before-3 {
				t.Fatalf("stock = %d after retry, want %d", got, before-3)
			}
			if cs := charges(t, s); len(cs) != 1 {
				t.Fatalf("%d charges after retry, want 1", len(cs))
			}
		})
	}
}

func TestConfirmFailureKeepsChargeAndRetryConfirms(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Policy: "hardened"})
	tok := login(t, s, "user0008")
	addToCart(t, s, "user0008", "p0008", 1)
	before := stock(t, s, "p0008")
	// Orders refuses confirmations only: the charge happens, the confirm fails.
	setFaults(t, s, "orders", `{"error_rate":1,"error_status":503,"routes":["/v1/orders/"]}`)
	r := checkoutCall(t, s, tok, "confirm-1")
	if r.Status != 503 || r.Body["code"] != "checkout_unavailable" {
		t.Fatalf("checkout with confirm failing: %d %s", r.Status, r.Raw)
	}
	if got := stock(t, s, "p0008"); got != before-1 {
		t.Fatalf("stock = %d, want %d: a paid reservation must be kept", got, before-1)
	}
	setFaults(t, s, "orders", "")
	r = checkoutCall(t, s, tok, "confirm-1")
	if r.Status != 200 || r.Body["status"] != "confirmed" {
		t.Fatalf("retry: %d %s", r.Status, r.Raw)
	}
	if cs := charges(t, s); len(cs) != 1 {
		t.Fatalf("%d charges, want 1 (the retry replays the capture)", len(cs))
	}
}

func TestCheckoutBadInput(t *testing.T) {
	s := storetest.Start(t, storetest.Options{})
	tok := login(t, s, "user0009")
	h := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	auth := "Bearer " + tok
	cases := []struct {
		name   string
		body   any
		hdr    map[string]string
		status int
		code   string
	}{
		{"empty cart", nil, h("Authorization", auth, "Idempotency-Key", "bad-1"), 400, "cart_empty"},
		{"malformed JSON", `{"region":`, h("Authorization", auth, "Idempotency-Key", "bad-2"), 400, "bad_json"},
		{"bad token", nil, h("Authorization", "Bearer nonsense", "Idempotency-Key", "bad-3"), 401, "invalid_token"},
		{"forged token", nil, h("Authorization", "Bearer "+tok[:len(tok)-4]+"AAAA", "Idempotency-Key", "bad-3b"), 401, "invalid_token"},
		{"no token", nil, h("Idempotency-Key", "bad-4"), 401, "missing_token"},
		{"no key", nil, h("Authorization", auth), 400, "missing_idempotency_key"},
		{"unknown region", nil, h("Authorization", auth, "Idempotency-Key", "bad-5", "X-Region", "mars-1"), 400, "unknown_region"},
		{"oversized", `{"region":"` + strings.Repeat("x", 70<<10) + `"}`, h("Authorization", auth, "Idempotency-Key", "bad-6"), 413, "body_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, "POST", s.URL("checkout")+"/v1/checkout", c.body, c.hdr)
			if r.Status != c.status || r.Body["code"] != c.code || r.Body["error"] == "" {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Raw, c.status, c.code)
			}
		})
	}
	// An unknown product in the cart is refused, and nothing is charged.
	addToCart(t, s, "user0009", "p9999", 1)
	r := checkoutCall(t, s, tok, "bad-7")
	if r.Status != 409 || r.Body["code"] != "unknown_product" {
		t.Fatalf("unknown product: %d %s", r.Status, r.Raw)
	}
	if cs := charges(t, s); len(cs) != 0 {
		t.Fatalf("charged for a refused cart: %v", cs)
	}
}

func BenchmarkCheckout(b *testing.B) {
	s := storetest.Start(b, storetest.Options{Policy: "hardened"})
	tok := login(b, s, "user0500")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		addToCart(b, s, "user0500", "p0001", 1)
		b.StartTimer()
		r := checkoutCall(b, s, tok, fmt.Sprintf("bench-%d", i))
		if r.Status != 200 {
			b.Fatalf("checkout: %d %s", r.Status, r.Raw)
		}
	}
}
