package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/effect"
	"github.com/outagelab/outagelab/internal/procs"
)

// comp is one component's process(es) and state.
type comp struct {
	c     *topology.Component
	d     *Deployment
	ports map[string]int

	mu      sync.Mutex
	running bool
	paused  bool
	// storefront
	cmd  *exec.Cmd
	done chan struct{}
	// datastores
	pg *procs.Postgres
	rd *procs.Redis
}

// stopGrace is how long a SIGTERM'd storefront service gets before SIGKILL.
const stopGrace = 5 * time.Second

func (cp *comp) start(ctx context.Context) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.startLocked(ctx)
}

func (cp *comp) startLocked(ctx context.Context) error {
	if cp.running {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, cp.readyTimeout())
	defer cancel()
	var err error
	for attempt := 0; ; attempt++ {
		switch cp.c.Image {
		case topology.ImageStorefront:
			err = cp.startStorefront(rctx)
		case topology.ImagePostgres:
			err = cp.startPostgres(rctx)
		case topology.ImageRedis:
			err = cp.startRedis(rctx)
		default:
			err = fmt.Errorf("image %q cannot run locally", cp.c.Image)
		}
		if err == nil || attempt >= 3 || !portTaken(err, "") {
			break
		}
		// Another process bound our port between allocation and start.
		cp.d.log.Warn("port taken; retrying on new ports", "component", cp.c.Name, "err", err)
		if rerr := cp.reallocate(rctx); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	if err != nil {
		return err
	}
	cp.running, cp.paused = true, false
	return nil
}

func (cp *comp) readyTimeout() time.Duration {
	if cp.c.Ready.Timeout > 0 {
		return cp.c.Ready.Timeout
	}
	return cp.d.opts.ReadyTimeout
}

func (cp *comp) dataDir() string { return filepath.Join(cp.d.dir, cp.c.Name) }

func (cp *comp) logPath() string { return cp.d.LogPath(cp.c.Name) }

func (cp *comp) startStorefront(ctx context.Context) error {
	d := cp.d
	args, err := d.topo.Args(cp.c, d.proxyHostPort)
	if err != nil {
		return err
	}
	args = append(args, "--listen", "127.0.0.1:"+strconv.Itoa(cp.ports[topology.PortHTTP]))
	if cp.c.AdminPort != "" {
		args = append(args, "--admin-listen", "127.0.0.1:"+strconv.Itoa(cp.ports[cp.c.AdminPort]),
			"--admin-token", d.opts.AdminToken)
	} else {
		args = append(args, "--admin-listen", "")
	}
	env, err := d.topo.Env(cp.c, d.proxyHostPort)
	if err != nil {
		return err
	}
	lf, err := os.OpenFile(cp.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(d.bin, args...)
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	// Own process group (signals reach only it; Ctrl-C at a terminal reaches
	// us, and we decide the order); die with us even on SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("exec %s: %w", d.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		lf.Close()
		close(done)
	}()
	cp.cmd, cp.done = cmd, done
	if err := cp.waitReady(ctx, cmd.Process.Pid, done); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("%w\n%s", err, tail(cp.logPath(), 15))
	}
	return nil
}

