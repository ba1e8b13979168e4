package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// shop is a small real HTTP server speaking the gateway API of
// services/CONTRACT.md, with knobs to inject failures per route.
type shop struct {
	mu      sync.Mutex
	tokens  map[string]string         // token -> user
	carts   map[string]map[string]int // user -> product -> qty
	orders  map[string]string         // idempotency key -> order id
	lines   map[string]string         // order id -> its items as JSON, as acknowledged
	nextID  int
	fail    map[string]int           // route prefix -> status to answer
	hang    map[string]time.Duration // route prefix -> delay
	degrade map[string]bool          // route prefix -> X-Degraded
	hits    atomic.Int64
}

func newShop() *shop {
	return &shop{tokens: map[string]string{}, carts: map[string]map[string]int{}, orders: map[string]string{},
		lines: map[string]string{}, fail: map[string]int{}, hang: map[string]time.Duration{}, degrade: map[string]bool{}}
}

func (s *shop) knob(path string) (status int, delay time.Duration, degraded bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, st := range s.fail {
		if strings.HasPrefix(path, p) {
			status = st
		}
	}
	for p, d := range s.hang {
		if strings.HasPrefix(path, p) {
			delay = d
		}
	}
	for p, d := range s.degrade {
		if strings.HasPrefix(path, p) {
			degraded = d
		}
	}
	return
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	status, delay, degraded := s.knob(r.URL.Path)
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		w.WriteHeader(status)
		fmt.Fprint(w, `{"error":"injected","code":"injected"}`)
		return
	}
	if degraded {
		w.Header().Set(DegradedHeader, "recommendations")
	}
	user := ""
	if tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); tok != "" {
		s.mu.Lock()
		user = s.tokens[tok]
		s.mu.Unlock()
	}
	needUser := func() bool {
		if user == "" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"login first","code":"unauthorized"}`)
			return false
		}
		return true
	}
	switch {
	case r.URL.Path == "/api/products" || r.URL.Path == "/api/search":
		fmt.Fprint(w, `{"products":[{"id":"p01","name":"mug","price_cents":500,"stock":9},{"id":"p02","name":"tea","price_cents":300,"stock":9}]}`)
	case strings.HasPrefix(r.URL.Path, "/api/products/"):
		id := strings.TrimPrefix(r.URL.Path, "/api/products/")
		if id != "p01" && id != "p02" {
			w.WriteHeader(404)
			return
		}
		fmt.Fprintf(w, `{"product":{"id":%q},"recommendations":[]}`, id)
	case r.URL.Path == "/api/login":
		var v struct{ Username, Password string }
		if json.NewDecoder(r.Body).Decode(&v) != nil || v.Password != "pw-"+v.Username {
			w.WriteHeader(401)
			return
		}
		s.mu.Lock()
		s.nextID++
		tok := fmt.Sprintf("tok%d", s.nextID)
		s.tokens[tok] = v.Username
		s.mu.Unlock()
		fmt.Fprintf(w, `{"token":%q,"expires_at":"2030-01-01T00:00:00Z"}`, tok)
	case r.URL.Path == "/api/cart/items":
		if !needUser() {
			return
		}
		var v struct {
			ProductID string `json:"product_id"`
			Qty       int    `json:"qty"`
		}
		if json.NewDecoder(r.Body).Decode(&v) != nil || v.Qty <= 0 {
			w.WriteHeader(400)
			return
		}
		s.mu.Lock()
		if s.carts[user] == nil {
			s.carts[user] = map[string]int{}
		}
		s.carts[user][v.ProductID] += v.Qty
		s.mu.Unlock()
		s.writeCart(w, user)
	case r.URL.Path == "/api/cart":
		if !needUser() {
			return
		}
		s.writeCart(w, user)
	case r.URL.Path == "/api/checkout":
		if !needUser() {
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			w.WriteHeader(400)
			return
		}
		// As the storefront's checkout: a key names one order; a second
		// request with it replays that order, whatever the cart holds now.
		s.mu.Lock()
		id, dup := s.orders[key]
		if !dup {
			s.nextID++
			id = fmt.Sprintf("o%d", s.nextID)
			s.orders[key] = id
			s.lines[id] = cartJSON(s.carts[user])
			delete(s.carts, user)
		}
		lines := s.lines[id]
		s.mu.Unlock()
		fmt.Fprintf(w, `{"order_id":%q,"status":"confirmed","total_cents":800,"items":%s,"replayed":%v}`, id, lines, dup)
	default:
		w.WriteHeader(404)
	}
}

func (s *shop) writeCart(w http.ResponseWriter, user string) {
	s.mu.Lock()
	items := cartJSON(s.carts[user])
	s.mu.Unlock()
	fmt.Fprintf(w, `{"items":%s}`, items)
}

func cartJSON(cart map[string]int) string {
	var items []string
	for p, q := range cart {
		items = append(items, fmt.Sprintf(`{"product_id":%q,"qty":%d}`, p, q))
	}
	return "[" + strings.Join(items, ",") + "]"
}

func runLoad(t *testing.T, cfg Config, d time.Duration) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	if err := g.Run(ctx, d); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGeneratorJourneysAgainstShop(t *testing.T) {
	s := newShop()
	srv := httptest.NewServer(s)
	defer srv.Close()
	g := runLoad(t, Config{
		Regions: []Region{{Name: "us-east-1", BaseURL: srv.URL, Rate: 200}, {Name: "eu-west-1", BaseURL: srv.URL, Rate: 100}},
		Seed:    7,
		Bucket:  250 * time.Millisecond,
		Users:   400,
	}, 1500*time.Millisecond)
	st := g.Stats()
	var total int64
	seen := map[Journey]bool{}
	for _, id := range st.Series() {
		w, _ := st.Totals(id)
		total += w.Attempts()
		seen[id.Journey] = true
		if w.SuccessRate() < 0.99 {
			t.Errorf("%v: success %.3f (%v) against a healthy shop", id, w.SuccessRate(), w.Counts)
		}
	}
	if total < 400 || total > 460 {
		t.Errorf("%d journeys, want ~450 (300/s for 1.5 s)", total)
	}
	for _, j := range Journeys() {
		if !seen[j] {
			t.Errorf("journey %s never ran", j)
		}
	}
	orders := g.Orders()
	if len(orders) == 0 {
		t.Fatal("no acknowledged orders")
	}
	keys := map[string]bool{}
	for _, o := range orders {
		if keys[o.IdempotencyKey] {
			t.Errorf("idempotency key %s reused", o.IdempotencyKey)
		}
		keys[o.IdempotencyKey] = true
		if len(o.Items) == 0 || o.OrderID == "" || o.Status != "confirmed" {
			t.Errorf("order %+v incomplete", o)
		}
	}
	carts := g.Carts()
	if len(carts) == 0 {
		t.Error("no acknowledged carts")
	}
	for _, c := range carts {
		s.mu.Lock()
		server := s.carts[c.User]
		s.mu.Unlock()
		for _, it := range c.Items {
			if server[it.ProductID] != it.Qty {
				t.Errorf("%s: generator expects %s×%d, shop has %d", c.User, it.ProductID, it.Qty, server[it.ProductID])
			}
		}
	}
	sc := st.Schedule()
	if sc.Sent != total || sc.Dropped != 0 {
		t.Errorf("schedule %+v, want sent=%d dropped=0", sc, total)
	}
}

// Two runs against one storefront with the same run id and seed (scenarios
// played one after another on a topology that stays up) must never share an
// idempotency key: the storefront would, correctly, replay the first run's
// order to the second, and the second would record it with its own cart.
// This is how the library once reported an acknowledged order "stored with
// other items".
func TestRunsSharingARunIDNeverShareAKey(t *testing.T) {
	s := newShop()
	srv := httptest.NewServer(s)
	defer srv.Close()
	cfg := Config{
		Regions: []Region{{Name: "us-east-1", BaseURL: srv.URL, Rate: 150}},
		Mix:     Mix{Checkout: 3, AddToCart: 1},
		Seed:    11,
		RunID:   "shared-topology",
		Users:   50,
	}
	first := runLoad(t, cfg, 700*time.Millisecond)
	second := runLoad(t, cfg, 700*time.Millisecond)
	keys := map[string]bool{}
	for _, o := range first.Orders() {
		keys[o.IdempotencyKey] = true
	}
	if len(keys) == 0 || len(second.Orders()) == 0 {
		t.Fatalf("orders: first %d, second %d; want some in both", len(first.Orders()), len(second.Orders()))
	}
	for _, o := range second.Orders() {
		if keys[o.IdempotencyKey] {
			t.Errorf("key %s used by both runs", o.IdempotencyKey)
		}
		if o.Replayed {
			t.Errorf("order %s (key %s) was a replay of an earlier run's order", o.OrderID, o.IdempotencyKey)
		}
	}
}

// The order is recorded as the storefront acknowledged it: its items come
// from the answer, the cart the shopper saw is kept beside them.
func TestOrderRecordedAsAcknowledged(t *testing.T) {
	s := newShop()
	srv := httptest.NewServer(s)
	defer srv.Close()
	g := runLoad(t, Config{
		Regions: []Region{{Name: "us-east-1", BaseURL: srv.URL, Rate: 100}},
		Mix:     Mix{Checkout: 1},
		Seed:    3,
		Users:   20,
	}, 500*time.Millisecond)
	if len(g.Orders()) == 0 {
		t.Fatal("no acknowledged orders")
	}
	for _, o := range g.Orders() {
		s.mu.Lock()
		stored := s.lines[o.OrderID]
		s.mu.Unlock()
		want, err := parseCart([]byte(`{"items":` + stored + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(o.Items) != fmt.Sprint(want) || len(o.CartItems) == 0 {
			t.Errorf("order %s recorded items %v (cart %v), acknowledged %v", o.OrderID, o.Items, o.CartItems, want)
		}
	}
}

func TestGeneratorClassifiesInjectedFailures(t *testing.T) {
	s := newShop()
	s.fail["/api/search"] = 503
	s.fail["/api/products/"] = 404
	s.hang["/api/login"] = 2 * time.Second
	s.degrade["/api/products"] = true // browse (and product, but product 404s first)
	srv := httptest.NewServer(s)
	defer srv.Close()
	var steps sync.Map
	g := runLoad(t, Config{
		Regions:  []Region{{Name: "r1", BaseURL: srv.URL, Rate: 100}},
		Seed:     1,
		Timeout:  200 * time.Millisecond,
		Observer: func(r StepResult) { steps.Store(r.Step+"/"+r.Outcome.String(), true) },
	}, time.Second)
	st := g.Stats()
	check := func(j Journey, want Outcome) {
		w, _ := st.Totals(SeriesID{j, "r1"})
		if w.Attempts() == 0 || w.Counts[want] != w.Attempts() {
			t.Errorf("%s: outcomes %v, want all %s", j, w.Counts, want)
		}
	}
	check(Browse, Fallback)
	check(Search, Status5xx)
	check(Product, Status4xx)
	check(Login, Timeout)
	check(AddToCart, Timeout) // its login step times out
	w, _ := st.Totals(SeriesID{Login, "r1"})
	if w.P50Ms < 200 || w.P50Ms > 400 {
		t.Errorf("login p50 %.1f ms, want ~200 ms (the timeout)", w.P50Ms)
	}
	if _, ok := steps.Load("login/timeout"); !ok {
		t.Error("observer saw no login timeout")
	}
	if len(g.Orders()) != 0 {
		t.Error("orders acknowledged while login hangs")
	}
}

func TestGeneratorDropsAboveCapAndCountsThem(t *testing.T) {
	s := newShop()
	s.hang["/"] = time.Second
	srv := httptest.NewServer(s)
	defer srv.Close()
	g := runLoad(t, Config{
		Regions:     []Region{{Name: "r1", BaseURL: srv.URL, Rate: 200}},
		Mix:         Mix{Browse: 1},
		MaxInFlight: 10,
		Timeout:     300 * time.Millisecond,
	}, 500*time.Millisecond)
	sc := g.Stats().Schedule()
	if sc.Dropped < 40 {
		t.Errorf("dropped %d, want most of ~100 arrivals above the cap of 10", sc.Dropped)
	}
	_, maxIn := g.InFlight()
	if maxIn > 10 {
		t.Errorf("in flight reached %d above the cap", maxIn)
	}
	w, _ := g.Stats().Totals(SeriesID{Browse, "r1"})
	if w.Dropped != sc.Dropped || w.Attempts()+w.Dropped < 95 {
		t.Errorf("series dropped %d attempts %d, schedule %+v", w.Dropped, w.Attempts(), sc)
	}
}

// Latency is measured from the intended start: a server that stalls every
// request for 100 ms while arrivals keep coming shows ≥100 ms for all.
func TestLatencyFromIntendedStart(t *testing.T) {
	s := newShop()
	s.hang["/api/products"] = 100 * time.Millisecond
	srv := httptest.NewServer(s)
	defer srv.Close()
	g := runLoad(t, Config{Regions: []Region{{Name: "r", BaseURL: srv.URL, Rate: 100}}, Mix: Mix{Browse: 1}}, 500*time.Millisecond)
	w, _ := g.Stats().Totals(SeriesID{Browse, "r"})
	if w.Attempts() < 45 || w.P50Ms < 99 {
		t.Errorf("attempts %d p50 %.1f ms: want ~50 at >= 100 ms", w.Attempts(), w.P50Ms)
	}
}

func TestSameSeedSameDecisions(t *testing.T) {
	s := newShop()
	srv := httptest.NewServer(s)
	defer srv.Close()
	seq := func(seed int64) []string {
		var mu sync.Mutex
		m := map[uint64]string{}
		runLoad(t, Config{Regions: []Region{{Name: "r", BaseURL: srv.URL, Pacer: ConstantPacer{Rate: 500, Max: 150}}}, Seed: seed,
			Observer: func(r StepResult) {
				mu.Lock()
				if _, ok := m[r.Arrival]; !ok {
					m[r.Arrival] = string(r.Journey)
				}
				mu.Unlock()
			}}, 400*time.Millisecond)
		out := make([]string, 150)
		for i := range out {
			out[i] = m[uint64(i)]
		}
		return out
	}
	a, b, c := seq(99), seq(99), seq(100)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("same seed, different journeys:\n%v\n%v", a, b)
	}
	if strings.Join(a, ",") == strings.Join(c, ",") {
		t.Error("different seeds gave the same 150 journeys")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	bad := []Config{
		{},
		{Regions: []Region{{Name: "r", BaseURL: "ftp://x", Rate: 1}}},
		{Regions: []Region{{Name: "r", BaseURL: "http://127.0.0.1:1", Rate: 0}}},
		{Regions: []Region{{Name: "", BaseURL: "http://127.0.0.1:1", Rate: 1}}},
		{Regions: []Region{{Name: "r", BaseURL: "http://127.0.0.1:1", Rate: 1}, {Name: "r", BaseURL: "http://127.0.0.1:1", Rate: 1}}},
		{Regions: []Region{{Name: "r", BaseURL: "http://127.0.0.1:1", Rate: 1}}, Mix: Mix{"fly": 1}},
		{Regions: []Region{{Name: "a", BaseURL: "http://127.0.0.1:1", Rate: 1}, {Name: "b", BaseURL: "http://127.0.0.1:1", Rate: 1}}, Users: 1},
	}
	for i, c := range bad {
		if _, err := New(c); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}
