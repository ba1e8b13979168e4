package invariants

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/internal/procs"
	"github.com/outagelab/outagelab/services/orders"
	"github.com/outagelab/outagelab/services/payment"
)

// ordersDB starts a real PostgreSQL and creates the orders service's own
// schema (its migrations), so the checks are aligned with what it writes.
func ordersDB(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	pg := procs.NewTestPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.CreateDatabase(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	dsn := pg.DSN("orders")
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	seed := []orders.StockItem{{ProductID: "p1", PriceCents: 500, Stock: 10}, {ProductID: "p2", PriceCents: 300, Stock: 10}, {ProductID: "p3", PriceCents: 100, Stock: 10}}
	if err := orders.NewStore(pool).Migrate(ctx, seed); err != nil {
		t.Fatal(err)
	}
	return pool, dsn
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func putOrder(t *testing.T, pool *pgxpool.Pool, id, key, status string, items map[string]int) {
	exec(t, pool, `INSERT INTO orders (id, idempotency_key, user_id, status) VALUES ($1,$2,'user0001',$3)`, id, key, status)
	for p, q := range items {
		exec(t, pool, `INSERT INTO order_items (order_id, product_id, qty, price_cents) VALUES ($1,$2,$3,100)`, id, p, q)
	}
}

func TestOrdersAndStockAgainstPostgres(t *testing.T) {
	pool, dsn := ordersDB(t)
	ctx := context.Background()
	putOrder(t, pool, "o1", "k1", "confirmed", map[string]int{"p1": 2, "p2": 1})
	putOrder(t, pool, "o2", "k2", "confirmed", map[string]int{"p3": 1})
	clean := []load.Order{
		{OrderID: "o1", IdempotencyKey: "k1", Items: []load.Item{{ProductID: "p2", Qty: 1}, {ProductID: "p1", Qty: 2}}},
		{OrderID: "o2", IdempotencyKey: "k2", Items: []load.Item{{ProductID: "p3", Qty: 1}}},
	}
	invs, err := Check(ctx, Config{OrdersDSN: dsn, Orders: clean})
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 2 {
		t.Fatalf("invariants %+v", invs)
	}
	for _, inv := range invs {
		if !inv.Holds || len(inv.Violations) != 0 {
			t.Errorf("clean data: %+v", inv)
		}
	}
	if invs[0].Name != OrdersDurable || invs[0].Checked != 2 || invs[1].Name != StockNonNeg || invs[1].Checked != 3 {
		t.Errorf("names/checked %+v", invs)
	}

	// Seed violations: a lost order, one left reserved, one with other items,
	// one under another key; and negative stock (bypassing the CHECK, as a
	// buggy migration or a manual fix could).
	putOrder(t, pool, "o3", "k3", "reserved", map[string]int{"p1": 1})
	putOrder(t, pool, "o4", "k4", "confirmed", map[string]int{"p1": 1})
	putOrder(t, pool, "o5", "other", "confirmed", map[string]int{"p2": 1})
	putOrder(t, pool, "o6", "k6", "confirmed", map[string]int{"p3": 1})
	exec(t, pool, `UPDATE orders SET total_cents = 500 WHERE id = 'o6'`)
	exec(t, pool, `ALTER TABLE inventory DROP CONSTRAINT IF EXISTS inventory_stock_check`)
	exec(t, pool, `UPDATE inventory SET stock = -2 WHERE product_id = 'p2'`)
	bad := append(clean,
		load.Order{OrderID: "lost", IdempotencyKey: "kx", Items: []load.Item{{ProductID: "p1", Qty: 1}}},
		load.Order{OrderID: "o3", IdempotencyKey: "k3", Items: []load.Item{{ProductID: "p1", Qty: 1}}},
		load.Order{OrderID: "o4", IdempotencyKey: "k4", Items: []load.Item{{ProductID: "p1", Qty: 2}}},
		load.Order{OrderID: "o5", IdempotencyKey: "k5", Items: []load.Item{{ProductID: "p2", Qty: 1}}},
		// Acknowledged at 7.00, stored at 5.00.
		load.Order{OrderID: "o6", IdempotencyKey: "k6", TotalCents: 700, Items: []load.Item{{ProductID: "p3", Qty: 1}}},
	)
	invs, err = Check(ctx, Config{OrdersDSN: dsn, Orders: bad})
	if err != nil {
		t.Fatal(err)
	}
	if invs[0].Holds || strings.Join(invs[0].Violations, ",") != "lost,o3,o4,o5,o6" {
		t.Errorf("orders: %+v", invs[0])
	}
	if invs[1].Holds || strings.Join(invs[1].Violations, ",") != "p2=-2" {
		t.Errorf("stock: %+v", invs[1])
	}
	t.Log(invs[0].Details)

	// An unreachable database is an error, never a pass.
	if _, err := Check(ctx, Config{OrdersDSN: "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}); err == nil {
		t.Error("unreachable database passed")
	}
}

// paymentServer runs the real payment provider on loopback.
func paymentServer(t *testing.T) string {
	p, err := payment.NewProvider(payment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func pay(t *testing.T, base, key, ref string, retries int) {
	t.Helper()
	post := func(path string, body any) map[string]any {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
		req.Header.Set("Idempotency-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s %v", path, resp.Status, v)
		}
		return v
	}
	for i := 0; i <= retries; i++ { // a retried checkout repeats both calls with the same key
		auth := post("/v1/authorize", map[string]any{"amount_cents": 800, "currency": "USD", "reference": ref})
		post("/v1/capture", map[string]any{"authorization_id": auth["authorization_id"]})
	}
}

func TestChargesAgainstRealPaymentProvider(t *testing.T) {
	base := paymentServer(t)
	ctx := context.Background()
	ledger, err := ReadLedgerID(ctx, nil, base)
	if err != nil {
		t.Fatal(err)
	}
	pay(t, base, "k1", "o1", 2) // retried twice: the provider must charge once
	pay(t, base, "k2", "o2", 0)
	acked := []load.Order{{OrderID: "o1", IdempotencyKey: "k1"}, {OrderID: "o2", IdempotencyKey: "k2"}}
	inv, err := CheckCharges(ctx, nil, base, ledger, acked)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Holds || inv.State != "holds" || inv.Checked != 2 {
		t.Errorf("clean ledger: %+v", inv)
	}
	// Order o2 charged again under a fresh key (a client that retried
	// without its key): the same order charged twice.
	pay(t, base, "k2-retry", "o2", 0)
	inv, err = CheckCharges(ctx, nil, base, ledger, acked)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Holds || inv.State != "violated" || strings.Join(inv.Violations, ",") != "order o2 ×2" {
		t.Errorf("double charge by order: %+v", inv)
	}
	if _, err := CheckCharges(ctx, nil, "http://127.0.0.1:1", ledger, acked); err == nil {
		t.Error("unreachable provider passed")
	}
}

func TestJudgeChargesSameKeyTwice(t *testing.T) {
	charges := []Charge{
		{ID: "c1", Status: "captured", Reference: "o1", IdempotencyKey: "k1"},
		{ID: "c2", Status: "captured", Reference: "o1", IdempotencyKey: "k1"},
		{ID: "c3", Status: "captured", Reference: "o2", IdempotencyKey: "k2"},
		{ID: "c4", Status: "refunded", Reference: "o2", IdempotencyKey: "k2"},
	}
	inv := judgeCharges(charges, []load.Order{{OrderID: "o1", IdempotencyKey: "k1"}})
	if inv.Holds || strings.Join(inv.Violations, ",") != "order o1 (key k1 ×2)" {
		t.Errorf("%+v", inv)
	}
}

func TestDecodeCharges(t *testing.T) {
	if cs, err := DecodeCharges([]byte(`{"charges":[{"charge_id":"c","idempotency_key":"k","reference":"o","status":"captured"}],"count":1}`)); err != nil || len(cs) != 1 || cs[0].IdempotencyKey != "k" {
		t.Errorf("%v %v", cs, err)
	}
	if cs, err := DecodeCharges([]byte(`[{"charge_id":"c"}]`)); err != nil || len(cs) != 1 {
		t.Errorf("%v %v", cs, err)
	}
	// An empty ledger: payment answers [], an older one null; both mean no charges.
	for _, empty := range []string{`{"charges":[],"count":0}`, `{"charges":null,"count":0}`} {
		if cs, err := DecodeCharges([]byte(empty)); err != nil || len(cs) != 0 {
			t.Errorf("%s: %v %v", empty, cs, err)
		}
	}
	for _, bad := range []string{``, `{"charges":7}`, `"x"`, `{"count":0}`} {
		if _, err := DecodeCharges([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzDecodeCharges(f *testing.F) {
	f.Add([]byte(`{"charges":[{"charge_id":"c","idempotency_key":"k"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := DecodeCharges(b)
		if err == nil {
			_ = judgeCharges(cs, nil)
		}
	})
}

func TestCartsAgainstRedis(t *testing.T) {
	us := procs.NewTestRedis(t)
	eu := procs.NewTestRedis(t)
	ctx := context.Background()
	put := func(addr, user string, fields ...any) {
		rc := redis.NewClient(&redis.Options{Addr: addr})
		defer rc.Close()
		if err := rc.HSet(ctx, CartKey(user), fields...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	put(us.Addr(), "user0001", "p1", "2", "p2", "1")
	put(eu.Addr(), "user0002", "p3", "5") // more than acknowledged: an add that timed out landed
	carts := []load.Cart{
		{User: "user0001", Region: "us-east-1", Items: []load.Item{{ProductID: "p1", Qty: 2}, {ProductID: "p2", Qty: 1}}},
		{User: "user0002", Region: "eu-west-1", Items: []load.Item{{ProductID: "p3", Qty: 4}}},
	}
	redisBy := map[string]string{"us-east-1": us.Addr(), "eu-west-1": eu.Addr()}
	inv, err := CheckCarts(ctx, redisBy, nil, carts)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Holds || inv.Checked != 2 {
		t.Errorf("clean carts: %+v", inv)
	}
	// Lose user0002's cart and shrink user0001's line.
	rc := redis.NewClient(&redis.Options{Addr: eu.Addr()})
	rc.Del(ctx, CartKey("user0002"))
	rc.Close()
	put(us.Addr(), "user0001", "p1", "1")
	inv, err = CheckCarts(ctx, redisBy, nil, carts)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Holds || len(inv.Violations) != 2 || !strings.Contains(inv.Violations[0], "eu-west-1/user0002") {
		t.Errorf("lost carts: %+v", inv)
	}
	// A region whose policy does not promise durable carts is not judged.
	inv, err = CheckCarts(ctx, redisBy, []string{"us-east-1"}, carts[1:])
	if err != nil || !inv.Holds || inv.Checked != 0 {
		t.Errorf("unpromised region judged: %+v %v", inv, err)
	}
	if _, err := CheckCarts(ctx, map[string]string{"us-east-1": us.Addr()}, []string{"eu-west-1"}, carts[1:]); err == nil {
		t.Error("region without Redis address accepted")
	}
	fmt.Fprint(new(bytes.Buffer), inv.Details)
}
