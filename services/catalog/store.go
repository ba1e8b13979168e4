package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// Product is one catalog entry, as the API answers it.
type Product struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Category    string `json:"category"`
	// Stock is the listed stock seeded with the product; the orders service
	// holds the authoritative inventory.
	Stock int `json:"stock"`
}

// Store reads products from PostgreSQL. Every query runs through the
// "postgres" resilience.Dependency, so it is timed out, retried, measured
// and (hardened) guarded by a breaker.
type Store struct {
	pool     *pgxpool.Pool
	dep      *resilience.Dependency
	migrated atomic.Bool
}

// NewStore returns a store on pool whose calls go through dep.
func NewStore(pool *pgxpool.Pool, dep *resilience.Dependency) *Store {
	return &Store{pool: pool, dep: dep}
}

// migrateLockKey is the advisory lock that serialises migrations across
// catalog replicas sharing a database ("catl").
const migrateLockKey int64 = 0x6361746c

var migrations = []string{
	1: `CREATE TABLE products (
		id          TEXT PRIMARY KEY,
		name        TEXT NOT NULL,
		description TEXT NOT NULL,
		price_cents BIGINT NOT NULL CHECK (price_cents > 0),
		category    TEXT NOT NULL,
		stock       INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0)
	);
	CREATE INDEX products_category_idx ON products (category, id);`,
}

// Migrate brings the schema up to date and seeds n products on first start.
// It is idempotent and safe to run from several processes at once (an
// advisory lock serialises them; applied versions are recorded).
func (s *Store) Migrate(ctx context.Context, n int) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS catalog_migrations (
		version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create version table: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM catalog_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	steps := append([]func(pgx.Tx) error{nil}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, migrations[1])
		return err
	}, func(tx pgx.Tx) error { return seed(ctx, tx, SeedProducts(n)) })
	for v := current + 1; v < len(steps); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if err := steps[v](tx); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO catalog_migrations (version) VALUES ($1)`, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: version %d: %w", v, err)
		}
	}
	s.migrated.Store(true)
	return nil
}

func seed(ctx context.Context, tx pgx.Tx, ps []Product) error {
	ids := make([]string, len(ps))
	names := make([]string, len(ps))
	descs := make([]string, len(ps))
	prices := make([]int64, len(ps))
	cats := make([]string, len(ps))
	stock := make([]int32, len(ps))
	for i, p := range ps {
		ids[i], names[i], descs[i], prices[i], cats[i], stock[i] = p.ID, p.Name, p.Description, p.PriceCents, p.Category, int32(p.Stock)
	}
	_, err := tx.Exec(ctx, `INSERT INTO products (id, name, description, price_cents, category, stock)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[])
		ON CONFLICT (id) DO NOTHING`, ids, names, descs, prices, cats, stock)
	if err != nil {
		return fmt.Errorf("seed products: %w", err)
	}
	return nil
}

// Migrated reports whether Migrate has succeeded in this process.
func (s *Store) Migrated() bool { return s.migrated.Load() }

// Ready is the readiness check: migrated and the database answers.
func (s *Store) Ready(ctx context.Context) error {
	if !s.Migrated() {
		return errors.New("migrations have not run yet")
	}
	return s.pool.Ping(ctx)
}

var errNotFound = errors.New("product not found")

const columns = `id, name, description, price_cents, category, stock`

// List returns products ordered by id, optionally of one category, and the
// total count matching.
func (s *Store) List(ctx context.Context, limit, offset int, category string) ([]Product, int, error) {
	var (
		out   []Product
		total int
	)
	err := s.do(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT `+columns+`, count(*) OVER () FROM products
			WHERE ($1 = '' OR category = $1) ORDER BY id LIMIT $2 OFFSET $3`, category, limit, offset)
		if err != nil {
			return err
		}
		out, total = out[:0], 0
		for rows.Next() {
			var p Product
			if err := rows.Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Category, &p.Stock, &total); err != nil {
				rows.Close()
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	if err == nil && len(out) == 0 && offset > 0 {
		// Past the end: count separately so clients can still page.
		err = s.do(ctx, func(ctx context.Context) error {
			return s.pool.QueryRow(ctx, `SELECT count(*) FROM products WHERE ($1 = '' OR category = $1)`, category).Scan(&total)
		})
	}
	return out, total, err
}

// Get returns one product; an unknown id gives an error wrapping errNotFound.
func (s *Store) Get(ctx context.Context, id string) (Product, error) {
	var p Product
	err := s.do(ctx, func(ctx context.Context) error {
		err := s.pool.QueryRow(ctx, `SELECT `+columns+` FROM products WHERE id = $1`, id).
			Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Category, &p.Stock)
		if errors.Is(err, pgx.ErrNoRows) {
			// An answer, not a failure of the dependency: no retry, no breaker.
			return resilience.ClientError(errNotFound)
		}
		return err
	})
	return p, err
}

// Search returns up to limit products whose name, description or category
// contains q (case-insensitive, ILIKE with q's wildcards escaped).
func (s *Store) Search(ctx context.Context, q string, limit int) ([]Product, error) {
	pattern := "%" + likeEscaper.Replace(q) + "%"
	var out []Product
	err := s.do(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM products
			WHERE name ILIKE $1 OR description ILIKE $1 OR category ILIKE $1 ORDER BY id LIMIT $2`, pattern, limit)
		if err != nil {
			return err
		}
		out = out[:0]
		for rows.Next() {
			var p Product
			if err := rows.Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Category, &p.Stock); err != nil {
				rows.Close()
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// do runs fn through the dependency, refusing early until migrated.
func (s *Store) do(ctx context.Context, fn func(context.Context) error) error {
	if !s.Migrated() {
		return platform.Errorf(http.StatusServiceUnavailable, "not_ready", "catalog has not reached its database yet; retry shortly")
	}
	return s.dep.Do(ctx, fn)
}
