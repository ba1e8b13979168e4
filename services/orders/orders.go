// Package orders is the storefront's orders and inventory service: stock
// and orders in PostgreSQL, reservations that never drive stock negative,
// and confirmations that are committed before they are acknowledged.
//
//	checkout ──POST /v1/reservations (Idempotency-Key)──▶ orders ──one tx──▶ postgres
//	         ──POST /v1/orders/{id}/confirm─────────────▶        UPDATE inventory SET stock = stock - q
//	         ──POST /v1/orders/{id}/cancel──────────────▶          WHERE product_id = p AND stock >= q
//
// An order is reserved (stock held) → confirmed (paid, final) or cancelled
// (stock released, final). The idempotency key is unique: a retried
// reservation returns the order the first one made.
package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outagelab/outagelab/services/catalog"
	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// Main runs the orders service until ctx ends or SIGTERM arrives.
func Main(ctx context.Context, args []string) error {
	srv, closeFn, err := Setup(ctx, args)
	if err != nil {
		return err
	}
	defer closeFn()
	return srv.Run(ctx)
}

// Setup parses args and builds the service without serving: the caller
// runs the returned server (after Listen, if it needs the address) and
// calls closeFn after Run returns.
func Setup(ctx context.Context, args []string) (srv *platform.Server, closeFn func(), err error) {
	fs := platform.NewFlagSet("orders")
	stock := fs.Int("seed-stock", DefaultStock, "stock seeded for each ordinary catalog product on first start")
	products := fs.Int("products", catalog.DefaultProducts, "how many catalog products to stock (match catalog's --products)")
	cfg, err := fs.Parse(args, nil)
	if err != nil {
		return nil, nil, err
	}
	if *stock < 0 {
		return nil, nil, fmt.Errorf("orders: --seed-stock must be ≥ 0, got %d", *stock)
	}
	if *products < catalog.MinProducts || *products > catalog.MaxProducts {
		return nil, nil, fmt.Errorf("orders: --products must be %d..%d, got %d", catalog.MinProducts, catalog.MaxProducts, *products)
	}
	srv, err = platform.New(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("orders: %w", err)
	}
	pg, err := srv.Dependency("postgres")
	if err != nil {
		return nil, nil, fmt.Errorf("orders: %w", err)
	}
	poolCfg, err := PoolConfig(pg.BaseURL())
	if err != nil {
		return nil, nil, fmt.Errorf("orders: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), poolCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("orders: open postgres pool: %w", err)
	}
	h := NewHandler(NewStore(pool), pg)
	h.Register(srv.Mux)
	srv.AddReadiness("postgres", h.Ready)
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.migrateLoop(mctx, SeedStock(*products, *stock), srv)
	}()
	return srv, func() { cancel(); <-done; pool.Close() }, nil
}

// PoolConfig is the PostgreSQL pool configuration of the service.
func PoolConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse --dep postgres DSN (want postgres://user@host:port/db?sslmode=disable): %w", err)
	}
	cfg.MaxConns = 16
	// An acknowledged order must survive a PostgreSQL crash even when the
	// server runs with synchronous_commit=off (as test and local clusters
	// do for speed): every commit of ours waits for its WAL flush.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	return cfg, nil
}

// Handler serves the orders API.
type Handler struct {
	store    *Store
	pg       *resilience.Dependency
	migrated atomic.Bool
}

// NewHandler serves store, calling PostgreSQL through the dependency pg
// (its policy: timeout, retries, breaker; its metrics).
func NewHandler(store *Store, pg *resilience.Dependency) *Handler {
	return &Handler{store: store, pg: pg}
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/reservations", h.reserve)
	mux.HandleFunc("GET /v1/orders/{id}", h.get)
	mux.HandleFunc("GET /v1/orders", h.getByKey)
	mux.HandleFunc("POST /v1/orders/{id}/confirm", h.confirm)
	mux.HandleFunc("POST /v1/orders/{id}/cancel", h.cancel)
	mux.HandleFunc("GET /v1/inventory/{product_id}", h.stock)
}

// Ready fails until migrations ran and while PostgreSQL does not answer.
func (h *Handler) Ready(ctx context.Context) error {
	if !h.migrated.Load() {
		return errors.New("migrations not applied yet")
	}
	return h.store.Ping(ctx)
}

