package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/outagelab/outagelab/harness"
	_ "github.com/outagelab/outagelab/harness/docker" // registers the docker runtime
	"github.com/outagelab/outagelab/harness/topology"
)

var upFlags struct {
	runtime  string
	topology string
	policy   string
	logDir   string
	verbose  bool
	timeout  time.Duration
}

var upCmd = &cobra.Command{
	Use:   "up",
	Short: "Bring a topology up, print its endpoints, and keep it until Ctrl-C",
	Long: `Bring the storefront (or --topology FILE) up with a Toxiproxy proxy on every
edge, print every endpoint as http://127.0.0.1:PORT (the gateway of each region
first, then the Toxiproxy API, then each service's metrics), then a line with
the word "ready". Faults can be injected by hand meanwhile, e.g. with
bin/toxiproxy-cli -h <Toxiproxy API> (see ` + "`outagelab images`" + `).
Once ready it writes a state file (run id, endpoints, admin token; mode 0600)
to $OUTAGELAB_STATE_DIR, else $XDG_RUNTIME_DIR/outagelab, else
~/.cache/outagelab/up, so that ` + "`outagelab run --attach`" + ` can play scenarios on
this topology from another terminal. Ctrl-C or SIGTERM removes the file and
tears everything down.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) (err error) {
		switch upFlags.runtime {
		case "", "docker", "local":
		default:
			return usageError("--runtime %q: want docker or local", upFlags.runtime)
		}
		switch upFlags.policy {
		case "", topology.PolicyFragile, topology.PolicyHardened:
		default:
			return usageError("--policy %q: want %s or %s", upFlags.policy, topology.PolicyFragile, topology.PolicyHardened)
		}
		var topo *topology.Topology
		if upFlags.topology != "" {
			if topo, err = loadTopologyFile(upFlags.topology); err != nil {
				return withCode(2, err)
			}
		}
		return runUp(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), harness.Options{
			Runtime: upFlags.runtime, Topology: topo, Policy: upFlags.policy, LogDir: upFlags.logDir,
		})
	},
}

func init() {
	f := upCmd.Flags()
	f.StringVar(&upFlags.runtime, "runtime", "", "docker or local (default: docker when an engine answers, else local)")
	f.StringVar(&upFlags.topology, "topology", "", "YAML topology file (default: the built-in storefront)")
	f.StringVar(&upFlags.policy, "policy", "", "storefront resilience preset: fragile (default) or hardened")
	f.StringVar(&upFlags.logDir, "log-dir", "", "write each component's output to DIR/<component>.log")
	f.BoolVarP(&upFlags.verbose, "verbose", "v", false, "log progress (components starting, ready)")
	f.DurationVar(&upFlags.timeout, "start-timeout", 10*time.Minute, "give up starting after this long (first use builds images)")
	rootCmd.AddCommand(upCmd)
}

// runUp starts, prints, waits for ctx (Ctrl-C/SIGTERM), and tears down on
// every path: normal end, start error, signal, panic.
func runUp(ctx context.Context, stdout, stderr io.Writer, opts harness.Options) (err error) {
	level := slog.LevelWarn
	if upFlags.verbose {
		level = slog.LevelInfo
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if !upFlags.verbose {
		tclog.SetDefault(stdlog.New(io.Discard, "", 0)) // testcontainers' per-container chatter
	}
	opts.Notice = stderr

	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, upFlags.timeout)
	env, err := harness.Up(sctx, opts)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return withCode(2, fmt.Errorf("up interrupted while starting (everything started was removed): %w", err))
		}
		return withCode(2, fmt.Errorf("up: %w", err))
	}
	statePath := ""
	defer func() {
		p := recover()
		if statePath != "" {
			// First, so nothing attaches to a topology on its way down.
			if rerr := os.Remove(statePath); rerr != nil && !os.IsNotExist(rerr) {
				fmt.Fprintf(stderr, "outagelab: remove state file: %v\n", rerr)
			}
		}
		fmt.Fprintln(stderr, "outagelab: tearing down…")
		cerr := env.Close(context.WithoutCancel(ctx))
		if p != nil {
			err = withCode(2, errors.Join(fmt.Errorf("up: internal error (torn down): %v", p), cerr))
			return
		}
		if cerr != nil {
			err = withCode(2, fmt.Errorf("up: %w", cerr))
			return
		}
		fmt.Fprintln(stderr, "outagelab: torn down; nothing left running")
	}()

	printEndpoints(stdout, env)
	// The state file lets `outagelab run --attach` (another process) play
	// scenarios on this topology; it holds the admin token (0600).
	if statePath, err = harness.WriteState(env, ""); err != nil {
		fmt.Fprintf(stderr, "outagelab: %v; `run --attach` will not find this topology\n", err)
		statePath, err = "", nil
	} else {
		fmt.Fprintf(stdout, "state file %s\n", statePath)
	}
	fmt.Fprintf(stdout, "ready: run %s on %s, %d components, %d edges, up in %s; Ctrl-C to stop\n",
		env.RunID(), env.RuntimeName(), len(env.Topology().Components), len(env.Topology().Edges),
		time.Since(start).Round(10*time.Millisecond))
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}
	<-ctx.Done()
	return nil
}

// printEndpoints: gateways by region first, the Toxiproxy API, each
// service's metrics, then the other endpoints.
func printEndpoints(w io.Writer, env *harness.Env) {
	t := env.Topology()
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	regionIdx := func(r string) int {
		if i := slices.Index(t.Regions, r); i >= 0 {
			return i
		}
		return len(t.Regions)
	}
	var gateways []*topology.Component
	for _, c := range t.Components {
		if c.Label(topology.LabelService) == "gateway" {
			gateways = append(gateways, c)
		}
	}
	slices.SortStableFunc(gateways, func(a, b *topology.Component) int { return regionIdx(a.Region) - regionIdx(b.Region) })
	for _, g := range gateways {
		if u, err := env.Endpoint(g.Name, topology.PortHTTP); err == nil {
			fmt.Fprintf(tw, "gateway %s\t%s\n", g.Region, u)
		}
	}
	fmt.Fprintf(tw, "toxiproxy API\t%s\n", env.ToxiproxyURL())
	for _, c := range t.Components {
		if c.Image != topology.ImageStorefront {
			continue
		}
		if u, err := env.Endpoint(c.Name, topology.PortHTTP); err == nil {
			fmt.Fprintf(tw, "metrics %s\t%s/metrics\n", c.Name, u)
		}
	}
	for _, c := range t.Components {
		if c.Image == topology.ImageStorefront {
			continue
		}
		for _, p := range c.Ports {
			a, err := env.Addr(c.Name, p.Name)
			if err != nil {
				continue
			}
			switch p.Name {
			case topology.PortPostgres:
				fmt.Fprintf(tw, "%s %s\tpostgres://postgres@%s/postgres\n", c.Name, p.Name, a)
			case topology.PortRedis:
				fmt.Fprintf(tw, "%s %s\tredis://%s/0\n", c.Name, p.Name, a)
			default:
				fmt.Fprintf(tw, "%s %s\thttp://%s\n", c.Name, p.Name, a)
			}
		}
	}
	if tok := env.AdminToken(); tok != "" && len(gateways) > 0 {
		fmt.Fprintf(tw, "admin token\t%s\n", tok)
	}
	tw.Flush()
}

// loadTopologyFile reads a user topology with harness/topology's loader:
// strict YAML, every error at once as file:line:col: field.path: message.
func loadTopologyFile(path string) (*topology.Topology, error) {
	t, err := topology.LoadFile(path)
	if err != nil {
		return nil, withCode(2, err)
	}
	return t, nil
}
