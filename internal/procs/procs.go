// Package procs starts real datastore processes (PostgreSQL, Redis) on free
// loopback ports, for integration tests and for the harness's local runtime.
//
//	caller ──StartPostgres(ctx, dir)──▶ initdb dir/pgdata ──▶ postgres -D dir/pgdata -h 127.0.0.1 -p PORT
//	       ──StartRedis(ctx, dir)─────▶ redis-server --bind 127.0.0.1 --port PORT --dir dir
//
// Every process is started in its own process group with a parent-death
// signal, so it dies with the Go process that started it where Linux allows,
// and Stop is always safe to call (and idempotent). When running as root,
// PostgreSQL (which refuses to run as root) is started as the "postgres" OS
// user.
package procs

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FreePort asks the kernel for a free TCP port on 127.0.0.1. The port is free
// when FreePort returns; another process may take it before the caller binds
// it, so starters retry on "address in use".
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Option configures a started process.
type Option func(*options)

type options struct {
	port       int
	fsync      bool
	appendOnly bool
	logFile    string
	startWait  time.Duration
	extraArgs  []string
}

func defaults() options {
	return options{fsync: true, appendOnly: true, startWait: 60 * time.Second}
}

// WithPort fixes the listening port instead of picking a free one.
func WithPort(port int) Option { return func(o *options) { o.port = port } }

// WithFsync turns PostgreSQL's fsync (and synchronous_commit) on or off.
// Off makes tests faster; it is on by default.
func WithFsync(on bool) Option { return func(o *options) { o.fsync = on } }

// WithAppendOnly turns Redis's append-only file on (default) or off.
func WithAppendOnly(on bool) Option { return func(o *options) { o.appendOnly = on } }

// WithLogFile writes the process's stdout and stderr to path instead of the
// default (postgres.log / redis.log inside dir).
func WithLogFile(path string) Option { return func(o *options) { o.logFile = path } }

// WithStartTimeout bounds how long a start waits for the process to accept
// connections (default 60 s; the caller's ctx deadline also applies).
func WithStartTimeout(d time.Duration) Option { return func(o *options) { o.startWait = d } }

// WithArgs appends raw arguments to the server command line (for example
// "-c", "max_connections=300" for PostgreSQL).
func WithArgs(args ...string) Option {
	return func(o *options) { o.extraArgs = append(o.extraArgs, args...) }
}

// ErrNotFound is wrapped by LookPostgres and LookRedis when a binary is missing.
var ErrNotFound = errors.New("binary not found")

// LookPostgres returns the directory holding PostgreSQL's initdb and postgres
// binaries: $OUTAGELAB_POSTGRES_BIN if set, else PATH, else the newest
// /usr/lib/postgresql/*/bin (Debian puts them there, off PATH).
func LookPostgres() (string, error) {
	if d := os.Getenv("OUTAGELAB_POSTGRES_BIN"); d != "" {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
		return "", fmt.Errorf("look postgres: OUTAGELAB_POSTGRES_BIN=%s has no postgres and initdb: %w", d, ErrNotFound)
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("look postgres: no postgres/initdb on PATH or in /usr/lib/postgresql/*/bin (install postgresql, e.g. apt-get install postgresql): %w", ErrNotFound)
}

// LookRedis returns the path of redis-server found on PATH.
func LookRedis() (string, error) {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("look redis: no redis-server on PATH (install it, e.g. apt-get install redis-server): %w", ErrNotFound)
	}
	return p, nil
}

func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// process is one started server and its exit state.
type process struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

func startProcess(cmd *exec.Cmd, logPath string, deathSig syscall.Signal) (*process, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	cmd.Stdout = lf
	cmd.Stderr = lf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own process group: a terminal's Ctrl-C reaches us, not the server, so
	// the caller decides the shutdown order. Pdeathsig: die with the parent.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = deathSig
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("exec %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, log: lf, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace, then kills the process group.
func (p *process) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	// Kill the whole group: PostgreSQL backends are children of the postmaster.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("did not stop within %s after %s; killed", grace, sig)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("pid %d did not die after SIGKILL", p.cmd.Process.Pid)
	}
}

// tail returns the last n lines of the process log, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func addrInUse(logText string) bool {
	l := strings.ToLower(logText)
	return strings.Contains(l, "address already in use") || strings.Contains(l, "could not create any tcp/ip sockets")
}

// stopOnce guards idempotent Stop.
type stopOnce struct {
	once sync.Once
	err  error
}

func (s *stopOnce) do(f func() error) error {
	s.once.Do(func() { s.err = f() })
	return s.err
}
