package procs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/outagelab/outagelab/internal/testenv"
)

func TestFreePortIsBindable(t *testing.T) {
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if p <= 0 || p > 65535 {
		t.Fatalf("port %d out of range", p)
	}
}

func TestLookPostgresEnvOverrideMissing(t *testing.T) {
	t.Setenv("OUTAGELAB_POSTGRES_BIN", t.TempDir())
	_, err := LookPostgres()
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound for an empty override dir, got %v", err)
	}
}

func TestPgVersionOrder(t *testing.T) {
	if !(pgVersion("/usr/lib/postgresql/15/bin") > pgVersion("/usr/lib/postgresql/9.6/bin")) {
		t.Fatal("15 must sort above 9.6")
	}
}

func TestReachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reachable matters only as root")
	}
	cred, err := postgresCredential()
	testenv.Need(t, "the postgres OS user (Debian package postgresql-15)", err)
	private := filepath.Join(t.TempDir(), "x") // t.TempDir's parent is 0700 root
	if reachable(private, cred) {
		t.Fatalf("%s should not be reachable by uid %d", private, cred.Uid)
	}
	if !reachable(filepath.Join(os.TempDir(), "x"), cred) {
		t.Fatal("the temp root should be reachable")
	}
}

func TestPostgresStartQueryStop(t *testing.T) {
	pg := NewTestPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.CreateDatabase(ctx, "shop-db"); err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase(ctx, "shop-db"); err != nil {
		t.Fatalf("second create must be a no-op: %v", err)
	}
	conn, err := pgx.Connect(ctx, pg.DSN("shop-db"))
	if err != nil {
		t.Fatal(err)
	}
	var db, who string
	if err := conn.QueryRow(ctx, "select current_database(), current_user").Scan(&db, &who); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if db != "shop-db" || who != "postgres" {
		t.Fatalf("got db=%q user=%q", db, who)
	}
	if !strings.Contains(pg.DSN("x"), ":"+strconv.Itoa(pg.Port())+"/x") {
		t.Fatalf("DSN %q does not carry port %d", pg.DSN("x"), pg.Port())
	}

	pid := pg.Pid()
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("postmaster %d still alive after Stop", pid)
	}
	if _, err := pgx.Connect(ctx, pg.DSN("postgres")); err == nil {
		t.Fatal("connect succeeded after Stop")
	}
}

func TestPostgresDataSurvivesRestartInSameDir(t *testing.T) {
	RequirePostgres(t)
	// A dir the postgres user can reach, so the cluster lives in it.
	dir, err := os.MkdirTemp("", "procs-pg-reuse-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	pg, err := StartPostgres(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "create table kept(v int); insert into kept values (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}

	pg2, err := StartPostgres(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg2.Stop() })
	conn, err = pgx.Connect(ctx, pg2.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "select v from kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("kept row: v=%d err=%v", v, err)
	}
}

func TestPostgresFixedPortTakenFails(t *testing.T) {
	pg := NewTestPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := StartPostgres(ctx, t.TempDir(), WithPort(pg.Port()), WithFsync(false), WithStartTimeout(20*time.Second))
	if err == nil {
		t.Fatal("a second postgres on a taken port must fail")
	}
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("want a port-taken error, got %v", err)
	}
}

func TestRedisStartPingStop(t *testing.T) {
	r := NewTestRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := r.Pid()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("redis %d still alive after Stop", pid)
	}
}

func TestRedisRestartKeepsDataWithAOF(t *testing.T) {
	r := NewTestRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.HSet(ctx, "cart:u1", "p1", 3).Err(); err != nil {
		t.Fatal(err)
	}
	oldPid := r.Pid()
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Pid() == oldPid {
		t.Fatal("Restart did not start a new process")
	}
	got, err := c.HGet(ctx, "cart:u1", "p1").Result()
	if err != nil || got != "3" {
		t.Fatalf("after restart: %q, %v", got, err)
	}
}

func TestRedisWithoutAOFLosesData(t *testing.T) {
	r := NewTestRedis(t, WithAppendOnly(false))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("without AOF and snapshots the key must be gone: n=%d err=%v", n, err)
	}
}

func TestStartFailsFastOnBadArgs(t *testing.T) {
	RequireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := StartRedis(ctx, t.TempDir(), WithArgs("--no-such-option", "1"))
	if err == nil {
		t.Fatal("bad option must fail")
	}
	if !strings.Contains(err.Error(), "exited") {
		t.Fatalf("error should say the process exited: %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("took %s: should fail on exit, not on the deadline", time.Since(start))
	}
}
