package harness

// Attaching to a topology that another process (`outagelab up`) owns.
//
//	outagelab up ──WriteState──▶ <state dir>/<run id>.json ◀──ReadState── Attach
//	   (owns the topology,            (0600: holds the           (returns an Env that
//	    removes the file on exit)      admin token)               never tears down)
//
// The state file records everything a second process needs to drive the
// run: the topology, the Toxiproxy API, every component's addresses, the
// admin endpoints and token, and how to act on a component (Docker container
// IDs, or local PIDs). The attached Env's Close removes the faults it applied
// and leaves the topology running: the `up` that wrote the file owns it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
)

// StateSchemaVersion is the version of the state file's format.
const StateSchemaVersion = 1

// State is what `outagelab up` writes once its topology is ready.
type State struct {
	SchemaVersion int    `json:"schema_version"`
	RunID         string `json:"run_id"`
	Runtime       string `json:"runtime"`
	// OwnerPID and OwnerStart (start time in clock ticks since boot, from
	// /proc/PID/stat) name the process that owns the topology; the start
	// time tells a reused PID from the owner.
	OwnerPID   int                `json:"owner_pid"`
	OwnerStart string             `json:"owner_start,omitempty"`
	Created    time.Time          `json:"created"`
	Topology   *topology.Topology `json:"topology"`
	Toxiproxy  string             `json:"toxiproxy_url"`
	// Components: component → port name → its addresses.
	Components map[string]map[string]StateEndpoint `json:"components"`
	// Admin: component → base URL of its admin API.
	Admin      map[string]string `json:"admin,omitempty"`
	AdminToken string            `json:"admin_token,omitempty"`
	// Containers: component → Docker container ID (docker runtime).
	Containers map[string]string `json:"containers,omitempty"`
	// Processes: component → process (local runtime).
	Processes map[string]StateProcess `json:"processes,omitempty"`
}

// StateEndpoint is one port of a component as seen from this host.
type StateEndpoint struct {
	Addr     string `json:"addr"`     // 127.0.0.1:N (Deployment.Addr)
	Endpoint string `json:"endpoint"` // http://127.0.0.1:N (Deployment.Endpoint)
}

// StateProcess is a local component's process (and process group) id with
// its start time, so a reused PID is never signalled.
type StateProcess struct {
	PID   int    `json:"pid"`
	Start string `json:"start,omitempty"`
}

// ContainerActionFunc acts on a Docker container by ID (pause, unpause,
// stop, start, kill, restart). harness/docker sets it in its init; it is nil
// when the docker runtime is not compiled in.
var ContainerActionFunc func(ctx context.Context, containerID string, action topology.Action) error

// StateDir is where `up` writes its state file: $OUTAGELAB_STATE_DIR, else
// $XDG_RUNTIME_DIR/outagelab, else ~/.cache/outagelab/up.
func StateDir() (string, error) {
	if d := os.Getenv("OUTAGELAB_STATE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "outagelab"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("state dir: no $OUTAGELAB_STATE_DIR, $XDG_RUNTIME_DIR or home directory: %w", err)
	}
	return filepath.Join(home, ".cache", "outagelab", "up"), nil
}

