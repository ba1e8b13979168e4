package orders

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Order statuses. An order is born reserved (stock held), then either
// confirmed (paid; final) or cancelled (stock released; final).
const (
	StatusReserved  = "reserved"
	StatusConfirmed = "confirmed"
	StatusCancelled = "cancelled"
)

// Item is one line of an order.
type Item struct {
	ProductID  string `json:"product_id"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"price_cents,omitempty"`
}

// Order is an order as stored.
type Order struct {
	ID             string    `json:"order_id"`
	IdempotencyKey string    `json:"idempotency_key"`
	UserID         string    `json:"user_id"`
	Status         string    `json:"status"`
	TotalCents     int64     `json:"total_cents"`
	PaymentID      string    `json:"payment_id,omitempty"`
	Items          []Item    `json:"items"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Errors the store returns; the HTTP layer maps them to statuses.
var (
	ErrNotFound = errors.New("order not found")
	// ErrConflict: the order is in a final state that forbids the transition.
	ErrConflict = errors.New("order state forbids this change")
)

// ProductError names the product that made a reservation fail.
type ProductError struct {
	ProductID string
	Unknown   bool // true: no such product; false: not enough stock
}

func (e *ProductError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("unknown product %q", e.ProductID)
	}
	return fmt.Sprintf("not enough stock for product %q", e.ProductID)
}

// Store keeps orders and inventory in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore wraps an open pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// migrateLockKey is the advisory lock that serialises migrations across
// replicas starting at once ("orders" in ASCII).
const migrateLockKey int64 = 0x6f7264657273

// migrations are applied in order, each once; the version table records them.
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS inventory (
		product_id  TEXT PRIMARY KEY,
		price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
		stock       INTEGER NOT NULL CHECK (stock >= 0)
	);
	CREATE TABLE IF NOT EXISTS orders (
		id              TEXT PRIMARY KEY,
		idempotency_key TEXT NOT NULL UNIQUE,
		user_id         TEXT NOT NULL,
		status          TEXT NOT NULL CHECK (status IN ('reserved','confirmed','cancelled')),
		total_cents     BIGINT NOT NULL DEFAULT 0,
		payment_id      TEXT NOT NULL DEFAULT '',
		created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
		updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
	);
	CREATE TABLE IF NOT EXISTS order_items (
		order_id    TEXT NOT NULL REFERENCES orders(id),
		product_id  TEXT NOT NULL REFERENCES inventory(product_id),
		qty         INTEGER NOT NULL CHECK (qty > 0),
		price_cents BIGINT NOT NULL,
		PRIMARY KEY (order_id, product_id)
	);
	CREATE INDEX IF NOT EXISTS orders_user_idx ON orders (user_id);`,
}

// Migrate creates the schema and seeds inventory for stock that does not
// exist yet. It is idempotent and safe to run from several processes at once.
func (s *Store) Migrate(ctx context.Context, seed []StockItem) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must run even when ctx is done.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, migrateLockKey)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS orders_schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	for i, m := range migrations {
		version := i + 1
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders_schema_migrations WHERE version=$1)`, version).Scan(&done); err != nil {
			return fmt.Errorf("read migration %d: %w", version, err)
		}
		if done {
			continue
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin migration %d: %w", version, err)
		}
		if _, err := tx.Exec(ctx, m); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("apply migration %d: %w", version, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO orders_schema_migrations (version) VALUES ($1)`, version); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("record migration %d: %w", version, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit migration %d: %w", version, err)
		}
	}
	if len(seed) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for _, it := range seed {
		batch.Queue(`INSERT INTO inventory (product_id, price_cents, stock) VALUES ($1, $2, $3)
			ON CONFLICT (product_id) DO NOTHING`, it.ProductID, it.PriceCents, it.Stock)
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("seed inventory: %w", err)
	}
	return nil
}

// StockItem is one inventory row.
type StockItem struct {
	ProductID  string `json:"product_id"`
	PriceCents int64  `json:"price_cents"`
	Stock      int    `json:"stock"`
}

// Stock reads one product's inventory.
func (s *Store) Stock(ctx context.Context, productID string) (StockItem, error) {
	it := StockItem{ProductID: productID}
	err := s.pool.QueryRow(ctx, `SELECT price_cents, stock FROM inventory WHERE product_id=$1`, productID).
		Scan(&it.PriceCents, &it.Stock)
	if errors.Is(err, pgx.ErrNoRows) {
		return it, &ProductError{ProductID: productID, Unknown: true}
	}
	if err != nil {
		return it, fmt.Errorf("read stock: %w", err)
	}
	return it, nil
}

