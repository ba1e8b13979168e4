package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	dnet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
	tc "github.com/testcontainers/testcontainers-go"
	tcnet "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/sync/errgroup"
)

const (
	toxiproxyAlias   = "toxiproxy"
	toxiproxyAPIPort = 8474
	// firstProxyPort is the listen port of the first configured edge's proxy
	// inside the Toxiproxy container.
	firstProxyPort = 20000
	directSuffix   = ".direct"
)

// Start implements harness.Runtime.
func (r *Runtime) Start(ctx context.Context, t *topology.Topology, opts harness.StartOptions) (harness.Deployment, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Minute)
		defer cancel()
	}
	if t == nil {
		return nil, errors.New("docker: nil topology")
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	if opts.RunID == "" {
		return nil, errors.New("docker: StartOptions.RunID is required (it labels every container)")
	}
	if !tc.ReadConfig().RyukDisabled {
		return nil, errors.New("docker: Ryuk is on but cannot be pulled here: set TESTCONTAINERS_RYUK_DISABLED=true before the first testcontainers call")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	defer tcDefault.capture(log)() // testcontainers' own lines: to the run's log
	cli, err := images.NewClient()
	if err != nil {
		return nil, err
	}
	d := &Deployment{
		runtime: r, runID: opts.RunID, topo: t, cli: cli, log: log, adminToken: opts.AdminToken, logDir: opts.LogDir,
		comps: map[string]*component{}, created: time.Now(),
	}
	if err := d.start(ctx, r, opts); err != nil {
		terr := d.Teardown(context.WithoutCancel(ctx))
		return d, errors.Join(err, terr)
	}
	return d, nil
}

func (d *Deployment) labels(component string) map[string]string {
	l := RunLabels(d.runID, d.created)
	l[LabelOwner] = Owner()
	if component != "" {
		l[LabelComponent] = component
	}
	return l
}

func (d *Deployment) start(ctx context.Context, r *Runtime, opts harness.StartOptions) error {
	t := d.topo
	// What a killed run left behind goes first.
	if removed, err := Sweep(ctx, d.cli, SweepFilter{DeadOwnersOnly: true}); err != nil {
		d.log.Warn("sweep leftovers", "err", err)
	} else if len(removed) > 0 {
		d.log.Info("swept leftovers of earlier runs", "objects", len(removed))
	}

	set := r.Images
	if set == nil {
		io := r.ImageOptions
		if io.Log == nil {
			io.Log = slogWriter{d.log}
		}
		needDS := slices.ContainsFunc(t.Components, func(c *topology.Component) bool {
			return c.Image == topology.ImagePostgres || c.Image == topology.ImageRedis
		})
		io.SkipDatastores = !needDS
		io.SkipStorefront = !slices.ContainsFunc(t.Components, func(c *topology.Component) bool { return c.Image == topology.ImageStorefront })
		s, err := images.Ensure(ctx, io)
		if err != nil {
			return fmt.Errorf("images: %w", err)
		}
		set = &s
	}
	d.images = *set

	// Networks: the run's own, plus one per caller that reaches callees by
	// their names (alias mode).
	nw, err := tcnet.New(ctx, tcnet.WithLabels(d.labels("")))
	if err != nil {
		return fmt.Errorf("create network: %w", err)
	}
	d.networks = append(d.networks, nw)
	d.mainNet = nw.Name

	aliasNets := map[string]string{}    // caller -> network name
	aliasNames := map[string][]string{} // network name -> callee names toxiproxy answers for
	d.proxyPort = map[string]int{}      // edge -> listen port in the toxiproxy container
	d.aliasEdge = map[string]bool{}     // edge -> alias mode
	next := firstProxyPort
	for _, e := range t.Edges {
		from := t.Component(e.From)
		if from.Image != topology.ImageStorefront && !t.UsesPlaceholders(from, e) {
			d.aliasEdge[e.Name] = true
			to := t.Component(e.To)
			p, _ := to.Port(e.Port)
			d.proxyPort[e.Name] = p.Container
			if _, ok := aliasNets[e.From]; !ok {
				cn, err := tcnet.New(ctx, tcnet.WithLabels(d.labels(e.From)))
				if err != nil {
					return fmt.Errorf("create network for %s: %w", e.From, err)
				}
				d.networks = append(d.networks, cn)
				aliasNets[e.From] = cn.Name
			}
			n := aliasNets[e.From]
			if !slices.Contains(aliasNames[n], e.To) {
				aliasNames[n] = append(aliasNames[n], e.To)
			}
			continue
		}
		d.proxyPort[e.Name] = next
		next++
	}
	if err := checkAliasConflicts(t, d.aliasEdge); err != nil {
		return err
	}

	for attempt := 1; ; attempt++ {
		err := d.startToxiproxy(ctx, aliasNames)
		if err == nil {
			break
		}
		if attempt == 3 || !isPortConflict(err) {
			return err
		}
		if d.toxiproxy != nil && d.toxiproxy.ctr != nil {
			d.cli.ContainerRemove(ctx, d.toxiproxy.ctr.GetContainerID(), client.ContainerRemoveOptions{Force: true})
			d.toxiproxy = nil
		}
	}
	if err := d.createProxies(ctx, aliasNets); err != nil {
		return err
	}

	waves, err := t.Order()
	if err != nil {
		return err
	}
	for _, wave := range waves {
		g, gctx := errgroup.WithContext(ctx)
		for _, name := range wave {
			c := t.Component(name)
			g.Go(func() error {
				start := time.Now()
				if err := d.startComponent(gctx, r, c, aliasNets[c.Name]); err != nil {
					return fmt.Errorf("start %s: %w", c.Name, err)
				}
				d.log.Info("component ready", "component", c.Name, "took", time.Since(start).Round(time.Millisecond))
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// checkAliasConflicts rejects two alias-mode edges from one caller to
// different callees on the same port: one address cannot be two proxies.
func checkAliasConflicts(t *topology.Topology, alias map[string]bool) error {
	seen := map[string]string{}
	var errs []error
	for _, e := range t.Edges {
		if !alias[e.Name] {
			continue
		}
		p, _ := t.Component(e.To).Port(e.Port)
		k := e.From + ":" + strconv.Itoa(p.Container)
		if other, ok := seen[k]; ok && other != e.To {
			errs = append(errs, fmt.Errorf("edges %s and %s__%s: %s reaches %s and %s on the same port %d by name; give one of them a ${edge:NAME} placeholder in %s's command or env", e.Name, e.From, other, e.From, other, e.To, p.Container, e.From))
		}
		seen[k] = e.To
	}
	return errors.Join(errs...)
}

func (d *Deployment) startToxiproxy(ctx context.Context, aliasNames map[string][]string) error {
	apiPort, err := d.freePort()
	if err != nil {
		return err
	}
	// The API listens on every address of the container; proxies listen on
	// one network's address each. Keep the API off every proxy's port.
	inner := toxiproxyAPIPort
	for slices.Contains(slices.Collect(maps.Values(d.proxyPort)), inner) {
		inner++
	}
	bind := map[int]int{inner: apiPort}
	d.proxyHostPort = map[string]int{}
	if d.runtime.PublishProxies {
		for e, p := range d.proxyPort {
			if d.aliasEdge[e] {
				continue
			}
			hp, err := d.freePort()
			if err != nil {
				return err
			}
			bind[p] = hp
			d.proxyHostPort[e] = hp
		}
	}
	opts := []tc.ContainerCustomizer{
		containerLogger(d.log),
		tc.WithLabels(d.labels("toxiproxy")),
		tcnet.WithNetwork([]string{toxiproxyAlias}, d.networks[0]),
		tc.WithCmd("-host=0.0.0.0", "-port="+strconv.Itoa(inner)),
		publish(bind),
		tc.WithWaitStrategy(wait.ForHTTP("/version").WithPort(portSpec(inner)).WithStartupTimeout(30 * time.Second)),
	}
	names := slices.Sorted(maps.Keys(aliasNames))
	for _, n := range names {
		opts = append(opts, tcnet.WithNetworkName(aliasNames[n], n))
	}
	ctr, err := tc.Run(ctx, d.images.Toxiproxy.Ref, opts...)
	if ctr != nil {
		d.toxiproxy = &component{name: "toxiproxy", ctr: ctr, ports: map[string]int{"api": apiPort}}
	}
	if err != nil {
		return fmt.Errorf("start toxiproxy: %w", err)
	}
	d.toxiURL = "http://127.0.0.1:" + strconv.Itoa(apiPort)
	return nil
}

// createProxies makes one proxy per edge, named after it.
func (d *Deployment) createProxies(ctx context.Context, aliasNets map[string]string) error {
	ins, err := d.toxiproxy.ctr.Inspect(ctx)
	if err != nil {
		return fmt.Errorf("inspect toxiproxy: %w", err)
	}
	netIP := map[string]string{}
	for n, ep := range ins.NetworkSettings.Networks {
		if ep != nil && ep.IPAddress.IsValid() {
			netIP[n] = ep.IPAddress.String()
		}
	}
	if netIP[d.mainNet] == "" {
		return fmt.Errorf("inspect toxiproxy: no address on the run's network %s", d.mainNet)
	}
	var specs []proxy.Spec
	for _, e := range d.topo.Edges {
		to := d.topo.Component(e.To)
		p, _ := to.Port(e.Port)
		// Each proxy listens on one of Toxiproxy's addresses: the run's
		// network for configured callers, the caller's own network for
		// callers that use the callee's name.
		listen := net.JoinHostPort(netIP[d.mainNet], strconv.Itoa(d.proxyPort[e.Name]))
		if d.aliasEdge[e.Name] {
			ip := netIP[aliasNets[e.From]]
			if ip == "" {
				return fmt.Errorf("proxy %s: toxiproxy has no address on %s's network", e.Name, e.From)
			}
			listen = net.JoinHostPort(ip, strconv.Itoa(d.proxyPort[e.Name]))
		}
		specs = append(specs, proxy.Spec{
			Name: e.Name, Listen: listen, Enabled: true,
			Upstream: net.JoinHostPort(e.To+directSuffix, strconv.Itoa(p.Container)),
		})
	}
	d.toxi = proxy.NewClient(d.toxiURL)
	if len(specs) == 0 {
		return nil
	}
	if err := d.toxi.Populate(ctx, specs); err != nil {
		return fmt.Errorf("create proxies: %w", err)
	}
	return nil
}

// proxyAddr is where a caller reaches an edge's proxy from inside Docker.
func (d *Deployment) proxyAddr(e *topology.Edge) (string, int) {
	if d.aliasEdge[e.Name] {
		return e.To, d.proxyPort[e.Name]
	}
	return toxiproxyAlias, d.proxyPort[e.Name]
}

// startComponent starts c, retrying with fresh host ports when another
// process took one between choosing it and Docker binding it.
func (d *Deployment) startComponent(ctx context.Context, r *Runtime, c *topology.Component, aliasNet string) error {
	for attempt := 1; ; attempt++ {
		err := d.startComponentOnce(ctx, r, c, aliasNet)
		if err == nil || attempt == 3 || !isPortConflict(err) {
			return err
		}
		d.log.Warn("a host port was taken meanwhile; retrying with fresh ports", "component", c.Name, "err", err)
		d.mu.Lock()
		old := d.comps[c.Name]
		delete(d.comps, c.Name)
		d.mu.Unlock()
		if old != nil && old.ctr != nil {
			d.cli.ContainerRemove(ctx, old.ctr.GetContainerID(), client.ContainerRemoveOptions{Force: true})
		}
	}
}

func isPortConflict(err error) bool {
	return err != nil && strings.Contains(err.Error(), "port is already allocated")
}

func (d *Deployment) startComponentOnce(ctx context.Context, r *Runtime, c *topology.Component, aliasNet string) error {
	t := d.topo
	comp := &component{name: c.Name, ports: map[string]int{}, spec: c}
	bind := map[int]int{}
	for _, p := range c.Ports {
		hp, err := d.freePort()
		if err != nil {
			return err
		}
		comp.ports[p.Name] = hp
		bind[p.Container] = hp
	}
	env, err := t.Env(c, d.proxyAddr)
	if err != nil {
		return err
	}
	args, err := t.Args(c, d.proxyAddr)
	if err != nil {
		return err
	}
	ref := c.Image
	var im images.Image
	switch c.Image {
	case topology.ImageStorefront, topology.ImagePostgres, topology.ImageRedis:
		var ok bool
		im, ok = d.images.Get(c.Image)
		if !ok || im.Ref == "" {
			return fmt.Errorf("image %s not resolved", c.Image)
		}
		ref = im.Ref
	default:
		if _, err := d.cli.ImageInspect(ctx, ref); err != nil {
			return fmt.Errorf("image %q is not present in the local Docker engine (no registry here): build or load it first (%w)", ref, err)
		}
	}
	opts := []tc.ContainerCustomizer{
		containerLogger(d.log),
		tc.WithLabels(d.labels(c.Name)),
		tcnet.WithNetwork([]string{c.Name + directSuffix}, d.networks[0]),
		publish(bind),
	}
	if aliasNet != "" {
		opts = append(opts, tcnet.WithNetworkName(nil, aliasNet))
	}
	allEnv := maps.Clone(im.Env)
	if allEnv == nil {
		allEnv = map[string]string{}
	}
	maps.Copy(allEnv, env)
	if len(allEnv) > 0 {
		opts = append(opts, tc.WithEnv(allEnv))
	}
	switch c.Image {
	case topology.ImageStorefront:
		http, _ := c.Port(topology.PortHTTP)
		cmd := append(args, "--listen", ":"+strconv.Itoa(orDefault(http.Container, topology.StorefrontHTTPPort)))
		if c.AdminPort != "" {
			ap, _ := c.Port(c.AdminPort)
			cmd = append(cmd, "--admin-listen", ":"+strconv.Itoa(ap.Container), "--admin-token", d.adminToken)
		}
		opts = append(opts, tc.WithCmd(cmd...))
	case topology.ImagePostgres, topology.ImageRedis:
		if len(im.Entrypoint) > 0 {
			opts = append(opts, tc.WithEntrypoint(im.Entrypoint...))
		}
		cmd := im.Cmd
		if len(args) > 0 {
			cmd = args
		}
		if len(cmd) > 0 {
			opts = append(opts, tc.WithCmd(cmd...))
		}
		if im.User != "" {
			user := im.User
			opts = append(opts, tc.WithConfigModifier(func(cfg *container.Config) { cfg.User = user }))
		}
	default:
		if len(args) > 0 {
			opts = append(opts, tc.WithCmd(args...))
		}
	}
	comp.wait = d.readiness(r, c, im, 0)
	opts = append(opts, tc.WithWaitStrategy(comp.wait))

	ctr, err := tc.Run(ctx, ref, opts...)
	if ctr != nil {
		comp.ctr = ctr
		d.mu.Lock()
		d.comps[c.Name] = comp
		d.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%w%s", err, d.logTail(ctx, comp))
	}
	if c.Image == topology.ImagePostgres && len(c.Databases) > 0 {
		if err := createDatabases(ctx, comp.ports[topology.PortPostgres], c.Databases); err != nil {
			return err
		}
	}
	return nil
}

// readiness picks a component's wait strategy; occurrences of a ready log
// line already in the log (after a restart) are added to the count.
func (d *Deployment) readiness(r *Runtime, c *topology.Component, im images.Image, seen int) wait.Strategy {
	timeout := c.Ready.Timeout
	if timeout <= 0 {
		timeout = r.ReadyTimeout
	}
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if c.Ready.HTTPPath != "" {
		pn := c.Ready.Port
		if pn == "" && len(c.Ports) > 0 {
			pn = c.Ports[0].Name
		}
		p, _ := c.Port(pn)
		return wait.ForHTTP(c.Ready.HTTPPath).WithPort(portSpec(p.Container)).
			WithStartupTimeout(timeout).WithPollInterval(50 * time.Millisecond)
	}
	if c.Ready.Log != "" {
		return wait.ForLog(c.Ready.Log).AsRegexp().WithOccurrence(seen + 1).WithStartupTimeout(timeout).WithPollInterval(50 * time.Millisecond)
	}
	if im.ReadyLog != "" {
		n := im.ReadyOccurrence
		if seen > 0 {
			n = 1 // a restart logs it once
		}
		return wait.ForLog(im.ReadyLog).WithOccurrence(seen + n).WithStartupTimeout(timeout).WithPollInterval(50 * time.Millisecond)
	}
	if len(c.Ports) == 0 {
		return wait.ForExec([]string{"true"}).WithStartupTimeout(timeout) // nothing to wait for
	}
	// A TCP connect through the published port: the userland proxy may
	// accept before the app listens, so this is the weakest check; give a
	// component an HTTP path or a log line where it matters.
	return wait.ForListeningPort(portSpec(c.Ports[0].Container)).SkipInternalCheck().WithStartupTimeout(timeout)
}

// createDatabases creates each database unless it exists.
func createDatabases(ctx context.Context, hostPort int, dbs []string) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", hostPort)
	var conn *pgx.Conn
	var err error
	for {
		conn, err = pgx.Connect(cctx, dsn)
		if err == nil {
			break
		}
		select {
		case <-cctx.Done():
			return fmt.Errorf("connect to postgres for CREATE DATABASE: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, db := range dbs {
		_, err := conn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
		if err != nil && !strings.Contains(err.Error(), "42P04") {
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	return nil
}

// publish binds container ports to fixed loopback host ports, so a stop and
// start keeps every address.
func publish(bind map[int]int) tc.CustomizeRequestOption {
	return func(req *tc.GenericContainerRequest) error {
		for cp := range bind {
			req.ExposedPorts = append(req.ExposedPorts, portSpec(cp))
		}
		prev := req.HostConfigModifier
		req.HostConfigModifier = func(hc *container.HostConfig) {
			if prev != nil {
				prev(hc)
			}
			if hc.PortBindings == nil {
				hc.PortBindings = dnet.PortMap{}
			}
			for cp, hp := range bind {
				p, _ := dnet.ParsePort(portSpec(cp))
				hc.PortBindings[p] = []dnet.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(hp)}}
			}
		}
		return nil
	}
}

func portSpec(p int) string { return strconv.Itoa(p) + "/tcp" }

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// freePort returns a free loopback port not yet handed out in this run: the
// kernel may offer a port again once its probe listener closed, before
// Docker binds it for the container that got it first.
func (d *Deployment) freePort() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.usedPorts == nil {
		d.usedPorts = map[int]bool{}
	}
	for range 1000 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		if !d.usedPorts[p] {
			d.usedPorts[p] = true
			return p, nil
		}
	}
	return 0, errors.New("free port: no unused loopback port after 1000 tries")
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// slogWriter turns image build progress lines into log records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}

var _ client.APIClient = (*client.Client)(nil)
