// Package catalog is the storefront's product catalog: products and prices
// in PostgreSQL, migrated and seeded by the service itself.
//
//	gateway / recommendations ──GET /v1/products…──▶ catalog ──Dependency "postgres"──▶ PostgreSQL
//	                                                   (timeout, retries, breaker)        products
//
// Catalog runs per region (ARCHITECTURE.md); replicas sharing a database migrate
// under an advisory lock.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// Paging and query limits.
const (
	DefaultLimit  = 20
	MaxLimit      = 100
	MaxOffset     = 100000
	MaxQueryLen   = 100
	MaxCategory   = 64
	MaxProductID  = 64
	migrateRetry  = 500 * time.Millisecond
	migrateMaxGap = 5 * time.Second
)

// ListResponse is the answer of GET /v1/products.
type ListResponse struct {
	Products []Product `json:"products"`
	Total    int       `json:"total"`
	Limit    int       `json:"limit"`
	Offset   int       `json:"offset"`
}

// ProductResponse is the answer of GET /v1/products/{id}.
type ProductResponse struct {
	Product Product `json:"product"`
}

// SearchResponse is the answer of GET /v1/search.
type SearchResponse struct {
	Products []Product `json:"products"`
}

// ListQuery is a decoded GET /v1/products query.
type ListQuery struct {
	Limit, Offset int
	Category      string
}

func badRequest(code, format string, args ...any) error {
	return platform.Errorf(http.StatusBadRequest, code, format, args...)
}

func intParam(v string, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("invalid_"+name, "%s must be an integer in %d..%d, got %q", name, lo, hi, truncate(v))
	}
	return n, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// DecodeListQuery validates ?limit=&offset=&category=.
func DecodeListQuery(r *http.Request) (ListQuery, error) {
	q := r.URL.Query()
	var lq ListQuery
	var err error
	if lq.Limit, err = intParam(q.Get("limit"), "limit", DefaultLimit, 1, MaxLimit); err != nil {
		return lq, err
	}
	if lq.Offset, err = intParam(q.Get("offset"), "offset", 0, 0, MaxOffset); err != nil {
		return lq, err
	}
	lq.Category = q.Get("category")
	if len(lq.Category) > MaxCategory || !isSlug(lq.Category) {
		return lq, badRequest("invalid_category", "category must be up to %d of [a-z0-9-], got %q", MaxCategory, truncate(lq.Category))
	}
	return lq, nil
}

func isSlug(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidProductID checks an id: 1..64 of [A-Za-z0-9_-].
func ValidProductID(id string) error {
	if id == "" || len(id) > MaxProductID {
		return badRequest("invalid_product_id", "product id must be 1..%d characters", MaxProductID)
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return badRequest("invalid_product_id", "product id may hold only letters, digits, '-' and '_', got %q", truncate(id))
		}
	}
	return nil
}

// DecodeSearchQuery validates ?q=&limit= and returns the trimmed query.
func DecodeSearchQuery(r *http.Request) (string, int, error) {
	v := r.URL.Query()
	q := strings.TrimSpace(v.Get("q"))
	if q == "" {
		return "", 0, badRequest("missing_query", "q is required: GET /v1/search?q=lamp")
	}
	if !utf8.ValidString(q) || strings.ContainsRune(q, 0) {
		return "", 0, badRequest("invalid_query", "q must be valid UTF-8 text without NUL bytes")
	}
	if utf8.RuneCountInString(q) > MaxQueryLen {
		return "", 0, badRequest("invalid_query", "q must be at most %d characters", MaxQueryLen)
	}
	limit, err := intParam(v.Get("limit"), "limit", DefaultLimit, 1, MaxLimit)
	return q, limit, err
}

// Handler serves the catalog API from a Store.
type Handler struct {
	Store *Store
}

// Routes registers the catalog API on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/products", h.list)
	mux.HandleFunc("GET /v1/products/{id}", h.get)
	mux.HandleFunc("GET /v1/search", h.search)
}

// writeStoreErr answers a store failure: not found → 404, a dependency
// failure → 503 (the database is the problem, not the request).
func writeStoreErr(w http.ResponseWriter, err error) {
	var ae *platform.APIError
	switch {
	case errors.As(err, &ae):
		platform.WriteErr(w, err)
	case errors.Is(err, errNotFound):
		platform.WriteError(w, http.StatusNotFound, "product_not_found", "no such product")
	default:
		outcome := resilience.Classify(err)
		platform.WriteError(w, http.StatusServiceUnavailable, "postgres_unavailable",
			"catalog database unavailable ("+outcome+"); retry later")
	}
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q, err := DecodeListQuery(r)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	ps, total, err := h.Store.List(r.Context(), q.Limit, q.Offset, q.Category)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, ListResponse{Products: nonNil(ps), Total: total, Limit: q.Limit, Offset: q.Offset})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := ValidProductID(id); err != nil {
		platform.WriteErr(w, err)
		return
	}
	p, err := h.Store.Get(r.Context(), id)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, ProductResponse{Product: p})
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	q, limit, err := DecodeSearchQuery(r)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	ps, err := h.Store.Search(r.Context(), q, limit)
	if err != nil {
		writeStoreErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, SearchResponse{Products: nonNil(ps)})
}

func nonNil(p []Product) []Product {
	if p == nil {
		return []Product{}
	}
	return p
}

// Main runs the catalog service: `storefront catalog --dep postgres=DSN [flags]`.
func Main(ctx context.Context, args []string) error {
	fs := platform.NewFlagSet("catalog")
	n := fs.Int("products", DefaultProducts, fmt.Sprintf("products seeded on first start (%d..%d)", MinProducts, MaxProducts))
	maxConns := fs.Int("db-max-conns", 16, "PostgreSQL connection pool size")
	cfg, err := fs.Parse(args, nil)
	if err != nil {
		return err
	}
	if *n < MinProducts || *n > MaxProducts {
		return fmt.Errorf("catalog: --products must be %d..%d, got %d", MinProducts, MaxProducts, *n)
	}
	if *maxConns < 1 {
		return fmt.Errorf("catalog: --db-max-conns must be ≥ 1, got %d", *maxConns)
	}
	srv, err := platform.New(cfg)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	dep, err := srv.Dependency("postgres")
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	pcfg, err := pgxpool.ParseConfig(dep.BaseURL())
	if err != nil {
		return fmt.Errorf("catalog: --dep postgres: not a PostgreSQL DSN (want postgres://user@host:port/db?sslmode=disable): %w", err)
	}
	pcfg.MaxConns = int32(*maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg) // connects lazily
	if err != nil {
		return fmt.Errorf("catalog: open pool: %w", err)
	}
	defer pool.Close()

	store := NewStore(pool, dep)
	(&Handler{Store: store}).Routes(srv.Mux)
	srv.AddReadiness("postgres", store.Ready)

	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go migrateLoop(mctx, store, *n, srv)
	return srv.Run(ctx)
}

// migrateLoop retries Migrate until it succeeds: the catalog starts (and
// answers 503 not_ready) even when its database comes up later.
func migrateLoop(ctx context.Context, store *Store, n int, srv *platform.Server) {
	wait := migrateRetry
	for {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := store.Migrate(actx, n)
		cancel()
		if err == nil {
			srv.Log.Info("catalog migrated", "products_seeded_if_new", n)
			return
		}
		if ctx.Err() != nil {
			return
		}
		srv.Log.Warn("catalog migration failed; retrying", "error", err.Error(), "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, migrateMaxGap)
	}
}
