package orders

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outagelab/outagelab/internal/procs"
)

// One PostgreSQL server serves the whole package; each test gets its own
// database on it.
var (
	pgOnce   sync.Once
	pgServer *procs.Postgres
	pgDir    string
	pgErr    error
	dbSeq    atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgServer != nil {
		_ = pgServer.Stop()
	}
	if pgDir != "" {
		_ = os.RemoveAll(pgDir)
	}
	os.Exit(code)
}

func sharedPostgres(t testing.TB) *procs.Postgres {
	t.Helper()
	procs.RequirePostgres(t)
	pgOnce.Do(func() {
		pgDir, pgErr = os.MkdirTemp("", "orders-pg-")
		if pgErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		pgServer, pgErr = procs.StartPostgres(ctx, pgDir, procs.WithFsync(false))
	})
	if pgErr != nil {
		t.Fatalf("start postgres: %v", pgErr)
	}
	return pgServer
}

// newTestDSN creates a fresh database and returns its DSN.
func newTestDSN(t testing.TB) string {
	t.Helper()
	pg := sharedPostgres(t)
	name := fmt.Sprintf("orders_t%d", dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	return pg.DSN(name)
}

// newTestPool opens a pool on a fresh database.
func newTestPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), newTestDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
