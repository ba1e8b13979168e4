package procs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Redis is a running redis-server on 127.0.0.1.
type Redis struct {
	mu      sync.Mutex
	port    int
	dir     string
	bin     string
	logPath string
	o       options
	proc    *process
	stopped bool
}

// StartRedis starts redis-server on a free loopback port with its working
// directory (RDB/AOF files) in dir, returning once it answers PING. The
// append-only file is on by default (WithAppendOnly(false) turns it off);
// RDB snapshots are off. Call Stop when done.
func StartRedis(ctx context.Context, dir string, opts ...Option) (*Redis, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	bin, err := LookRedis()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start redis: create dir: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	r := &Redis{dir: dir, bin: bin, o: o, logPath: o.logFile}
	if r.logPath == "" {
		r.logPath = filepath.Join(dir, "redis.log")
	}
	fixedPort := o.port != 0
	for attempt := 0; ; attempt++ {
		port := o.port
		if !fixedPort {
			if port, err = FreePort(); err != nil {
				return nil, fmt.Errorf("start redis: %w", err)
			}
		}
		err = r.start(ctx, port)
		if err == nil {
			return r, nil
		}
		if fixedPort || attempt >= 4 || !errors.Is(err, errPortTaken) {
			return nil, fmt.Errorf("start redis: %w", err)
		}
	}
}

func (r *Redis) start(ctx context.Context, port int) error {
	appendOnly := "no"
	if r.o.appendOnly {
		appendOnly = "yes"
	}
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", appendOnly,
		"--appendfsync", "everysec",
		"--dir", r.dir,
		"--daemonize", "no",
		"--logfile", "",
	}
	args = append(args, r.o.extraArgs...)
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	proc, err := startProcess(cmd, r.logPath, syscall.SIGKILL)
	if err != nil {
		return err
	}
	r.proc = proc
	r.port = port

	waitCtx, cancel := context.WithTimeout(ctx, r.o.startWait)
	defer cancel()
	var lastErr error
	for {
		if proc.exited() {
			t := tail(r.logPath, 15)
			if addrInUse(t) {
				return fmt.Errorf("%w: %d", errPortTaken, port)
			}
			return fmt.Errorf("redis-server exited (%v) before answering PING; log %s:\n%s", proc.waitErr, r.logPath, t)
		}
		pid, err := redisPid(waitCtx, r.Addr())
		if err == nil {
			if pid != proc.cmd.Process.Pid {
				_ = proc.stop(syscall.SIGKILL, time.Second)
				return fmt.Errorf("%w: %d answered by redis pid %d", errPortTaken, port, pid)
			}
			return nil
		}
		lastErr = err
		select {
		case <-waitCtx.Done():
			_ = proc.stop(syscall.SIGKILL, time.Second)
			return fmt.Errorf("redis on %s not answering PING after %s (last error: %v); log %s:\n%s",
				r.Addr(), r.o.startWait, lastErr, r.logPath, tail(r.logPath, 15))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Addr is host:port of the server, e.g. "127.0.0.1:6379".
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// URL is a go-redis URL for database 0, e.g. "redis://127.0.0.1:6379/0".
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Port is the TCP port redis listens on.
func (r *Redis) Port() int { return r.port }

// Dir is redis's working directory (the append-only file lives here).
func (r *Redis) Dir() string { return r.dir }

// Pid is the server's process id.
func (r *Redis) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc.cmd.Process.Pid
}

// Stop shuts redis down (SIGTERM, which flushes the AOF, then SIGKILL after
// 10 s). Safe to call twice.
func (r *Redis) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil
	}
	r.stopped = true
	if err := r.proc.stop(syscall.SIGTERM, 10*time.Second); err != nil {
		return fmt.Errorf("stop redis: %w", err)
	}
	return nil
}

// Restart stops the server gracefully and starts it again on the same port
// and directory; with the append-only file on, the data survives.
func (r *Redis) Restart(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.proc.stop(syscall.SIGTERM, 10*time.Second); err != nil {
		return fmt.Errorf("restart redis: %w", err)
	}
	r.stopped = false
	if err := r.start(ctx, r.port); err != nil {
		r.stopped = true
		return fmt.Errorf("restart redis: %w", err)
	}
	return nil
}

// redisPid asks the server at addr for its process id (INFO server) over a
// raw RESP connection: go-redis would log every refused dial while we wait.
func redisPid(ctx context.Context, addr string) (int, error) {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")); err != nil {
		return 0, err
	}
	br := bufio.NewReader(c)
	head, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || n < 0 || n > 1<<20 {
		return 0, fmt.Errorf("INFO answered %q", strings.TrimSpace(head))
	}
	body := make([]byte, n+2)
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, err
	}
	pid := -1
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if pid < 0 {
		return 0, errors.New("INFO has no process_id")
	}
	// PING answers -LOADING while the append-only file is replayed.
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return 0, err
	}
	pong, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(pong) != "+PONG" {
		return 0, fmt.Errorf("PING answered %q", strings.TrimSpace(pong))
	}
	return pid, nil
}
