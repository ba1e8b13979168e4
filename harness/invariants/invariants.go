// Package invariants checks, after a run, the data properties a storefront
// must keep whatever the faults did (Jepsen-style: compare what clients were
// told with what the datastores hold).
//
//	load generator ──acknowledged orders, acknowledged carts──┐
//	orders PostgreSQL (orders, order_items, inventory) ───────┼──► Check ──► []result.Invariant
//	payment GET /v1/charges ──────────────────────────────────┤
//	cart Redis per region (HASH cart:<user>) ─────────────────┘
//
// Each invariant names the orders, keys or users involved when it does not
// hold. An invariant that could not be checked (a datastore unreachable) is
// an error, never a pass.
package invariants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/reports/result"
)

// Invariant names, as they appear in the result.
const (
	OrdersDurable  = "acknowledged_orders_durable"
	NoDoubleCharge = "no_double_charge"
	StockNonNeg    = "stock_never_negative"
	CartsIntact    = "carts_intact"
)

// maxListed bounds the violations named in one invariant (the count is in Details).
const maxListed = 200

// Config says where to look and what clients were told.
type Config struct {
	// OrdersDSN is the orders service's PostgreSQL database.
	OrdersDSN string
	// PaymentURL is the payment provider's base URL (GET /v1/charges).
	PaymentURL string
	// PaymentLedgerID is the payment ledger's id read before the load
	// (ReadLedgerID). The provider keeps its ledger in memory: when this is
	// empty, or the ledger answers another id at the check (it restarted
	// and lost the charges made before), no_double_charge is "unknown"
	// unless what is left already shows a double charge.
	PaymentLedgerID string
	// CartRedis maps region → that region's cart Redis address (host:port).
	CartRedis map[string]string
	// CartsPromised lists the regions whose policy promises carts survive
	// (e.g. Redis with an append-only file); nil: every region in CartRedis.
	CartsPromised []string
	Orders        []load.Order
	Carts         []load.Cart
	Client        *http.Client
}

// Check runs every invariant it has the inputs for. Invariants whose
// datastore is not configured are left out; an unreachable datastore is an
// error (the run's verdict is then "error", not "pass").
func Check(ctx context.Context, cfg Config) ([]result.Invariant, error) {
	var out []result.Invariant
	var errs []error
	if cfg.OrdersDSN != "" {
		conn, err := pgx.Connect(ctx, cfg.OrdersDSN)
		if err != nil {
			errs = append(errs, fmt.Errorf("connect to orders database: %w", err))
		} else {
			defer conn.Close(context.WithoutCancel(ctx))
			if inv, err := CheckOrders(ctx, conn, cfg.Orders); err != nil {
				errs = append(errs, err)
			} else {
				out = append(out, inv)
			}
			if inv, err := CheckStock(ctx, conn); err != nil {
				errs = append(errs, err)
			} else {
				out = append(out, inv)
			}
		}
	}
	if cfg.PaymentURL != "" {
		if inv, err := CheckCharges(ctx, cfg.Client, cfg.PaymentURL, cfg.PaymentLedgerID, cfg.Orders); err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, inv)
		}
	}
	if len(cfg.CartRedis) > 0 {
		if inv, err := CheckCarts(ctx, cfg.CartRedis, cfg.CartsPromised, cfg.Carts); err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, inv)
		}
	}
	return out, errors.Join(errs...)
}

// Querier is what the checks need from a PostgreSQL connection or pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func listed(v []string) []string {
	sort.Strings(v)
	if len(v) > maxListed {
		return v[:maxListed]
	}
	return v
}

