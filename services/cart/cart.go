// Package cart is the storefront's cart service: one Redis hash per user or
// session, so carts outlive the service process.
//
//	gateway / checkout ──/v1/carts/{user}…──▶ cart ──Dependency "redis"──▶ Redis
//	                                                 (timeout, retries,     HASH cart:<user>
//	                                                  breaker)              product_id → qty
//
// Cart runs per region (ARCHITECTURE.md), each with its own Redis.
package cart

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// Limits.
const (
	MinQty   = 1
	MaxQty   = 99 // per add and per line
	MaxLines = 50 // distinct products in one cart
	MaxIDLen = 64
	// TTL is how long an untouched cart lives.
	TTL = 7 * 24 * time.Hour
)

// Item is one cart line.
type Item struct {
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

// Cart is a user's cart, lines ordered by product id.
type Cart struct {
	User  string `json:"user"`
	Items []Item `json:"items"`
}

// AddItemRequest is the body of POST /v1/carts/{user}/items.
type AddItemRequest struct {
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

func badRequest(code, format string, args ...any) error {
	return platform.Errorf(http.StatusBadRequest, code, format, args...)
}

func validID(kind, id string) error {
	if id == "" || len(id) > MaxIDLen {
		return badRequest("invalid_"+kind, "%s must be 1..%d characters", kind, MaxIDLen)
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return badRequest("invalid_"+kind, "%s may hold only letters, digits, '-' and '_'", kind)
		}
	}
	return nil
}

// ValidUser checks a cart owner (user name or session id).
func ValidUser(u string) error { return validID("user", u) }

// ValidProductID checks a product id.
func ValidProductID(id string) error { return validID("product_id", id) }

// DecodeAddItem decodes and validates an add-item body.
func DecodeAddItem(r *http.Request) (AddItemRequest, error) {
	var req AddItemRequest
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return req, platform.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q is not application/json", ct)
		}
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	if err := platform.ParseJSON(body, &req); err != nil {
		return req, err
	}
	if err := ValidProductID(req.ProductID); err != nil {
		return req, err
	}
	if req.Qty < MinQty || req.Qty > MaxQty {
		return req, badRequest("invalid_qty", "qty must be %d..%d, got %d", MinQty, MaxQty, req.Qty)
	}
	return req, nil
}

// Store keeps carts in Redis; every command runs through the "redis"
// resilience.Dependency.
type Store struct {
	rdb *redis.Client
	dep *resilience.Dependency
}

// NewStore returns a store on rdb whose calls go through dep.
func NewStore(rdb *redis.Client, dep *resilience.Dependency) *Store {
	return &Store{rdb: rdb, dep: dep}
}

// Key is the Redis key of user's cart.
func Key(user string) string { return "cart:" + user }

