package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	randv2 "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outagelab/outagelab/internal/latch"
)

// Region is where users arrive and the gateway they use.
type Region struct {
	Name    string
	BaseURL string  // the region's gateway, e.g. http://127.0.0.1:18080
	Rate    float64 // arrivals per second (ignored when Pacer is set)
	Pacer   Pacer   // optional; default ConstantPacer{Rate}
}

// Config configures a Generator. Zero values get the documented defaults.
type Config struct {
	Regions []Region
	Mix     Mix   // default DefaultMix
	Seed    int64 // all randomness comes from it
	// RunID names the run in idempotency keys (default: random). Keys are
	// unique per Generator whatever RunID is: several runs may share one
	// RunID (scenarios played on a topology that stays up, game days on
	// `outagelab up`), and a reused key would make the storefront replay an
	// earlier run's order, correctly, as if it were this run's.
	RunID string
	// Epoch is the start of bucket 0 (align it with the recorder's);
	// default: the time Start is called.
	Epoch  time.Time
	Bucket time.Duration // default 1s
	// Timeout bounds each request (step); default 5s.
	Timeout time.Duration
	// MaxInFlight caps concurrent journeys over all regions; arrivals beyond
	// it are dropped and counted. Default 4096.
	MaxInFlight int
	// LateAfter: an arrival sent more than this after its intended start is
	// counted late (it is still measured from its intended start). Default 10ms.
	LateAfter time.Duration
	// Users: user0001..userN are shared out over the regions round-robin;
	// default 1000 (what identity generates).
	Users int
	// MinStock: add_to_cart skips products the catalog lists with less stock
	// (default 10). The gateway cannot remove a cart line, so a shopper
	// holding a sold-out product would fail every later checkout with
	// out_of_stock; the storefront's low-stock products (3 each) are for its
	// own concurrency tests. Negative: add any product.
	MinStock int
	// ProductIDs to use before any are learned from browse answers;
	// Start also asks each gateway for /api/products?limit=100.
	ProductIDs []string
	// Client overrides the HTTP client (its Timeout is not used; Timeout is).
	Client *http.Client
	// Observer, when set, receives every step's result (from many goroutines).
	Observer func(StepResult)
}

// StepResult is one request as data: a failure is an Outcome, not an error.
type StepResult struct {
	Journey  Journey
	Step     string
	Region   string
	Arrival  uint64 // the arrival's number in its region (0-based)
	User     string
	Intended time.Time // the journey's intended start
	Start    time.Time // when this request was sent
	Latency  time.Duration
	Status   int
	Outcome  Outcome
	Code     string // the storefront's error code on a 4xx/5xx JSON answer
	Err      string
}

// Order is a checkout the storefront acknowledged (200 with an order id).
type Order struct {
	OrderID        string `json:"order_id"`
	IdempotencyKey string `json:"idempotency_key"`
	User           string `json:"user"`
	Region         string `json:"region"`
	// Items are the order's lines as the acknowledgement states them; when
	// the answer lists no items (a system that does not echo them), the cart
	// as read just before checkout.
	Items []Item `json:"items"`
	// CartItems is the cart as read just before checkout (what the shopper saw).
	CartItems  []Item `json:"cart_items,omitempty"`
	TotalCents int64  `json:"total_cents"`
	Status     string `json:"status"`
	// Replayed: the storefront answered with an order that an earlier
	// request under the same key had completed.
	Replayed bool      `json:"replayed,omitempty"`
	At       time.Time `json:"at"`
}