// waitReady waits until the component answers on its ready port, then
// checks that the listener answering is process pid's own: a process that
// took the port first would otherwise pass for the component while the
// component fails to bind (the caller starts again on fresh ports).
func (cp *comp) waitReady(ctx context.Context, pid int, exited <-chan struct{}) error {
	r := cp.c.Ready
	port := r.Port
	if port == "" && len(cp.c.Ports) > 0 {
		port = cp.c.Ports[0].Name
	}
	n := cp.ports[port]
	addr := "127.0.0.1:" + strconv.Itoa(n)
	if r.HTTPPath != "" {
		if err := waitHTTP(ctx, "http://"+addr+r.HTTPPath, exited); err != nil {
			return err
		}
		return checkOwner(pid, n)
	}
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return checkOwner(pid, n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections on %s: %w", addr, ctx.Err())
		case <-exited:
			return errors.New("exited before it was ready")
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// checkOwner fails with errForeignListener when 127.0.0.1:port is another
// process's listener. When ownership cannot be read it does not fail.
func checkOwner(pid, port int) error {
	found, owned, err := listenerOwned(pid, port)
	if err != nil || !found || owned {
		return nil
	}
	return fmt.Errorf("%w: 127.0.0.1:%d answered, but not from pid %d", errForeignListener, port, pid)
}

func (cp *comp) startPostgres(ctx context.Context) error {
	dir := cp.dataDir()
	if err := seedPostgres(ctx, dir); err != nil {
		cp.d.log.Warn("postgres template unavailable; running initdb", "component", cp.c.Name, "err", err)
	}
	pg, err := procs.StartPostgres(ctx, dir, procs.WithPort(cp.ports[topology.PortPostgres]),
		procs.WithFsync(false), procs.WithLogFile(cp.logPath()))
	if err != nil {
		return err
	}
	for _, db := range cp.c.Databases {
		if err := pg.CreateDatabase(ctx, db); err != nil {
			_ = pg.Stop()
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	cp.pg = pg
	return nil
}

func (cp *comp) startRedis(ctx context.Context) error {
	rd, err := procs.StartRedis(ctx, cp.dataDir(), procs.WithPort(cp.ports[topology.PortRedis]), procs.WithLogFile(cp.logPath()))
	if err != nil {
		return err
	}
	cp.rd = rd
	return nil
}

// pid is the process (and process group) id, 0 when not running.
func (cp *comp) pid() int {
	switch {
	case cp.cmd != nil && cp.c.Image == topology.ImageStorefront:
		return cp.cmd.Process.Pid
	case cp.pg != nil:
		return cp.pg.Pid()
	case cp.rd != nil:
		return cp.rd.Pid()
	}
	return 0
}

// signal sends sig to the component's process group (falling back to the pid).
func (cp *comp) signal(sig syscall.Signal) error {
	pid := cp.pid()
	if pid <= 0 {
		return errors.New("no process")
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		return syscall.Kill(pid, sig)
	}
	return nil
}

// signalTree sends sig to the process group and to every descendant that
// left it (PostgreSQL's backends call setsid, so a signal to the group
// misses them), and returns the processes it signalled.
func (cp *comp) signalTree(sig syscall.Signal) ([]procs.Stat, error) {
	if err := cp.signal(sig); err != nil {
		return nil, err
	}
	ps := procs.Tree(cp.pid())
	for _, p := range ps {
		_ = syscall.Kill(p.PID, sig)
	}
	return ps, nil
}

// effectTimeout bounds how long an action waits to see its effect in /proc
// (the caller's deadline applies when sooner).
const effectTimeout = 10 * time.Second

func (cp *comp) act(ctx context.Context, a topology.Action) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	switch a {
	case topology.ActionPause:
		if !cp.running {
			return errors.New("not running")
		}
		return cp.pauseLocked(ctx)
	case topology.ActionUnpause:
		if !cp.running || !cp.paused {
			return nil
		}
		return cp.unpauseLocked(ctx)
	case topology.ActionStop:
		return cp.stopLocked(ctx, false)
	case topology.ActionKill:
		return cp.stopLocked(ctx, true)
	case topology.ActionStart:
		if cp.running {
			return nil
		}
		if err := cp.startLocked(ctx); err != nil {
			return err
		}
		effect.Observed(ctx, time.Now()) // answering on its ready port
		return nil
	case topology.ActionRestart:
		if err := cp.stopLocked(ctx, false); err != nil {
			return err
		}
		return cp.startLocked(ctx)
	default:
		return fmt.Errorf("unknown action %q (known: %v)", a, topology.Actions)
	}
}

// pauseLocked sends SIGSTOP and returns once every thread of every process
// of the component is stopped (state T in /proc/PID/task/*/stat): until
// then a paused component may still answer. Processes forked meanwhile are
// stopped too (the set is read again until it no longer changes). If the
// stop never shows, the component is resumed and an error returned.
func (cp *comp) pauseLocked(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, effectTimeout)
	defer cancel()
	for {
		pids, err := cp.signalTree(syscall.SIGSTOP)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return fmt.Errorf("SIGSTOP: process group %d has no live process (did the component exit? see %s)", cp.pid(), cp.logPath())
		}
		at, err := procs.WaitStopped(wctx, pids)
		if err != nil {
			_, _ = cp.signalTree(syscall.SIGCONT)
			return fmt.Errorf("SIGSTOP sent but the component did not stop within %s (machine overloaded?); resumed it again: %w", effectTimeout, err)
		}
		if slices.Equal(procs.PIDs(procs.Tree(cp.pid())), procs.PIDs(pids)) {
			cp.paused = true
			effect.Observed(ctx, at)
			return nil
		}
	}
}

// unpauseLocked sends SIGCONT and returns once no thread of the component
// is stopped any more.
func (cp *comp) unpauseLocked(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), effectTimeout)
	defer cancel()
	pids, err := cp.signalTree(syscall.SIGCONT)
	if err != nil {
		return err
	}
	cp.paused = false
	at, err := procs.WaitContinued(wctx, pids)
	if err != nil {
		return fmt.Errorf("SIGCONT sent but the component did not resume within %s: %w", effectTimeout, err)
	}
	effect.Observed(ctx, at)
	return nil
}