// CheckOrders: every order the load generator saw acknowledged exists in the
// orders table with status confirmed, the same idempotency key, exactly the
// items the acknowledgement listed (load.Order.Items) and, when the
// acknowledgement gave one, the same total.
func CheckOrders(ctx context.Context, db Querier, acked []load.Order) (result.Invariant, error) {
	inv := result.Invariant{Name: OrdersDurable, Checked: int64(len(acked))}
	ids := make([]string, 0, len(acked))
	for _, o := range acked {
		ids = append(ids, o.OrderID)
	}
	type stored struct {
		key, status string
		total       int64
		items       map[string]int
	}
	found := map[string]*stored{}
	rows, err := db.Query(ctx, `SELECT o.id, o.idempotency_key, o.status, o.total_cents, COALESCE(i.product_id, ''), COALESCE(i.qty, 0)
		FROM orders o LEFT JOIN order_items i ON i.order_id = o.id WHERE o.id = ANY($1)`, ids)
	if err != nil {
		return inv, fmt.Errorf("check %s: read orders: %w", OrdersDurable, err)
	}
	for rows.Next() {
		var id, key, status, product string
		var total int64
		var qty int
		if err := rows.Scan(&id, &key, &status, &total, &product, &qty); err != nil {
			rows.Close()
			return inv, fmt.Errorf("check %s: scan order: %w", OrdersDurable, err)
		}
		s := found[id]
		if s == nil {
			s = &stored{key: key, status: status, total: total, items: map[string]int{}}
			found[id] = s
		}
		if product != "" {
			s.items[product] += qty
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return inv, fmt.Errorf("check %s: read orders: %w", OrdersDurable, err)
	}
	var missing, wrongStatus, wrongItems, wrongKey, wrongTotal []string
	replayed, otherThanCart := 0, 0
	for _, o := range acked {
		if o.Replayed {
			replayed++
		}
		if o.CartItems != nil && !sameItems(o.CartItems, itemMap(o.Items)) {
			otherThanCart++
		}
		s := found[o.OrderID]
		switch {
		case s == nil:
			missing = append(missing, o.OrderID)
		case s.status != "confirmed":
			wrongStatus = append(wrongStatus, o.OrderID)
		case s.key != o.IdempotencyKey:
			wrongKey = append(wrongKey, o.OrderID)
		case !sameItems(o.Items, s.items):
			wrongItems = append(wrongItems, o.OrderID)
		case o.TotalCents != 0 && o.TotalCents != s.total:
			wrongTotal = append(wrongTotal, o.OrderID)
		}
	}
	all := append(append(append(append(append([]string(nil), missing...), wrongStatus...), wrongKey...), wrongItems...), wrongTotal...)
	inv.Holds = len(all) == 0
	inv.Violations = listed(all)
	if inv.Holds {
		inv.Details = fmt.Sprintf("all %d acknowledged orders are in PostgreSQL, confirmed, with the items and total acknowledged", len(acked))
	} else {
		inv.Details = fmt.Sprintf("%d of %d acknowledged orders violate: %d missing, %d not confirmed, %d with another idempotency key, %d with other items, %d with another total",
			len(all), len(acked), len(missing), len(wrongStatus), len(wrongKey), len(wrongItems), len(wrongTotal))
	}
	if replayed > 0 || otherThanCart > 0 {
		inv.Details += fmt.Sprintf(" (%d acknowledged as replays of an earlier request with the same key; %d differ from the cart the shopper read before checking out)", replayed, otherThanCart)
	}
	return inv, nil
}

func itemMap(items []load.Item) map[string]int {
	m := map[string]int{}
	for _, it := range items {
		m[it.ProductID] += it.Qty
	}
	return m
}

func sameItems(want []load.Item, got map[string]int) bool {
	w := itemMap(want)
	if len(w) != len(got) {
		return false
	}
	for p, q := range w {
		if got[p] != q {
			return false
		}
	}
	return true
}

// CheckStock: no inventory row has negative stock.
func CheckStock(ctx context.Context, db Querier) (result.Invariant, error) {
	inv := result.Invariant{Name: StockNonNeg}
	rows, err := db.Query(ctx, `SELECT product_id, stock FROM inventory WHERE stock < 0 ORDER BY product_id`)
	if err != nil {
		return inv, fmt.Errorf("check %s: read inventory: %w", StockNonNeg, err)
	}
	var bad []string
	for rows.Next() {
		var p string
		var stock int64
		if err := rows.Scan(&p, &stock); err != nil {
			rows.Close()
			return inv, fmt.Errorf("check %s: scan inventory: %w", StockNonNeg, err)
		}
		bad = append(bad, fmt.Sprintf("%s=%d", p, stock))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return inv, fmt.Errorf("check %s: read inventory: %w", StockNonNeg, err)
	}
	total, err := countRows(ctx, db, "inventory")
	if err != nil {
		return inv, fmt.Errorf("check %s: %w", StockNonNeg, err)
	}
	inv.Checked = total
	inv.Holds = len(bad) == 0
	inv.Violations = listed(bad)
	if inv.Holds {
		inv.Details = fmt.Sprintf("all %d products have stock >= 0", total)
	} else {
		inv.Details = fmt.Sprintf("%d of %d products have negative stock", len(bad), total)
	}
	return inv, nil
}

func countRows(ctx context.Context, db Querier, table string) (int64, error) {
	rows, err := db.Query(ctx, "SELECT count(*) FROM "+table)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

// Charge is one entry of the payment provider's ledger (GET /v1/charges).
type Charge struct {
	ID             string `json:"charge_id"`
	Status         string `json:"status"`
	AmountCents    int64  `json:"amount_cents"`
	Reference      string `json:"reference"` // the order id
	IdempotencyKey string `json:"idempotency_key"`
}

// DecodeCharges reads GET /v1/charges: {"charges":[...]} or a bare list.
func DecodeCharges(b []byte) ([]Charge, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err == nil {
		raw, ok := obj["charges"]
		if !ok {
			return nil, errors.New(`decode charges: want {"charges":[...]}: no "charges" key`)
		}
		var cs []Charge // null decodes as no charges
		if err := json.Unmarshal(raw, &cs); err != nil {
			return nil, fmt.Errorf("decode charges: %w", err)
		}
		return cs, nil
	}
	var list []Charge
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("decode charges: want {\"charges\":[...]}: %w", err)
	}
	return list, nil
}

// ledgerIdentity is the identity part of GET /v1/charges.
type ledgerIdentity struct {
	LedgerID  string `json:"ledger_id"`
	StartedAt string `json:"started_at"`
}

// decodeLedgerIdentity reads ledger_id and started_at; a bare list or an
// answer without them gives the zero identity.
func decodeLedgerIdentity(b []byte) ledgerIdentity {
	var id ledgerIdentity
	_ = json.Unmarshal(b, &id) // a bare list: no identity
	return id
}

// getLedger fetches GET <paymentURL>/v1/charges.
func getLedger(ctx context.Context, client *http.Client, paymentURL string) ([]byte, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	u := strings.TrimRight(paymentURL, "/") + "/v1/charges"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the payment ledger at %s: %w", u, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the payment ledger at %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s answered %s", u, resp.Status)
	}
	return body, nil
}