// StatePath is the state file of runID in dir ("" = StateDir()).
func StatePath(dir, runID string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = StateDir(); err != nil {
			return "", err
		}
	}
	if runID == "" || strings.ContainsAny(runID, `/\`) || runID == "." || runID == ".." {
		return "", fmt.Errorf("run id %q is not valid", runID)
	}
	return filepath.Join(dir, runID+".json"), nil
}

// CaptureState records env (a topology this process owns) as a State.
func CaptureState(env *Env) (*State, error) {
	t := env.Topology()
	st := &State{
		SchemaVersion: StateSchemaVersion,
		RunID:         env.RunID(),
		Runtime:       env.RuntimeName(),
		OwnerPID:      os.Getpid(),
		Created:       time.Now().UTC(),
		Topology:      t,
		Toxiproxy:     env.ToxiproxyURL(),
		Components:    map[string]map[string]StateEndpoint{},
		AdminToken:    env.AdminToken(),
	}
	st.OwnerStart, _, _ = procStat(st.OwnerPID)
	ctrs, hasCtr := env.Deployment.(interface {
		ContainerID(string) (string, error)
	})
	pids, hasPID := env.Deployment.(interface{ PID(string) (int, error) })
	for _, c := range t.Components {
		ports := map[string]StateEndpoint{}
		for _, p := range c.Ports {
			a, err := env.Addr(c.Name, p.Name)
			if err != nil {
				return nil, fmt.Errorf("state: %w", err)
			}
			u, err := env.Endpoint(c.Name, p.Name)
			if err != nil {
				return nil, fmt.Errorf("state: %w", err)
			}
			ports[p.Name] = StateEndpoint{Addr: a, Endpoint: u}
		}
		st.Components[c.Name] = ports
		if c.AdminPort != "" {
			if u, err := env.AdminEndpoint(c.Name); err == nil {
				if st.Admin == nil {
					st.Admin = map[string]string{}
				}
				st.Admin[c.Name] = u
			}
		}
		switch {
		case hasCtr:
			if id, err := ctrs.ContainerID(c.Name); err == nil {
				if st.Containers == nil {
					st.Containers = map[string]string{}
				}
				st.Containers[c.Name] = id
			}
		case env.RuntimeName() == "local":
			pid := 0
			if hasPID {
				pid, _ = pids.PID(c.Name)
			} else if len(c.Ports) > 0 {
				pid = listenerPID(ports[c.Ports[0].Name].Addr)
			}
			if pid > 0 {
				if st.Processes == nil {
					st.Processes = map[string]StateProcess{}
				}
				start, _, _ := procStat(pid)
				st.Processes[c.Name] = StateProcess{PID: pid, Start: start}
			}
		}
	}
	return st, nil
}

// WriteState writes env's state file into dir ("" = StateDir()): the
// directory 0700, the file 0600 (it holds the admin token), written
// atomically. It returns the file's path; the caller removes it when the
// topology goes away.
func WriteState(env *Env, dir string) (string, error) {
	st, err := CaptureState(env)
	if err != nil {
		return "", err
	}
	path, err := StatePath(dir, st.RunID)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("write state: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", fmt.Errorf("write state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+st.RunID+"-*.tmp")
	if err != nil {
		return "", fmt.Errorf("write state: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o600), os.Rename(tmp.Name(), path)); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("write state %s: %w", path, err)
	}
	return path, nil
}

// ReadState reads and checks a state file; errors name the file.
func ReadState(path string) (*State, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("state file %s does not exist: is `outagelab up` running? (see `ls %s`)", path, filepath.Dir(path))
		}
		return nil, fmt.Errorf("read state file %s: %w", path, err)
	}
	defer f.Close()
	var st State
	dec := json.NewDecoder(bufio.NewReader(&limitedReader{f, 16 << 20}))
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%v); stop its `outagelab up`, run `outagelab cleanup` and delete the file", path, err)
	}
	var bad []string
	if st.SchemaVersion != StateSchemaVersion {
		bad = append(bad, fmt.Sprintf("schema_version %d (this outagelab reads %d)", st.SchemaVersion, StateSchemaVersion))
	}
	if st.RunID == "" {
		bad = append(bad, "no run_id")
	}
	if st.OwnerPID <= 0 {
		bad = append(bad, "no owner_pid")
	}
	if st.Toxiproxy == "" {
		bad = append(bad, "no toxiproxy_url")
	}
	if st.Topology == nil {
		bad = append(bad, "no topology")
	} else if err := st.Topology.Validate(); err != nil {
		bad = append(bad, "topology: "+err.Error())
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("state file %s is not usable: %s", path, strings.Join(bad, "; "))
	}
	return &st, nil
}

type limitedReader struct {
	f *os.File
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("file larger than 16 MB")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// OwnerAlive reports whether the process that wrote st still runs.
func (st *State) OwnerAlive() bool { return procAlive(st.OwnerPID, st.OwnerStart) }

// AttachOptions configure Attach.
type AttachOptions struct {
	// Path of the state file; "" = the newest state file in StateDir()
	// whose owner is alive.
	Path string
}

// Attach returns an Env over a topology that `outagelab up` (another
// process) keeps running. Faults and component actions work as usual;
// Close removes the faults this Env applied but does NOT tear the topology
// down: the `up` owns it and tears it down on Ctrl-C.
func Attach(ctx context.Context, o AttachOptions) (*Env, error) {
	path := o.Path
	if path == "" {
		var err error
		if path, err = latestState(); err != nil {
			return nil, err
		}
	}
	st, err := ReadState(path)
	if err != nil {
		return nil, err
	}
	if !st.OwnerAlive() {
		os.Remove(path) // provably stale: its owner is gone
		return nil, fmt.Errorf("attach %s: the `outagelab up` that wrote it (pid %d) is gone; its state file was removed. Run `outagelab cleanup` to sweep what it left behind, then start a new `outagelab up`", path, st.OwnerPID)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pingToxiproxy(pctx, st.Toxiproxy); err != nil {
		return nil, fmt.Errorf("attach %s: Toxiproxy at %s does not answer (%v); is the `outagelab up` (pid %d) still healthy?", path, st.Toxiproxy, err, st.OwnerPID)
	}
	env, err := NewEnv(ctx, &attached{st: st, path: path}, nil)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", path, err)
	}
	return env, nil
}

// latestState is the newest state file in StateDir() whose owner is alive.
func latestState() (string, error) {
	dir, err := StateDir()
	if err != nil {
		return "", err
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("attach: read state dir %s: %w", dir, err)
	}
	var best string
	var bestAt time.Time
	var stale []string
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		st, err := ReadState(p)
		if err != nil {
			continue
		}
		if !st.OwnerAlive() {
			stale = append(stale, p)
			continue
		}
		if best == "" || st.Created.After(bestAt) {
			best, bestAt = p, st.Created
		}
	}
	if best != "" {
		return best, nil
	}
	if len(stale) > 0 {
		return "", fmt.Errorf("attach: no running `outagelab up` found in %s; the ones that wrote %s are gone: run `outagelab cleanup`, then start a new `outagelab up`", dir, strings.Join(stale, ", "))
	}
	return "", fmt.Errorf("attach: no running `outagelab up` found (no state file in %s); start one with `outagelab up` in another terminal", dir)
}

func pingToxiproxy(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/version", nil)
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// attached is a Deployment read from a state file; it owns nothing.
type attached struct {
	st   *State
	path string
}

var _ Deployment = (*attached)(nil)

func (a *attached) RunID() string                { return a.st.RunID }
func (a *attached) RuntimeName() string          { return a.st.Runtime }
func (a *attached) Topology() *topology.Topology { return a.st.Topology }
func (a *attached) ToxiproxyURL() string         { return a.st.Toxiproxy }
func (a *attached) AdminToken() string           { return a.st.AdminToken }

// StatePath is the state file this deployment was read from.
func (a *attached) StatePath() string { return a.path }

func (a *attached) port(component, port string) (StateEndpoint, error) {
	ports, ok := a.st.Components[component]
	if !ok {
		return StateEndpoint{}, fmt.Errorf("no component %q in topology %s", component, a.st.Topology.Name)
	}
	e, ok := ports[port]
	if !ok {
		return StateEndpoint{}, fmt.Errorf("component %s has no port %q", component, port)
	}
	return e, nil
}

func (a *attached) Addr(component, port string) (string, error) {
	e, err := a.port(component, port)
	return e.Addr, err
}

func (a *attached) Endpoint(component, port string) (string, error) {
	e, err := a.port(component, port)
	return e.Endpoint, err
}

func (a *attached) AdminEndpoint(component string) (string, error) {
	if u, ok := a.st.Admin[component]; ok {
		return u, nil
	}
	if a.st.Topology.Component(component) == nil {
		return "", fmt.Errorf("no component %q in topology %s", component, a.st.Topology.Name)
	}
	return "", fmt.Errorf("component %s has no admin API", component)
}

// ComponentAction acts through the Docker API (docker) or signals (local:
// pause, unpause, kill only; the `up` process owns the local processes and
// is the only one that can start them again).
func (a *attached) ComponentAction(ctx context.Context, component string, action topology.Action) error {
	c := a.st.Topology.Component(component)
	if c == nil {
		return fmt.Errorf("%s %s: no such component in topology %s", action, component, a.st.Topology.Name)
	}
	if !action.Valid() {
		return fmt.Errorf("%s %s: unknown action (want one of %v)", action, component, topology.Actions)
	}
	if !a.st.OwnerAlive() {
		return fmt.Errorf("%s %s: the `outagelab up` (pid %d) that owns run %s is gone", action, component, a.st.OwnerPID, a.st.RunID)
	}
	var err error
	switch a.st.Runtime {
	case "docker":
		err = a.dockerAction(ctx, c, action)
	case "local":
		err = a.localAction(c, action)
	default:
		err = fmt.Errorf("not supported on an attached %q topology", a.st.Runtime)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, component, err)
	}
	return nil
}

func (a *attached) dockerAction(ctx context.Context, c *topology.Component, action topology.Action) error {
	id := a.st.Containers[c.Name]
	if id == "" {
		return fmt.Errorf("the state file %s records no container for it", a.path)
	}
	if ContainerActionFunc == nil {
		return errors.New(`the docker runtime is not compiled in (import _ "github.com/outagelab/outagelab/harness/docker")`)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	if err := ContainerActionFunc(ctx, id, action); err != nil {
		return err
	}
	if action == topology.ActionStart || action == topology.ActionRestart {
		return a.waitReady(ctx, c)
	}
	return nil
}

// waitReady waits until a restarted component answers: its readiness HTTP
// path when it has one, else its first port accepting connections.
func (a *attached) waitReady(ctx context.Context, c *topology.Component) error {
	if len(c.Ports) == 0 {
		return nil
	}
	timeout := c.Ready.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	port := c.Ports[0].Name
	if c.Ready.Port != "" {
		port = c.Ready.Port
	}
	e, err := a.port(c.Name, port)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	var last error
	for {
		if c.Ready.HTTPPath != "" {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.Endpoint+c.Ready.HTTPPath, nil)
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
				err = errors.New(resp.Status)
			}
			last = err
		} else {
			conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", e.Addr)
			if err == nil {
				conn.Close()
				return nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after start (last: %v): %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *attached) localAction(c *topology.Component, action topology.Action) error {
	var sig syscall.Signal
	switch action {
	case topology.ActionPause:
		sig = syscall.SIGSTOP
	case topology.ActionUnpause:
		sig = syscall.SIGCONT
	case topology.ActionKill:
		sig = syscall.SIGKILL
	default:
		return fmt.Errorf("not supported on an attached local topology: only pause, unpause and kill work from another process (the `outagelab up` (pid %d) owns the processes); run without --attach for %s", a.st.OwnerPID, action)
	}
	p, ok := a.st.Processes[c.Name]
	if !ok || p.PID <= 0 || p.PID == a.st.OwnerPID || p.PID == os.Getpid() {
		return fmt.Errorf("the state file %s records no process for it", a.path)
	}
	if !procAlive(p.PID, p.Start) {
		if action == topology.ActionUnpause {
			return nil
		}
		return fmt.Errorf("process %d is not running (killed earlier?)", p.PID)
	}
	// The local runtime starts every component as the leader of its own
	// process group: signal the group (postgres backends included), but
	// never a group this process or the owner belongs to.
	target := p.PID
	if pgid, err := syscall.Getpgid(p.PID); err == nil && pgid == p.PID && pgid != syscall.Getpgrp() {
		if opg, err := syscall.Getpgid(a.st.OwnerPID); err != nil || opg != pgid {
			target = -pgid
		}
	}
	if err := syscall.Kill(target, sig); err != nil {
		return fmt.Errorf("signal %d: %w", p.PID, err)
	}
	return nil
}

// Teardown does NOT tear the topology down: the `outagelab up` that wrote
// the state file owns it. Env.Close still removes the faults this Env
// applied.
func (a *attached) Teardown(context.Context) error { return nil }

// procStat returns a process's start time and state from /proc/PID/stat.
func procStat(pid int) (start, state string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", false
	}
	// "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", "", false
	}
	return f[19], f[0], true // field 22 (starttime), field 3 (state)
}

// procAlive: pid runs, is not a zombie, and (when start is known) started at
// start — a PID reused by another process counts as dead.
func procAlive(pid int, start string) bool {
	if pid <= 0 {
		return false
	}
	if st, state, ok := procStat(pid); ok {
		if state == "Z" || state == "X" {
			return false
		}
		return start == "" || st == start
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// listenerPID finds the process listening on addr (127.0.0.1:N) through
// /proc: the socket's inode in /proc/net/tcp{,6}, then the process holding
// it. 0 when not found (not Linux, or another user's process).
func listenerPID(addr string) int {
	_, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			cols := strings.Fields(line)
			if len(cols) < 10 || cols[3] != "0A" { // 0A = LISTEN
				continue
			}
			i := strings.LastIndexByte(cols[1], ':')
			if p, err := strconv.ParseInt(cols[1][i+1:], 16, 32); err == nil && int(p) == port {
				inodes["socket:["+cols[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := os.ReadDir("/proc")
	best := 0
	for _, pe := range procs {
		pid, err := strconv.Atoi(pe.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, err := os.ReadDir("/proc/" + pe.Name() + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			l, err := os.Readlink("/proc/" + pe.Name() + "/fd/" + fd.Name())
			if err == nil && inodes[l] {
				// Several processes may share the socket (a forking
				// server): the lowest PID is the parent.
				if best == 0 || pid < best {
					best = pid
				}
				break
			}
		}
	}
	return best
}

// SweepStates removes the state files in StateDir() whose `outagelab up` is
// gone (killed, crashed), and returns their paths. Files of live owners and
// files that are not state files are left alone.
func SweepStates() ([]string, error) {
	dir, err := StateDir()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep state dir %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		st, err := ReadState(p)
		if err != nil || st.OwnerAlive() {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove stale state file: %w", err))
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
