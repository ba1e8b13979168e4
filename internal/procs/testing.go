package procs

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// RequireBinaries skips t when postgres/initdb or redis-server are missing,
// unless the environment variable CI is set: then a missing binary fails the
// test, so CI never passes by skipping.
func RequireBinaries(t testing.TB) {
	t.Helper()
	RequirePostgres(t)
	RequireRedis(t)
}

// RequirePostgres is RequireBinaries for PostgreSQL only.
func RequirePostgres(t testing.TB) {
	t.Helper()
	if _, err := LookPostgres(); err != nil {
		missing(t, err)
	}
}

// RequireRedis is RequireBinaries for redis-server only.
func RequireRedis(t testing.TB) {
	t.Helper()
	if _, err := LookRedis(); err != nil {
		missing(t, err)
	}
}

func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and a required binary is missing: %v", err)
	}
	t.Skipf("skipping integration test: %v", err)
}

// NewTestPostgres starts PostgreSQL for a test (fsync off) in a temp dir,
// skipping per RequirePostgres, and stops it in t.Cleanup.
func NewTestPostgres(t testing.TB, opts ...Option) *Postgres {
	t.Helper()
	RequirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pg, err := StartPostgres(ctx, t.TempDir(), append([]Option{WithFsync(false)}, opts...)...)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			missing(t, err)
		}
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("stop postgres: %v", err)
		}
	})
	return pg
}

// NewTestRedis starts redis-server for a test in a temp dir, skipping per
// RequireRedis, and stops it in t.Cleanup.
func NewTestRedis(t testing.TB, opts ...Option) *Redis {
	t.Helper()
	RequireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := StartRedis(ctx, t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("stop redis: %v", err)
		}
	})
	return r
}