// ReadLedgerID reads the payment ledger's id (GET /v1/charges "ledger_id").
// Read it before the load and pass it as Config.PaymentLedgerID, so that a
// provider restart during the run (an emptied ledger) cannot pass unseen.
func ReadLedgerID(ctx context.Context, client *http.Client, paymentURL string) (string, error) {
	body, err := getLedger(ctx, client, paymentURL)
	if err != nil {
		return "", fmt.Errorf("payment ledger id: %w", err)
	}
	id := decodeLedgerIdentity(body).LedgerID
	if id == "" {
		return "", fmt.Errorf("payment ledger id: GET %s/v1/charges names no ledger_id: the provider cannot show that it kept every charge (services/CONTRACT.md, payment)", strings.TrimRight(paymentURL, "/"))
	}
	return id, nil
}

// CheckCharges: no idempotency key and no order was charged more than
// once. ledgerBefore is the ledger id read before the load (ReadLedgerID):
// when it is empty or the ledger now answers another id, the charges made
// before a provider restart are lost and a clean ledger proves nothing, so
// the invariant is "unknown" (a double charge still visible is "violated").
func CheckCharges(ctx context.Context, client *http.Client, paymentURL, ledgerBefore string, acked []load.Order) (result.Invariant, error) {
	inv := result.Invariant{Name: NoDoubleCharge}
	body, err := getLedger(ctx, client, paymentURL)
	if err != nil {
		return inv, fmt.Errorf("check %s: %w", NoDoubleCharge, err)
	}
	charges, err := DecodeCharges(body)
	if err != nil {
		return inv, fmt.Errorf("check %s: %w", NoDoubleCharge, err)
	}
	inv = judgeCharges(charges, acked)
	now := decodeLedgerIdentity(body)
	var lost string
	switch {
	case ledgerBefore == "":
		lost = "the payment ledger's id was not read before the load, so a provider restart that emptied it cannot be ruled out (read it with invariants.ReadLedgerID before the load)"
	case now.LedgerID == "":
		lost = "the payment provider names no ledger_id, so a restart that emptied its ledger cannot be ruled out"
	case now.LedgerID != ledgerBefore:
		lost = fmt.Sprintf("the payment ledger changed during the run (%s before the load, %s at the check, started %s): the provider restarted and the charges made before are lost",
			ledgerBefore, now.LedgerID, now.StartedAt)
	}
	switch {
	case lost == "":
	case inv.State == result.InvariantViolated:
		inv.Details += "; besides, " + lost
	default:
		inv.Holds, inv.State = false, result.InvariantUnknown
		inv.Details = fmt.Sprintf("unknown: %s; the %d charges left show no double charge, which proves nothing about the rest", lost, len(charges))
	}
	return inv, nil
}

