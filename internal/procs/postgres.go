package procs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Postgres is a running PostgreSQL server on 127.0.0.1, trust auth, superuser
// "postgres".
type Postgres struct {
	port    int
	dataDir string
	binDir  string
	private string // a temp dir we created (root could not share dir); removed by Stop
	proc    *process
	stopped stopOnce
}

// StartPostgres initialises a cluster in dir/pgdata (reusing one that is
// already there) and starts postgres on a free loopback port, returning once
// it accepts connections. When the process runs as root, initdb and postgres
// run as the "postgres" OS user and dir is chowned to it. Call Stop when done.
func StartPostgres(ctx context.Context, dir string, opts ...Option) (*Postgres, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	binDir, err := LookPostgres()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start postgres: create dir: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}

	cred, err := postgresCredential()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	pg := &Postgres{binDir: binDir}
	base := dir
	if cred != nil {
		// The postgres user must reach dir through every ancestor. t.TempDir()
		// and os.MkdirTemp make 0700 root-owned parents; rather than loosening
		// the caller's directories, use a private dir under the temp root.
		if !reachable(dir, cred) {
			base, err = os.MkdirTemp("", "outagelab-pg-")
			if err != nil {
				return nil, fmt.Errorf("start postgres: %w", err)
			}
			pg.private = base
		}
		if err := os.Chown(base, int(cred.Uid), int(cred.Gid)); err != nil {
			pg.cleanup()
			return nil, fmt.Errorf("start postgres: chown %s to postgres: %w", base, err)
		}
	}
	pg.dataDir = filepath.Join(base, "pgdata")
	logPath := o.logFile
	if logPath == "" {
		logPath = filepath.Join(dir, "postgres.log")
	}

	if _, err := os.Stat(filepath.Join(pg.dataDir, "PG_VERSION")); err != nil {
		if err := pg.initdb(ctx, cred, logPath); err != nil {
			pg.cleanup()
			return nil, fmt.Errorf("start postgres: %w", err)
		}
	}

	fixedPort := o.port != 0
	for attempt := 0; ; attempt++ {
		port := o.port
		if !fixedPort {
			if port, err = FreePort(); err != nil {
				pg.cleanup()
				return nil, fmt.Errorf("start postgres: %w", err)
			}
		}
		err = pg.start(ctx, cred, port, logPath, o)
		if err == nil {
			return pg, nil
		}
		// Another process may have taken the free port between our probe
		// and postgres's bind: try another one.
		if fixedPort || attempt >= 4 || !errors.Is(err, errPortTaken) {
			pg.cleanup()
			return nil, fmt.Errorf("start postgres: %w", err)
		}
	}
}

var errPortTaken = errors.New("port taken")

func (pg *Postgres) initdb(ctx context.Context, cred *syscall.Credential, logPath string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(pg.binDir, "initdb"),
		"-D", pg.dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = filepath.Dir(pg.dataDir)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.WriteFile(logPath, out, 0o644)
		return fmt.Errorf("initdb %s: %w\n%s", pg.dataDir, err, lastLines(string(out), 15))
	}
	return nil
}

func (pg *Postgres) start(ctx context.Context, cred *syscall.Credential, port int, logPath string, o options) error {
	args := []string{
		"-D", pg.dataDir,
		"-h", "127.0.0.1",
		"-p", strconv.Itoa(port),
		// TCP only: socket paths under long temp dirs pass the 107-byte limit.
		"-c", "unix_socket_directories=",
		"-c", "shared_buffers=32MB",
		"-c", "max_connections=200",
	}
	if !o.fsync {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	args = append(args, o.extraArgs...)
	cmd := exec.Command(filepath.Join(pg.binDir, "postgres"), args...)
	cmd.Dir = filepath.Dir(pg.dataDir)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// SIGQUIT on parent death: immediate shutdown, the postmaster takes its
	// backends with it.
	proc, err := startProcess(cmd, logPath, syscall.SIGQUIT)
	if err != nil {
		return err
	}
	pg.proc = proc
	pg.port = port

	waitCtx, cancel := context.WithTimeout(ctx, o.startWait)
	defer cancel()
	dsn := pg.DSN("postgres")
	var lastErr error
	for {
		if proc.exited() {
			t := tail(logPath, 15)
			if addrInUse(t) {
				return fmt.Errorf("%w: %d", errPortTaken, port)
			}
			return fmt.Errorf("postgres exited (%v) before accepting connections; log %s:\n%s", proc.waitErr, logPath, t)
		}
		pctx, pcancel := context.WithTimeout(waitCtx, time.Second)
		conn, err := pgx.Connect(pctx, dsn)
		if err == nil {
			// Make sure we reached our server, not another one that holds
			// the port while ours is failing to bind.
			var dd string
			err = conn.QueryRow(pctx, "SHOW data_directory").Scan(&dd)
			if err == nil && filepath.Clean(dd) != filepath.Clean(pg.dataDir) {
				err = fmt.Errorf("%w: %d answered by the cluster in %s", errPortTaken, port, dd)
			}
			conn.Close(pctx)
		}
		pcancel()
		if errors.Is(err, errPortTaken) {
			_ = proc.stop(syscall.SIGQUIT, 5*time.Second)
			return err
		}
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-waitCtx.Done():
			_ = proc.stop(syscall.SIGQUIT, 5*time.Second)
			return fmt.Errorf("postgres on 127.0.0.1:%d not accepting connections after %s (last error: %v); log %s:\n%s",
				port, o.startWait, lastErr, logPath, tail(logPath, 15))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Port is the TCP port postgres listens on (127.0.0.1).
func (pg *Postgres) Port() int { return pg.port }

// DataDir is the cluster's data directory.
func (pg *Postgres) DataDir() string { return pg.dataDir }

// Pid is the postmaster's process id.
func (pg *Postgres) Pid() int { return pg.proc.cmd.Process.Pid }

// DSN is a pgx/libpq URL for database db as the superuser postgres.
func (pg *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, db)
}

// CreateDatabase creates database name; an existing one is not an error.
func (pg *Postgres) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts postgres down (SIGINT: fast shutdown, then SIGKILL after 10 s)
// and removes any private directory StartPostgres made. Safe to call twice.
func (pg *Postgres) Stop() error {
	return pg.stopped.do(func() error {
		var err error
		if pg.proc != nil {
			if e := pg.proc.stop(syscall.SIGINT, 10*time.Second); e != nil {
				err = fmt.Errorf("stop postgres: %w", e)
			}
		}
		pg.cleanup()
		return err
	})
}

// Done is closed when the postgres process has exited.
func (pg *Postgres) Done() <-chan struct{} { return pg.proc.done }

func (pg *Postgres) cleanup() {
	if pg.private != "" {
		_ = os.RemoveAll(pg.private)
	}
}

// postgresCredential is nil unless we run as root; then the postgres user's.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the \"postgres\" OS user to run postgres as (PostgreSQL refuses root; install the postgresql package or useradd postgres): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres user has non-numeric uid/gid %q/%q", u.Uid, u.Gid)
	}
	// Groups empty: drop root's supplementary groups too.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// reachable reports whether cred can traverse every ancestor of dir (dir
// itself is chowned by the caller).
func reachable(dir string, cred *syscall.Credential) bool {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		m := fi.Mode().Perm()
		switch {
		case st.Uid == cred.Uid:
			if m&0o100 == 0 {
				return false
			}
		case st.Gid == cred.Gid:
			if m&0o010 == 0 {
				return false
			}
		default:
			if m&0o001 == 0 {
				return false
			}
		}
		if p == "/" || p == filepath.Dir(p) {
			return true
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