// SetStock overwrites one product's stock (used to stage low-stock tests
// and by operators restocking).
func (s *Store) SetStock(ctx context.Context, productID string, stock int) error {
	if stock < 0 {
		return fmt.Errorf("set stock: negative stock %d", stock)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE inventory SET stock=$2 WHERE product_id=$1`, productID, stock)
	if err != nil {
		return fmt.Errorf("set stock: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return &ProductError{ProductID: productID, Unknown: true}
	}
	return nil
}

// Reserve creates a reserved order holding stock for items, all or nothing,
// in one transaction. A second call with the same idempotency key returns
// the existing order (whatever its items) and created=false; if that order
// was cancelled, it is reserved again first (or fails out of stock).
// Items must already be normalised (see normaliseItems).
func (s *Store) Reserve(ctx context.Context, key, userID string, items []Item) (Order, bool, error) {
	var (
		o       Order
		created bool
	)
	err := s.retryTx(ctx, func(tx pgx.Tx) error {
		created = false
		id, err := newOrderID()
		if err != nil {
			return err
		}
		var inserted string
		err = tx.QueryRow(ctx, `INSERT INTO orders (id, idempotency_key, user_id, status)
			VALUES ($1, $2, $3, 'reserved')
			ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`, id, key, userID).Scan(&inserted)
		if errors.Is(err, pgx.ErrNoRows) {
			// The key exists (perhaps committed a moment ago by a concurrent
			// retry: the insert waited for it). Answer with that order,
			// revived if an earlier attempt was rolled back.
			o, err = reviveByKey(ctx, tx, key)
			return err
		}
		if err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		var total int64
		// Items are sorted by product id: every transaction locks inventory
		// rows in the same order, so two reservations cannot deadlock.
		for i, it := range items {
			var price int64
			err := tx.QueryRow(ctx, `UPDATE inventory SET stock = stock - $1
				WHERE product_id = $2 AND stock >= $1 RETURNING price_cents`, it.Qty, it.ProductID).Scan(&price)
			if errors.Is(err, pgx.ErrNoRows) {
				var exists bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inventory WHERE product_id=$1)`, it.ProductID).Scan(&exists); err != nil {
					return fmt.Errorf("check product: %w", err)
				}
				return &ProductError{ProductID: it.ProductID, Unknown: !exists}
			}
			if err != nil {
				return fmt.Errorf("reserve stock: %w", err)
			}
			items[i].PriceCents = price
			total += price * int64(it.Qty)
			if _, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, product_id, qty, price_cents)
				VALUES ($1, $2, $3, $4)`, id, it.ProductID, it.Qty, price); err != nil {
				return fmt.Errorf("insert item: %w", err)
			}
		}
		if err := tx.QueryRow(ctx, `UPDATE orders SET total_cents=$2 WHERE id=$1
			RETURNING created_at, updated_at`, id, total).Scan(&o.CreatedAt, &o.UpdatedAt); err != nil {
			return fmt.Errorf("set total: %w", err)
		}
		o.ID, o.IdempotencyKey, o.UserID, o.Status, o.TotalCents = id, key, userID, StatusReserved, total
		o.Items = append([]Item(nil), items...)
		created = true
		return nil
	})
	return o, created, err
}

// reviveByKey returns the order of key; a cancelled one is reserved again
// (its stock taken again, all or nothing) so that a client retrying a
// failed checkout with the same key can still complete it.
func reviveByKey(ctx context.Context, tx pgx.Tx, key string) (Order, error) {
	var id, status string
	err := tx.QueryRow(ctx, `SELECT id, status FROM orders WHERE idempotency_key=$1 FOR UPDATE`, key).Scan(&id, &status)
	if err != nil {
		return Order{}, fmt.Errorf("lock order by key: %w", err)
	}
	o, err := getBy(ctx, tx, `o.id=$1`, id)
	if err != nil || status != StatusCancelled {
		return o, err
	}
	for _, it := range o.Items { // sorted by product id: same lock order as Reserve
		tag, err := tx.Exec(ctx, `UPDATE inventory SET stock = stock - $1 WHERE product_id=$2 AND stock >= $1`,
			it.Qty, it.ProductID)
		if err != nil {
			return Order{}, fmt.Errorf("reserve stock again: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return Order{}, &ProductError{ProductID: it.ProductID}
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE orders SET status='reserved', updated_at=now() WHERE id=$1`, id); err != nil {
		return Order{}, fmt.Errorf("revive order: %w", err)
	}
	return getBy(ctx, tx, `o.id=$1`, id)
}