func judgeCharges(charges []Charge, acked []load.Order) result.Invariant {
	inv := result.Invariant{Name: NoDoubleCharge, Checked: int64(len(charges))}
	orderOfKey := map[string]string{}
	for _, o := range acked {
		orderOfKey[o.IdempotencyKey] = o.OrderID
	}
	byKey, byRef := map[string]int{}, map[string]int{}
	for _, c := range charges {
		if c.Status != "" && c.Status != "captured" {
			continue // refunded/void entries took no money
		}
		if c.IdempotencyKey != "" {
			byKey[c.IdempotencyKey]++
		}
		if c.Reference != "" {
			byRef[c.Reference]++
		}
	}
	seen := map[string]bool{}
	var v []string
	for k, n := range byKey {
		if n > 1 {
			name := "key " + k + " ×" + strconv.Itoa(n)
			if id := orderOfKey[k]; id != "" {
				name = "order " + id + " (" + name + ")"
				seen[id] = true
			}
			v = append(v, name)
		}
	}
	for ref, n := range byRef {
		if n > 1 && !seen[ref] {
			v = append(v, "order "+ref+" ×"+strconv.Itoa(n))
		}
	}
	inv.Holds = len(v) == 0
	inv.State = result.InvariantViolated
	if inv.Holds {
		inv.State = result.InvariantHolds
	}
	inv.Violations = listed(v)
	if inv.Holds {
		inv.Details = fmt.Sprintf("%d charges, none twice for one idempotency key or one order", len(charges))
	} else {
		inv.Details = fmt.Sprintf("%d idempotency keys or orders were charged more than once (of %d charges)", len(v), len(charges))
	}
	return inv
}

// CartKey is the cart service's Redis key for a user (services/cart.Key).
func CartKey(user string) string { return "cart:" + user }

// CheckCarts: in every region whose policy promises durable carts, each cart
// the storefront last acknowledged to a user (and not checked out since) is
// still in Redis with at least the acknowledged quantity of every line. More
// is allowed: an add that timed out at the client may have landed.
func CheckCarts(ctx context.Context, redisByRegion map[string]string, promised []string, carts []load.Cart) (result.Invariant, error) {
	inv := result.Invariant{Name: CartsIntact}
	prom := map[string]bool{}
	if promised == nil {
		for r := range redisByRegion {
			prom[r] = true
		}
	}
	for _, r := range promised {
		prom[r] = true
	}
	clients := map[string]*redis.Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	var bad []string
	for _, c := range carts {
		if !prom[c.Region] {
			continue
		}
		addr, ok := redisByRegion[c.Region]
		if !ok {
			return inv, fmt.Errorf("check %s: no Redis address for region %q (give CartRedis[%q])", CartsIntact, c.Region, c.Region)
		}
		rc := clients[c.Region]
		if rc == nil {
			rc = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: 1, DialTimeout: 2 * time.Second})
			clients[c.Region] = rc
		}
		got, err := rc.HGetAll(ctx, CartKey(c.User)).Result()
		if err != nil {
			return inv, fmt.Errorf("check %s: read %s from Redis %s (region %s): %w", CartsIntact, CartKey(c.User), addr, c.Region, err)
		}
		inv.Checked++
		for _, it := range c.Items {
			q, err := strconv.Atoi(got[it.ProductID])
			if err != nil || q < it.Qty {
				bad = append(bad, fmt.Sprintf("%s/%s: %s want >= %d, have %q", c.Region, c.User, it.ProductID, it.Qty, got[it.ProductID]))
				break
			}
		}
	}
	inv.Holds = len(bad) == 0
	inv.Violations = listed(bad)
	regions := make([]string, 0, len(prom))
	for r := range prom {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	if inv.Holds {
		inv.Details = fmt.Sprintf("%d acknowledged carts intact in Redis (regions promising durable carts: %s)", inv.Checked, strings.Join(regions, ", "))
	} else {
		inv.Details = fmt.Sprintf("%d of %d acknowledged carts lost lines in Redis (regions promising durable carts: %s)", len(bad), inv.Checked, strings.Join(regions, ", "))
	}
	return inv, nil
}