// addScript adds qty to one line atomically, refusing to pass MaxQty per
// line or MaxLines per cart: returns the new qty, -1 (line full) or -2 (cart full).
var addScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local add = tonumber(ARGV[2])
if cur + add > tonumber(ARGV[3]) then return -1 end
if cur == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -2 end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], add)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return n
`)

// Get returns user's cart (empty when none).
func (s *Store) Get(ctx context.Context, user string) (Cart, error) {
	var m map[string]string
	err := s.dep.Do(ctx, func(ctx context.Context) error {
		var err error
		m, err = s.rdb.HGetAll(ctx, Key(user)).Result()
		return err
	})
	if err != nil {
		return Cart{}, err
	}
	c := Cart{User: user, Items: make([]Item, 0, len(m))}
	for pid, q := range m {
		n, err := strconv.Atoi(q)
		if err != nil || n <= 0 {
			continue // not ours to show; never written by this service
		}
		c.Items = append(c.Items, Item{ProductID: pid, Qty: n})
	}
	sort.Slice(c.Items, func(i, j int) bool { return c.Items[i].ProductID < c.Items[j].ProductID })
	return c, nil
}

// Add adds qty of product to user's cart and returns the cart.
func (s *Store) Add(ctx context.Context, user, product string, qty int) (Cart, error) {
	var res int64
	err := s.dep.Do(ctx, func(ctx context.Context) error {
		var err error
		// A retried add after a lost answer could add twice; the fragile
		// policy retries it anyway, as naive clients do.
		res, err = addScript.Run(ctx, s.rdb, []string{Key(user)}, product, qty, MaxQty, MaxLines, TTL.Milliseconds()).Int64()
		return err
	})
	if err != nil {
		return Cart{}, err
	}
	switch res {
	case -1:
		return Cart{}, platform.Errorf(http.StatusConflict, "qty_limit", "a cart line holds at most %d of a product", MaxQty)
	case -2:
		return Cart{}, platform.Errorf(http.StatusConflict, "cart_full", "a cart holds at most %d different products", MaxLines)
	}
	return s.Get(ctx, user)
}

// RemoveItem removes one line.
func (s *Store) RemoveItem(ctx context.Context, user, product string) (Cart, error) {
	err := s.dep.Do(ctx, func(ctx context.Context) error {
		return s.rdb.HDel(ctx, Key(user), product).Err()
	})
	if err != nil {
		return Cart{}, err
	}
	return s.Get(ctx, user)
}

// Clear deletes user's cart (after checkout). Clearing an empty cart is fine.
func (s *Store) Clear(ctx context.Context, user string) error {
	return s.dep.Do(ctx, func(ctx context.Context) error {
		return s.rdb.Del(ctx, Key(user)).Err()
	})
}

// Ready is the readiness check: Redis answers PING.
func (s *Store) Ready(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// Handler serves the cart API.
type Handler struct{ Store *Store }

// Routes registers the cart API on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/carts/{user}", h.get)
	mux.HandleFunc("POST /v1/carts/{user}/items", h.add)
	mux.HandleFunc("DELETE /v1/carts/{user}/items/{product_id}", h.remove)
	mux.HandleFunc("DELETE /v1/carts/{user}", h.clear)
}

func writeStoreErr(w http.ResponseWriter, err error) {
	var ae *platform.APIError
	if errors.As(err, &ae) {
		platform.WriteErr(w, err)
		return
	}
	platform.WriteError(w, http.StatusServiceUnavailable, "redis_unavailable",
		"cart store unavailable ("+resilience.Classify(err)+"); retry later")
}

func userParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	u := r.PathValue("user")
	if err := ValidUser(u); err != nil {
		platform.WriteErr(w, err)
		return "", false
	}
	return u, true
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	u, ok := userParam(w, r)
	if !ok {
		return
	}
	c, err := h.Store.Get(r.Context(), u)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, c)
}

func (h *Handler) add(w http.ResponseWriter, r *http.Request) {
	u, ok := userParam(w, r)
	if !ok {
		return
	}
	req, err := DecodeAddItem(r)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	c, err := h.Store.Add(r.Context(), u, req.ProductID, req.Qty)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, c)
}

func (h *Handler) remove(w http.ResponseWriter, r *http.Request) {
	u, ok := userParam(w, r)
	if !ok {
		return
	}
	pid := r.PathValue("product_id")
	if err := ValidProductID(pid); err != nil {
		platform.WriteErr(w, err)
		return
	}
	c, err := h.Store.RemoveItem(r.Context(), u, pid)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, c)
}

func (h *Handler) clear(w http.ResponseWriter, r *http.Request) {
	u, ok := userParam(w, r)
	if !ok {
		return
	}
	if err := h.Store.Clear(r.Context(), u); err != nil {
		writeStoreErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, Cart{User: u, Items: []Item{}})
}

// Main runs the cart service: `storefront cart --dep redis=redis://HOST:PORT/0 [flags]`.
func Main(ctx context.Context, args []string) error {
	fs := platform.NewFlagSet("cart")
	poolSize := fs.Int("redis-pool-size", 32, "Redis connection pool size")
	cfg, err := fs.Parse(args, nil)
	if err != nil {
		return err
	}
	if *poolSize < 1 {
		return fmt.Errorf("cart: --redis-pool-size must be ≥ 1, got %d", *poolSize)
	}
	srv, err := platform.New(cfg)
	if err != nil {
		return fmt.Errorf("cart: %w", err)
	}
	dep, err := srv.Dependency("redis")
	if err != nil {
		return fmt.Errorf("cart: %w", err)
	}
	opt, err := redis.ParseURL(dep.BaseURL())
	if err != nil {
		return fmt.Errorf("cart: --dep redis: want redis://HOST:PORT/DB: %w", err)
	}
	// Retries and deadlines belong to the resilience policy, not the driver.
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = true
	opt.PoolSize = *poolSize
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	store := NewStore(rdb, dep)
	(&Handler{Store: store}).Routes(srv.Mux)
	srv.AddReadiness("redis", store.Ready)
	return srv.Run(ctx)
}
