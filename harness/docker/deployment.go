package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/effect"
	tc "github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// LabelOwner names the process that created an object:
// "<host>/<pid>/<start time in clock ticks since boot>" (the start time tells
// a reused PID from the original).
const LabelOwner = "org.outagelab.owner"

// Owner is this process's owner label value.
func Owner() string {
	h, _ := os.Hostname()
	pid := os.Getpid()
	o := h + "/" + strconv.Itoa(pid)
	if st, _, ok := procStat(pid); ok {
		o += "/" + st
	}
	return o
}

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

// ownerAlive reports whether the process named by an owner label still runs
// on this host. Another host's owner counts as alive (not ours to judge); a
// zombie, or a PID now held by a process started at another time, is dead.
func ownerAlive(owner string) bool {
	parts := strings.Split(owner, "/")
	if len(parts) < 2 {
		return false
	}
	if h, _ := os.Hostname(); h != parts[0] {
		return true
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	if st, state, ok := procStat(pid); ok {
		if state == "Z" || state == "X" {
			return false
		}
		return len(parts) < 3 || parts[2] == st
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

type component struct {
	name  string
	spec  *topology.Component
	ctr   *tc.DockerContainer
	ports map[string]int // port name -> host port on 127.0.0.1
	wait  wait.Strategy
}

// Deployment is a topology running in Docker.
type Deployment struct {
	runID      string
	topo       *topology.Topology
	cli        *client.Client
	log        *slog.Logger
	adminToken string
	logDir     string
	created    time.Time
	images     images.Set
	runtime    *Runtime

	mainNet   string
	networks  []*tc.DockerNetwork
	toxiproxy *component
	toxiURL   string
	toxi      *proxy.Client
	proxyPort map[string]int
	aliasEdge map[string]bool
	// proxyHostPort: edge -> host port of its proxy (Runtime.PublishProxies)
	proxyHostPort map[string]int

	mu        sync.Mutex
	comps     map[string]*component
	usedPorts map[int]bool // host ports handed out in this run

	teardownOnce sync.Once
	teardownErr  error
}

var _ harness.Deployment = (*Deployment)(nil)

func (d *Deployment) RunID() string                { return d.runID }
func (d *Deployment) RuntimeName() string          { return Name }
func (d *Deployment) Topology() *topology.Topology { return d.topo }
func (d *Deployment) ToxiproxyURL() string         { return d.toxiURL }
func (d *Deployment) AdminToken() string           { return d.adminToken }

// Images is the image set the run used.
func (d *Deployment) Images() images.Set { return d.images }

// ProxyPort is the port an edge's proxy listens on inside the Toxiproxy
// container.
func (d *Deployment) ProxyPort(edge string) (int, bool) {
	p, ok := d.proxyPort[edge]
	return p, ok
}

// ProxyHostAddr is 127.0.0.1:N where the host reaches an edge's proxy; only
// with Runtime.PublishProxies and for edges whose callers are configured
// with the proxy's address.
func (d *Deployment) ProxyHostAddr(edge string) (string, error) {
	p, ok := d.proxyHostPort[edge]
	if !ok {
		return "", fmt.Errorf("docker: edge %q has no proxy published on the host (set Runtime.PublishProxies)", edge)
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

// ContainerID returns a component's container ID ("toxiproxy" included).
func (d *Deployment) ContainerID(component string) (string, error) {
	c, err := d.comp(component)
	if err != nil {
		return "", err
	}
	return c.ctr.GetContainerID(), nil
}

func (d *Deployment) comp(name string) (*component, error) {
	if name == "toxiproxy" && d.toxiproxy != nil {
		return d.toxiproxy, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.comps[name]
	if !ok || c.ctr == nil {
		return nil, fmt.Errorf("docker: no running component %q", name)
	}
	return c, nil
}

// Addr implements harness.Deployment.
func (d *Deployment) Addr(component, port string) (string, error) {
	c, err := d.comp(component)
	if err != nil {
		return "", err
	}
	p, ok := c.ports[port]
	if !ok {
		return "", fmt.Errorf("docker: component %s has no port %q", component, port)
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

// Endpoint implements harness.Deployment.
func (d *Deployment) Endpoint(component, port string) (string, error) {
	a, err := d.Addr(component, port)
	if err != nil {
		return "", err
	}
	return "http://" + a, nil
}

// AdminEndpoint implements harness.Deployment.
func (d *Deployment) AdminEndpoint(component string) (string, error) {
	c, err := d.comp(component)
	if err != nil {
		return "", err
	}
	if c.spec == nil || c.spec.AdminPort == "" {
		return "", fmt.Errorf("docker: component %s has no admin API", component)
	}
	return d.Endpoint(component, c.spec.AdminPort)
}

// ComponentAction implements harness.Deployment through the Docker API.
func (d *Deployment) ComponentAction(ctx context.Context, component string, action topology.Action) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	c, err := d.comp(component)
	if err != nil {
		return err
	}
	id := c.ctr.GetContainerID()
	zero := 0
	switch action {
	case topology.ActionPause:
		_, err = d.cli.ContainerPause(ctx, id, client.ContainerPauseOptions{})
	case topology.ActionUnpause:
		_, err = d.cli.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
	case topology.ActionStop:
		grace := 5
		_, err = d.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &grace})
	case topology.ActionKill:
		_, err = d.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"})
	case topology.ActionStart:
		err = d.startAgain(ctx, c)
	case topology.ActionRestart:
		if _, err = d.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &zero}); err == nil {
			err = d.startAgain(ctx, c)
		}
	default:
		return fmt.Errorf("docker: unknown action %q (want one of %v)", action, topology.Actions)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, component, err)
	}
	// The API call returning is not the effect: wait until the container's
	// state shows it (and report that moment as the fault's time).
	if action == topology.ActionStart {
		effect.Observed(ctx, time.Now()) // startAgain waited for readiness
	}
	return waitEffect(ctx, d.cli, id, component, action)
}

// startAgain starts a stopped container and waits for it to be ready; the
// published host ports are fixed, so every address stays the same.
func (d *Deployment) startAgain(ctx context.Context, c *component) error {
	seen := 0
	var im images.Image
	if c.spec != nil {
		im, _ = d.images.Get(c.spec.Image)
		if pat := readyPattern(c.spec, im); pat != nil {
			seen = len(pat.FindAllIndex([]byte(d.logs(ctx, c)), -1))
		}
	}
	if _, err := d.cli.ContainerStart(ctx, c.ctr.GetContainerID(), client.ContainerStartOptions{}); err != nil {
		return err
	}
	if c.spec == nil {
		return nil
	}
	r := d.runtime
	if r == nil {
		r = &Runtime{}
	}
	w := d.readiness(r, c.spec, im, seen)
	if err := w.WaitUntilReady(ctx, c.ctr); err != nil {
		return fmt.Errorf("not ready after start: %w%s", err, d.logTail(ctx, c))
	}
	return nil
}

func readyPattern(c *topology.Component, im images.Image) *regexp.Regexp {
	switch {
	case c.Ready.HTTPPath != "":
		return nil
	case c.Ready.Log != "":
		re, err := regexp.Compile(c.Ready.Log)
		if err != nil {
			return nil
		}
		return re
	case im.ReadyLog != "":
		return regexp.MustCompile(regexp.QuoteMeta(im.ReadyLog))
	}
	return nil
}

func (d *Deployment) logs(ctx context.Context, c *component) string {
	rc, err := c.ctr.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	var b bytes.Buffer
	io.Copy(&b, io.LimitReader(rc, 8<<20))
	return b.String()
}

func (d *Deployment) logTail(ctx context.Context, c *component) string {
	if c == nil || c.ctr == nil {
		return ""
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s := strings.TrimSpace(d.logs(lctx, c))
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\n--- last log lines of " + c.name + " ---\n" + strings.Join(lines, "\n")
}

// Teardown removes every container and network of the run, then sweeps by
// the run label in case anything escaped. Idempotent.
func (d *Deployment) Teardown(ctx context.Context) error {
	d.teardownOnce.Do(func() { d.teardownErr = d.teardown(ctx) })
	return d.teardownErr
}

func (d *Deployment) teardown(ctx context.Context) error {
	defer tcDefault.capture(d.log)()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var errs []error
	d.mu.Lock()
	comps := make([]*component, 0, len(d.comps)+1)
	for _, c := range d.comps {
		comps = append(comps, c)
	}
	d.mu.Unlock()
	if d.toxiproxy != nil {
		comps = append(comps, d.toxiproxy)
	}
	if d.logDir != "" {
		if err := os.MkdirAll(d.logDir, 0o755); err == nil {
			for _, c := range comps {
				os.WriteFile(filepath.Join(d.logDir, c.name+".log"), []byte(d.logs(ctx, c)), 0o644)
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.cli.ContainerRemove(ctx, c.ctr.GetContainerID(), client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !isNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("remove %s: %w", c.name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, n := range d.networks {
		if err := n.Remove(ctx); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network: %w", err))
		}
	}
	if d.toxi != nil {
		d.toxi.Close()
	}
	if removed, err := Sweep(ctx, d.cli, SweepFilter{RunID: d.runID}); err != nil {
		errs = append(errs, err)
	} else if len(removed) > 0 {
		d.log.Warn("teardown swept objects left by the run", "objects", len(removed))
	}
	d.cli.Close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("teardown %s: %w", d.runID, err)
	}
	return nil
}