// migrateLoop applies migrations, retrying until it succeeds: the service
// starts (and reports unready) even while PostgreSQL is down.
func (h *Handler) migrateLoop(ctx context.Context, seed []StockItem, srv *platform.Server) {
	wait := 200 * time.Millisecond
	for {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := h.store.Migrate(mctx, seed)
		cancel()
		if err == nil {
			h.migrated.Store(true)
			srv.Log.Info("migrations applied", "products", len(seed))
			return
		}
		srv.Log.Warn("migrations failed; retrying", "error", err.Error(), "wait_ms", wait.Milliseconds())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// call runs fn against PostgreSQL under the dependency's policy. Domain
// answers (not found, out of stock, conflict) are the database's valid "no":
// they are not retried and do not count against the breaker.
func (h *Handler) call(ctx context.Context, fn func(ctx context.Context) error) error {
	if !h.migrated.Load() {
		return platform.Errorf(http.StatusServiceUnavailable, "not_ready", "orders is starting: migrations not applied yet; retry shortly")
	}
	return h.pg.Do(ctx, func(ctx context.Context) error {
		err := fn(ctx)
		var pe *ProductError
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.As(err, &pe) {
			return resilience.ClientError(err)
		}
		return err
	})
}

// writeErr maps store and dependency errors to the JSON error answers.
func writeErr(w http.ResponseWriter, err error) {
	var (
		pe *ProductError
		ae *platform.APIError
	)
	switch {
	case errors.As(err, &ae):
		platform.WriteErr(w, ae)
	case errors.As(err, &pe) && pe.Unknown:
		platform.WriteError(w, http.StatusNotFound, "unknown_product", pe.Error())
	case errors.As(err, &pe):
		platform.WriteError(w, http.StatusConflict, "out_of_stock", pe.Error())
	case errors.Is(err, ErrNotFound):
		platform.WriteError(w, http.StatusNotFound, "order_not_found", "no such order")
	case errors.Is(err, ErrConflict):
		platform.WriteError(w, http.StatusConflict, "order_state_conflict", err.Error())
	case resilience.Classify(err) == resilience.OutcomeBreakerOpen:
		platform.WriteError(w, http.StatusServiceUnavailable, "database_unavailable", "database circuit breaker is open; retry later")
	default:
		platform.WriteError(w, http.StatusServiceUnavailable, "database_unavailable", "database call failed: "+resilience.Classify(err))
	}
}

func (h *Handler) reserve(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeReservation(r.Body, r.Header.Get("Idempotency-Key"))
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	var (
		o       Order
		created bool
	)
	err = h.call(r.Context(), func(ctx context.Context) error {
		items := append([]Item(nil), req.Items...)
		var err error
		o, created, err = h.store.Reserve(ctx, req.IdempotencyKey, req.UserID, items)
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	platform.WriteJSON(w, status, o)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || len(id) > MaxIDLen {
		platform.WriteError(w, http.StatusBadRequest, "invalid_request", "order id must be 1..64 characters")
		return
	}
	var o Order
	err := h.call(r.Context(), func(ctx context.Context) error {
		var err error
		o, err = h.store.Get(ctx, id)
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, o)
}

func (h *Handler) getByKey(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("idempotency_key")
	if err := ValidKey(key); err != nil {
		platform.WriteErr(w, err)
		return
	}
	var o Order
	err := h.call(r.Context(), func(ctx context.Context) error {
		var err error
		o, err = h.store.GetByKey(ctx, key)
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, o)
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req, err := DecodeConfirm(r.Body)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	var o Order
	err = h.call(r.Context(), func(ctx context.Context) error {
		var err error
		o, err = h.store.Confirm(ctx, id, req.PaymentID)
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, o)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var o Order
	err := h.call(r.Context(), func(ctx context.Context) error {
		var err error
		o, err = h.store.Cancel(ctx, id)
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, o)
}

func (h *Handler) stock(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("product_id")
	var it StockItem
	err := h.call(r.Context(), func(ctx context.Context) error {
		var err error
		it, err = h.store.Stock(ctx, id)
		return err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, it)
}