// Item is a cart line.
type Item struct {
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

type user struct {
	name, password string
	busy           atomic.Bool
	// Guarded by busy: only the journey holding the user touches these.
	token string
	// cart is the cart the storefront last acknowledged (the answer of an
	// add or a read); cartKnown false after a checkout was attempted (it may
	// have cleared the cart) or before any acknowledgement.
	cart      []Item
	cartKnown bool
	cartAt    time.Time
	region    string
}

type regionState struct {
	Region
	pacer Pacer
	rng   *randv2.Rand
	users []*user
	base  *url.URL
}

// Generator drives the journeys. Create with New, then Start and Stop.
type Generator struct {
	cfg     Config
	picker  *picker
	client  *http.Client
	regions []*regionState
	stats   *Stats
	// keyNonce makes this generator's idempotency keys its own.
	keyNonce string

	prodMu   sync.RWMutex
	products []json.RawMessage // as the catalog spells ids (string or number)
	prodSeen map[string]bool
	soldOut  map[string]bool // ids the last listing showed with stock below MinStock

	ordersMu sync.Mutex
	orders   []Order

	inflight atomic.Int64
	maxSeen  atomic.Int64
	cancel   context.CancelFunc
	pacers   sync.WaitGroup
	journeys sync.WaitGroup
	started  atomic.Bool
	stopOnce sync.Once
	// failed holds a panic recovered in a pacer or journey goroutine (see Failed).
	failed latch.Latch
}

// New checks cfg and prepares a generator.
func New(cfg Config) (*Generator, error) {
	if len(cfg.Regions) == 0 {
		return nil, errors.New("load: no regions: give at least one region with a gateway URL and a rate")
	}
	if cfg.Bucket <= 0 {
		cfg.Bucket = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4096
	}
	if cfg.LateAfter <= 0 {
		cfg.LateAfter = 10 * time.Millisecond
	}
	if cfg.Users <= 0 {
		cfg.Users = 1000
	}
	if cfg.MinStock == 0 {
		cfg.MinStock = 10
	}
	if cfg.Users > 9999 {
		return nil, fmt.Errorf("load: %d users: identity knows user0001..user9999 at most", cfg.Users)
	}
	if cfg.RunID == "" {
		cfg.RunID = randomHex(6)
	}
	p, err := newPicker(cfg.Mix)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	// keyNonce is not drawn from the seed on purpose: two generators with
	// one seed make the same choices, and must still never share a key.
	g := &Generator{cfg: cfg, picker: p, prodSeen: map[string]bool{}, soldOut: map[string]bool{}, keyNonce: randomHex(4)}
	g.client = cfg.Client
	if g.client == nil {
		g.client = &http.Client{Transport: &http.Transport{
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		}}
	}
	seen := map[string]bool{}
	for i, r := range cfg.Regions {
		if r.Name == "" {
			return nil, fmt.Errorf("load: region %d has no name", i)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("load: region %q given twice", r.Name)
		}
		seen[r.Name] = true
		u, err := url.Parse(strings.TrimRight(r.BaseURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("load: region %q: gateway URL %q is not an http(s) URL like http://127.0.0.1:8080", r.Name, r.BaseURL)
		}
		rs := &regionState{Region: r, base: u, pacer: r.Pacer}
		if rs.pacer == nil {
			if r.Rate <= 0 {
				return nil, fmt.Errorf("load: region %q: rate %v/s must be > 0", r.Name, r.Rate)
			}
			rs.pacer = ConstantPacer{Rate: r.Rate}
		}
		rs.rng = randv2.New(randv2.NewPCG(uint64(cfg.Seed), uint64(i)+1))
		g.regions = append(g.regions, rs)
	}
	for n := 1; n <= cfg.Users; n++ {
		name := fmt.Sprintf("user%04d", n)
		rs := g.regions[(n-1)%len(g.regions)]
		rs.users = append(rs.users, &user{name: name, password: "pw-" + name, region: rs.Name})
	}
	for _, r := range g.regions {
		if len(r.users) == 0 {
			return nil, fmt.Errorf("load: region %q gets no users: raise Users above %d", r.Name, cfg.Users)
		}
	}
	for _, id := range cfg.ProductIDs {
		g.addProduct(json.RawMessage(strconv.Quote(id)))
	}
	return g, nil
}

// Stats returns the live statistics (valid after Start).
func (g *Generator) Stats() *Stats { return g.stats }

// RunID returns the id that prefixes idempotency keys.
func (g *Generator) RunID() string { return g.cfg.RunID }

// Orders returns the acknowledged orders so far.
func (g *Generator) Orders() []Order {
	g.ordersMu.Lock()
	defer g.ordersMu.Unlock()
	return append([]Order(nil), g.orders...)
}

// InFlight returns the journeys currently running and the most seen at once.
func (g *Generator) InFlight() (now, max int64) { return g.inflight.Load(), g.maxSeen.Load() }

// Start begins the arrivals; it returns at once. ctx ends the run like Stop.
func (g *Generator) Start(ctx context.Context) error {
	if !g.started.CompareAndSwap(false, true) {
		return errors.New("load: generator already started")
	}
	start := time.Now()
	epoch := g.cfg.Epoch
	if epoch.IsZero() {
		epoch = start
	}
	g.stats = NewStats(epoch, g.cfg.Bucket)
	ctx, g.cancel = context.WithCancel(ctx)
	g.learnProducts(ctx)
	start = time.Now()
	for _, r := range g.regions {
		g.pacers.Add(1)
		go g.pace(ctx, r, start)
	}
	return nil
}

// Stop ends the arrivals and waits for journeys in flight (each bounded by
// the request timeout).
func (g *Generator) Stop() {
	g.stopOnce.Do(func() {
		if g.cancel != nil {
			g.cancel()
		}
		g.pacers.Wait()
		g.journeys.Wait()
	})
}

// Run starts, runs for d (or until ctx ends) and stops.
func (g *Generator) Run(ctx context.Context, d time.Duration) error {
	if err := g.Start(ctx); err != nil {
		return err
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	g.Stop()
	return nil
}

// learnProducts asks each gateway for products, best effort and briefly.
func (g *Generator) learnProducts(ctx context.Context) {
	for _, r := range g.regions {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, err := http.NewRequestWithContext(cctx, http.MethodGet, r.base.String()+"/api/products?limit=100", nil)
		if err == nil {
			if resp, err := g.client.Do(req); err == nil {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					g.learnFrom(body)
				}
			}
		}
		cancel()
	}
}

func (g *Generator) learnFrom(body []byte) {
	var v struct {
		Products []struct {
			ID    json.RawMessage `json:"id"`
			Stock *int64          `json:"stock"`
		} `json:"products"`
	}
	if json.Unmarshal(body, &v) != nil {
		return
	}
	for _, p := range v.Products {
		if len(p.ID) > 0 && len(p.ID) < 128 {
			g.addProduct(p.ID)
			if p.Stock != nil {
				g.prodMu.Lock()
				g.soldOut[string(p.ID)] = *p.Stock < int64(g.cfg.MinStock)
				g.prodMu.Unlock()
			}
		}
	}
}

func (g *Generator) addProduct(raw json.RawMessage) {
	k := string(raw)
	g.prodMu.Lock()
	if !g.prodSeen[k] {
		g.prodSeen[k] = true
		g.products = append(g.products, append(json.RawMessage(nil), raw...))
	}
	g.prodMu.Unlock()
}

func (g *Generator) productCount() int {
	g.prodMu.RLock()
	defer g.prodMu.RUnlock()
	return len(g.products)
}

// product returns the product id chosen by x: raw JSON and path form.
// inStock skips products the last listing showed sold out (when any is left),
// so a long run does not turn into out_of_stock answers.
func (g *Generator) product(x uint64, inStock ...bool) (json.RawMessage, string) {
	g.prodMu.RLock()
	n := len(g.products)
	var raw json.RawMessage
	if n > 0 {
		raw = g.products[x%uint64(n)]
		if len(inStock) > 0 && inStock[0] {
			for i := 0; i < n && g.soldOut[string(raw)]; i++ {
				raw = g.products[(x+uint64(i))%uint64(n)]
			}
		}
	}
	g.prodMu.RUnlock()
	if raw == nil {
		// Nothing learned yet: the catalog seeds at least 50 products.
		raw = json.RawMessage(strconv.Quote(strconv.FormatUint(x%50+1, 10)))
	}
	s := string(raw)
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	return raw, s
}

// arrival is everything decided for one arrival, in the pacer goroutine.
type arrival struct {
	region   *regionState
	n        uint64
	journey  Journey
	intended time.Time
	user     *user
	prodX    uint64
	qty      int
	term     string
}

func (g *Generator) pace(ctx context.Context, r *regionState, start time.Time) {
	defer g.pacers.Done()
	defer g.failed.Recover("load: pacer of region " + r.Name)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for n := uint64(0); ; n++ {
		off, ok := r.pacer.Offset(n)
		if !ok {
			return
		}
		intended := start.Add(off)
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		a := &arrival{region: r, n: n, intended: intended}
		a.journey = g.picker.pick(r.rng)
		slot := r.rng.IntN(len(r.users))
		a.prodX = r.rng.Uint64()
		a.qty = 1 + r.rng.IntN(2)
		a.term = searchTerms[r.rng.IntN(len(searchTerms))]
		g.dispatch(ctx, a, slot)
	}
}

func (g *Generator) dispatch(ctx context.Context, a *arrival, slot int) {
	if a.journey == Login || a.journey == AddToCart || a.journey == Checkout {
		users := a.region.users
		for i := 0; i < len(users); i++ {
			u := users[(slot+i)%len(users)]
			if u.busy.CompareAndSwap(false, true) {
				a.user = u
				break
			}
		}
		if a.user == nil {
			g.stats.AddDropped(a.journey, a.region.Name, a.intended)
			return
		}
	}
	if n := g.inflight.Add(1); n > int64(g.cfg.MaxInFlight) {
		g.inflight.Add(-1)
		if a.user != nil {
			a.user.busy.Store(false)
		}
		g.stats.AddDropped(a.journey, a.region.Name, a.intended)
		return
	} else {
		for {
			m := g.maxSeen.Load()
			if n <= m || g.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
	}
	g.journeys.Add(1)
	go func() {
		defer g.journeys.Done()
		defer g.failed.Recover("load: journey " + string(a.journey) + " in " + a.region.Name)
		defer g.inflight.Add(-1)
		if a.user != nil {
			defer a.user.busy.Store(false)
		}
		// Journeys already dispatched run to the end (bounded by the
		// timeout) even when the run stops: their outcome is data.
		g.runJourney(context.WithoutCancel(ctx), a)
	}()
}

// journeyRun carries one journey's state through its steps.
type journeyRun struct {
	g        *Generator
	ctx      context.Context
	a        *arrival
	first    bool
	degraded bool
}

// do sends one step and classifies it. want: read the body (up to 1 MiB).
func (jr *journeyRun) do(step, method, path string, body []byte, hdr http.Header, want bool) (int, []byte, Outcome) {
	g, a := jr.g, jr.a
	ctx, cancel := context.WithTimeout(jr.ctx, g.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.region.base.String()+path, rd)
	if err != nil {
		jr.record(step, time.Now(), 0, 0, "", Other, err)
		return 0, nil, Other
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.user != nil && a.user.token != "" && step != "login" {
		req.Header.Set("Authorization", "Bearer "+a.user.token)
	}
	sent := time.Now()
	measureFrom := sent
	if !jr.first {
		jr.first = true
		measureFrom = a.intended
		lag := sent.Sub(a.intended)
		g.stats.AddSchedule(a.journey, a.region.Name, lag, lag > g.cfg.LateAfter)
	}
	resp, err := g.client.Do(req)
	var data []byte
	status := 0
	if err == nil {
		status = resp.StatusCode
		if want || status >= 400 {
			data, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		} else {
			_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		}
		resp.Body.Close()
	}
	o := Classify(resp, err)
	end := time.Now()
	code := ""
	if status >= 400 && err == nil {
		var e struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(data, &e) == nil {
			code = e.Code
		}
	}
	jr.record(step, sent, end.Sub(measureFrom), status, code, o, err)
	if o == Fallback {
		jr.degraded = true
	}
	return status, data, o
}

func (jr *journeyRun) record(step string, sent time.Time, lat time.Duration, status int, code string, o Outcome, err error) {
	a := jr.a
	jr.g.stats.AddStep(a.journey, step, a.region.Name, lat, o, status, code)
	if obs := jr.g.cfg.Observer; obs != nil {
		r := StepResult{Journey: a.journey, Step: step, Region: a.region.Name, Arrival: a.n,
			Intended: a.intended, Start: sent, Latency: lat, Status: status, Code: code, Outcome: o}
		if a.user != nil {
			r.User = a.user.name
		}
		if err != nil {
			r.Err = err.Error()
		}
		obs(r)
	}
}

func (g *Generator) runJourney(ctx context.Context, a *arrival) {
	jr := &journeyRun{g: g, ctx: ctx, a: a}
	o := jr.steps()
	if o == OK && jr.degraded {
		o = Fallback
	}
	g.stats.AddJourney(a.journey, a.region.Name, a.intended, time.Since(a.intended), o)
}

// steps runs the journey and returns its outcome: the first failed step's,
// else OK (turned into Fallback by the caller when a step was degraded).
func (jr *journeyRun) steps() Outcome {
	a, g := jr.a, jr.g
	switch a.journey {
	case Browse:
		want := g.productCount() < 100 || a.n%16 == 0
		_, body, o := jr.do("browse", http.MethodGet, "/api/products?limit=20", nil, nil, want)
		if o.Success() && want {
			g.learnFrom(body)
		}
		return ok(o)
	case Search:
		_, _, o := jr.do("search", http.MethodGet, "/api/search?q="+url.QueryEscape(a.term), nil, nil, false)
		return ok(o)
	case Product:
		_, id := g.product(a.prodX)
		_, _, o := jr.do("product", http.MethodGet, "/api/products/"+url.PathEscape(id), nil, nil, false)
		return ok(o)
	case Login:
		return ok(jr.login())
	case AddToCart:
		if a.user.token == "" {
			if o := jr.login(); !o.Success() {
				return o
			}
		}
		return ok(jr.addItem())
	case Checkout:
		return jr.checkout()
	}
	return Other
}

func ok(o Outcome) Outcome {
	if o == Fallback {
		return OK // the caller turns degraded journeys into Fallback
	}
	return o
}

func (jr *journeyRun) login() Outcome {
	u := jr.a.user
	body, _ := json.Marshal(map[string]string{"username": u.name, "password": u.password})
	status, data, o := jr.do("login", http.MethodPost, "/api/login", body, nil, true)
	if !o.Success() {
		return o
	}
	var v struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Token == "" {
		_ = status
		return Other // 2xx without a token is a broken answer
	}
	u.token = v.Token
	return o
}

func (jr *journeyRun) authFailed(status int) {
	if status == http.StatusUnauthorized {
		jr.a.user.token = "" // log in again next time
	}
}

func (jr *journeyRun) addItem() Outcome {
	raw, _ := jr.g.product(jr.a.prodX, true)
	body, _ := json.Marshal(struct {
		ProductID json.RawMessage `json:"product_id"`
		Qty       int             `json:"qty"`
	}{raw, jr.a.qty})
	status, data, o := jr.do("cart_add", http.MethodPost, "/api/cart/items", body, nil, true)
	jr.authFailed(status)
	if o.Success() {
		jr.ackCart(data)
	} else {
		jr.a.user.cartKnown = false // the add may still land later
	}
	return o
}

func (jr *journeyRun) checkout() Outcome {
	a, g := jr.a, jr.g
	if a.user.token == "" {
		if o := jr.login(); !o.Success() {
			return o
		}
	}
	status, data, o := jr.do("cart_get", http.MethodGet, "/api/cart", nil, nil, true)
	jr.authFailed(status)
	if !o.Success() {
		return o
	}
	items, err := parseCart(data)
	if err != nil {
		return Other
	}
	jr.ackCart(data)
	if len(items) == 0 {
		if o := jr.addItem(); !o.Success() {
			return o
		}
		status, data, o = jr.do("cart_get", http.MethodGet, "/api/cart", nil, nil, true)
		jr.authFailed(status)
		if !o.Success() {
			return o
		}
		if items, err = parseCart(data); err != nil {
			return Other
		}
	}
	key := g.idempotencyKey(a)
	a.user.cartKnown = false // checkout clears the cart (best effort)
	hdr := http.Header{"Idempotency-Key": {key}, "X-Region": {a.region.Name}}
	status, data, o = jr.do("checkout", http.MethodPost, "/api/checkout", []byte("{}"), hdr, true)
	jr.authFailed(status)
	if !o.Success() {
		return o
	}
	var v struct {
		OrderID    json.RawMessage `json:"order_id"`
		Status     string          `json:"status"`
		TotalCents int64           `json:"total_cents"`
		Replayed   bool            `json:"replayed"`
	}
	if err := json.Unmarshal(data, &v); err != nil || len(v.OrderID) == 0 {
		return Other // acknowledged without an order id: a broken answer
	}
	id := string(v.OrderID)
	if uq, err := strconv.Unquote(id); err == nil {
		id = uq
	}
	acked := items
	if ackItems, err := parseCart(data); err == nil && len(ackItems) > 0 {
		acked = ackItems
	}
	g.ordersMu.Lock()
	g.orders = append(g.orders, Order{OrderID: id, IdempotencyKey: key, User: a.user.name, Region: a.region.Name,
		Items: acked, CartItems: items, TotalCents: v.TotalCents, Status: v.Status, Replayed: v.Replayed, At: time.Now()})
	g.ordersMu.Unlock()
	return ok(o)
}

// idempotencyKey names one checkout attempt: the run, this generator, the
// region and the arrival. Only a retry of the same attempt may reuse it.
func (g *Generator) idempotencyKey(a *arrival) string {
	return fmt.Sprintf("ol-%s-%s-%s-%d", g.cfg.RunID, g.keyNonce, a.region.Name, a.n)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ackCart records the cart the storefront just acknowledged.
func (jr *journeyRun) ackCart(data []byte) {
	u := jr.a.user
	items, err := parseCart(data)
	if err != nil {
		u.cartKnown = false
		return
	}
	u.cart, u.cartKnown, u.cartAt = items, true, time.Now()
}

// Cart is a user's cart as the storefront last acknowledged it.
type Cart struct {
	User   string    `json:"user"`
	Region string    `json:"region"`
	Items  []Item    `json:"items"`
	At     time.Time `json:"at"`
}

// Carts returns every user's last acknowledged cart, for users whose cart is
// known (no checkout attempted since) and not empty. Call after Stop.
func (g *Generator) Carts() []Cart {
	var out []Cart
	for _, r := range g.regions {
		for _, u := range r.users {
			if !u.busy.CompareAndSwap(false, true) {
				continue // a journey still runs (Stop not called): skip it
			}
			if u.cartKnown && len(u.cart) > 0 {
				out = append(out, Cart{User: u.name, Region: u.region, Items: append([]Item(nil), u.cart...), At: u.cartAt})
			}
			u.busy.Store(false)
		}
	}
	return out
}

func parseCart(data []byte) ([]Item, error) {
	var v struct {
		Items []struct {
			ProductID json.RawMessage `json:"product_id"`
			Qty       int             `json:"qty"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("decode cart: %w", err)
	}
	out := make([]Item, 0, len(v.Items))
	for _, it := range v.Items {
		id := string(it.ProductID)
		if uq, err := strconv.Unquote(id); err == nil {
			id = uq
		}
		out = append(out, Item{ProductID: id, Qty: it.Qty})
	}
	return out, nil
}

// Rates returns each region's configured arrival rate (0 for custom pacers).
func (g *Generator) Rates() map[string]float64 {
	m := map[string]float64{}
	for _, r := range g.regions {
		m[r.Name] = r.Rate
	}
	return m
}