// Confirm marks a reserved order confirmed (paid). Confirming a confirmed
// order is a no-op that returns it; a cancelled order gives ErrConflict.
// The update is committed before Confirm returns.
func (s *Store) Confirm(ctx context.Context, id, paymentID string) (Order, error) {
	var o Order
	err := s.retryTx(ctx, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM orders WHERE id=$1 FOR UPDATE`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock order: %w", err)
		}
		switch status {
		case StatusCancelled:
			return ErrConflict
		case StatusReserved:
			if _, err := tx.Exec(ctx, `UPDATE orders SET status='confirmed',
				payment_id=CASE WHEN $2 = '' THEN payment_id ELSE $2 END, updated_at=now()
				WHERE id=$1`, id, paymentID); err != nil {
				return fmt.Errorf("confirm order: %w", err)
			}
		}
		o, err = getBy(ctx, tx, `o.id=$1`, id)
		return err
	})
	return o, err
}

// Cancel cancels a reserved order and releases its stock. Cancelling a
// cancelled order returns it unchanged; a confirmed order gives ErrConflict.
func (s *Store) Cancel(ctx context.Context, id string) (Order, error) {
	var o Order
	err := s.retryTx(ctx, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM orders WHERE id=$1 FOR UPDATE`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock order: %w", err)
		}
		switch status {
		case StatusConfirmed:
			return ErrConflict
		case StatusReserved:
			o, err = getBy(ctx, tx, `o.id=$1`, id)
			if err != nil {
				return err
			}
			// Items come back sorted by product id: same lock order as Reserve.
			for _, it := range o.Items {
				if _, err := tx.Exec(ctx, `UPDATE inventory SET stock = stock + $1 WHERE product_id=$2`,
					it.Qty, it.ProductID); err != nil {
					return fmt.Errorf("release stock: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE orders SET status='cancelled', updated_at=now() WHERE id=$1`, id); err != nil {
				return fmt.Errorf("cancel order: %w", err)
			}
		}
		o, err = getBy(ctx, tx, `o.id=$1`, id)
		return err
	})
	return o, err
}

// Get reads an order by id.
func (s *Store) Get(ctx context.Context, id string) (Order, error) {
	return getBy(ctx, s.pool, `o.id=$1`, id)
}

// GetByKey reads an order by its idempotency key.
func (s *Store) GetByKey(ctx context.Context, key string) (Order, error) {
	return getBy(ctx, s.pool, `o.idempotency_key=$1`, key)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// getBy reads one order and its items; where is a fixed condition on o.
func getBy(ctx context.Context, q querier, where string, arg string) (Order, error) {
	rows, err := q.Query(ctx, `SELECT o.id, o.idempotency_key, o.user_id, o.status, o.total_cents,
		o.payment_id, o.created_at, o.updated_at, i.product_id, i.qty, i.price_cents
		FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
		WHERE `+where+` ORDER BY i.product_id`, arg)
	if err != nil {
		return Order{}, fmt.Errorf("read order: %w", err)
	}
	defer rows.Close()
	var (
		o     Order
		found bool
	)
	o.Items = []Item{}
	for rows.Next() {
		var (
			pid   *string
			qty   *int
			price *int64
		)
		if err := rows.Scan(&o.ID, &o.IdempotencyKey, &o.UserID, &o.Status, &o.TotalCents,
			&o.PaymentID, &o.CreatedAt, &o.UpdatedAt, &pid, &qty, &price); err != nil {
			return Order{}, fmt.Errorf("scan order: %w", err)
		}
		found = true
		if pid != nil {
			o.Items = append(o.Items, Item{ProductID: *pid, Qty: *qty, PriceCents: *price})
		}
	}
	if err := rows.Err(); err != nil {
		return Order{}, fmt.Errorf("read order: %w", err)
	}
	if !found {
		return Order{}, ErrNotFound
	}
	return o, nil
}

// retryTx runs fn in a transaction, retrying a few times when PostgreSQL
// aborts it for a deadlock or serialization failure. Errors from fn that
// are not database aborts are returned as they are.
func (s *Store) retryTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") {
			continue
		}
		return err
	}
	return err
}

func newOrderID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("order id: %w", err)
	}
	return "ord_" + hex.EncodeToString(b[:]), nil
}

// normaliseItems merges duplicate product lines and sorts by product id.
func normaliseItems(items []Item) []Item {
	qty := make(map[string]int, len(items))
	for _, it := range items {
		qty[it.ProductID] += it.Qty
	}
	out := make([]Item, 0, len(qty))
	for id, q := range qty {
		out = append(out, Item{ProductID: id, Qty: q})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProductID < out[j].ProductID })
	return out
}