// stopLocked stops the process: SIGTERM (SIGINT for postgres) then SIGKILL
// after a grace period, or SIGKILL at once when kill is set. It returns once
// every process of the component (children that left its group included)
// is gone, killing stragglers, or with an error naming those left.
func (cp *comp) stopLocked(ctx context.Context, kill bool) error {
	if !cp.running {
		return nil
	}
	pgid := cp.pid()
	// PostgreSQL's children call setsid(): they are not in the postmaster's
	// process group, and after a SIGKILL they linger a moment holding its
	// shared memory, which a restart then refuses ("pre-existing shared
	// memory block is still in use"). Find them now, and see them gone below.
	tree := procs.Tree(pgid)
	if cp.paused {
		_, _ = cp.signalTree(syscall.SIGCONT) // a stopped process cannot handle SIGTERM
		cp.paused = false
	}
	var err error
	switch {
	case cp.pg != nil:
		if kill {
			_ = cp.signal(syscall.SIGKILL)
			<-cp.pg.Done()
		} else {
			err = cp.pg.Stop()
		}
		for _, k := range tree {
			if k.PID != pgid && k.Alive() {
				_ = syscall.Kill(k.PID, syscall.SIGKILL)
			}
		}
		cp.pg = nil
	case cp.rd != nil:
		if kill {
			_ = cp.signal(syscall.SIGKILL)
		}
		err = cp.rd.Stop() // waits for the exit
		cp.rd = nil
	case cp.cmd != nil:
		sig := syscall.SIGTERM
		if kill {
			sig = syscall.SIGKILL
		}
		_ = cp.signal(sig)
		select {
		case <-cp.done:
		case <-time.After(stopGrace):
			_ = cp.signal(syscall.SIGKILL)
			<-cp.done
			err = fmt.Errorf("did not exit within %s of SIGTERM; killed", stopGrace)
		}
		cp.cmd = nil
	}
	cp.running = false
	// A group's other members (postgres backends, checkpointer) may outlive
	// its leader by a moment; a restart must not meet them (shared memory).
	// Removal must happen even when ctx is cancelled (Ctrl-C): keep its
	// values, bound the wait ourselves.
	if pgid <= 0 {
		return err
	}
	at, gerr := waitTreeGone(context.WithoutCancel(ctx), pgid, tree)
	if gerr != nil {
		return errors.Join(err, fmt.Errorf("%w; kill them (kill -9 PID) before starting the component again", gerr))
	}
	effect.Observed(ctx, at)
	return err
}

// waitTreeGone waits until ps and every process of group pgid are gone,
// SIGKILLing what is left after half of effectTimeout.
func waitTreeGone(ctx context.Context, pgid int, ps []procs.Stat) (time.Time, error) {
	wctx, cancel := context.WithTimeout(ctx, effectTimeout/2)
	defer cancel()
	for {
		at, err := procs.WaitGone(wctx, append(slices.Clone(ps), procs.Tree(pgid)...))
		if err != nil {
			break
		}
		if len(procs.Tree(pgid)) == 0 {
			return at, nil
		}
	}
	left := append(slices.Clone(ps), procs.Tree(pgid)...)
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for _, p := range left {
		if p.Alive() {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	kctx, kcancel := context.WithTimeout(ctx, effectTimeout/2)
	defer kcancel()
	return procs.WaitGone(kctx, left)
}

// shutdown is Teardown's stop; never leaves the process behind.
func (cp *comp) shutdown(ctx context.Context) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.stopLocked(ctx, false)
}

// tail returns the last n lines of a log file, indented, for errors.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return "  (no output)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ") + "\n  (full log: " + path + ")"
}
