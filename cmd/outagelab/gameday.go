package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/outagelab/outagelab/gameday"
	"github.com/outagelab/outagelab/harness"
	_ "github.com/outagelab/outagelab/harness/docker" // registers the docker runtime
	"github.com/outagelab/outagelab/harness/topology"
)

var gamedayFlags struct {
	runtime   string
	topology  string
	scenario  string
	listen    string
	tokenFile string
	out       string
	policy    string
	rate      float64
	timeScale float64
	logDir    string
	verbose   bool
	timeout   time.Duration
}

var gamedayCmd = &cobra.Command{
	Use:   "gameday",
	Short: "Run a live game day: bring a topology up with load and serve a web console",
	Long: `Bring the storefront (or --topology FILE) up with background load and serve the
game-day console: live component health by region, journey success and p99,
a fault palette (every kind in the fault registry, on any edge or component),
library scenarios to play with pause/resume/skip, a big HALT button, a
timeline of everything injected and by whom, and facilitator/observer notes.

The console listens on 127.0.0.1 and needs the token printed at start (the
printed URL carries it once; the page then keeps a cookie). Scripts and
` + "`outagelab halt`" + ` send it as "Authorization: Bearer <token>"; --token-file writes it
to a file (mode 0600). Ctrl-C ends the exercise: every fault is removed,
result.json, report.html and audit.jsonl are written to --out, and the topology
is torn down.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		f := gamedayFlags
		switch f.runtime {
		case "", "docker", "local":
		default:
			return usageError("--runtime %q: want docker or local", f.runtime)
		}
		switch f.policy {
		case "", topology.PolicyFragile, topology.PolicyHardened:
		default:
			return usageError("--policy %q: want %s or %s", f.policy, topology.PolicyFragile, topology.PolicyHardened)
		}
		if f.rate < 0 || f.rate > 1000 {
			return usageError("--rate %g: want 0..1000 arrivals per second per region", f.rate)
		}
		if f.timeScale < 0 {
			return usageError("--time-scale %g: must be positive", f.timeScale)
		}
		host, _, err := net.SplitHostPort(f.listen)
		if err != nil {
			return usageError("--listen %q: want host:port, e.g. 127.0.0.1:0 (%v)", f.listen, err)
		}
		var topo *topology.Topology
		if f.topology != "" {
			if topo, err = topology.LoadFile(f.topology); err != nil {
				return withCode(2, err)
			}
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: WARNING: --listen %s is not loopback: anyone who can reach it and learns the token can inject faults and HALT (the console speaks plain HTTP)\n", f.listen)
		}
		return runGameday(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), topo)
	},
}

func init() {
	f := gamedayCmd.Flags()
	f.StringVar(&gamedayFlags.runtime, "runtime", "", "docker or local (default: docker when an engine answers, else local)")
	f.StringVar(&gamedayFlags.topology, "topology", "", "YAML topology file (default: the built-in storefront)")
	f.StringVar(&gamedayFlags.scenario, "scenario", "", "library scenario (or file) to have ready to play")
	f.StringVar(&gamedayFlags.listen, "listen", "127.0.0.1:0", "console address (port 0: any free port)")
	f.StringVar(&gamedayFlags.tokenFile, "token-file", "", "also write the token to this file (mode 0600), for scripts and `outagelab halt --token-file`")
	f.StringVar(&gamedayFlags.out, "out", "", "where to write result.json, report.html and audit.jsonl (default: out/gameday-<run id>)")
	f.StringVar(&gamedayFlags.policy, "policy", "", "storefront resilience preset: fragile (default) or hardened")
	f.Float64Var(&gamedayFlags.rate, "rate", 5, "background load: journeys per second per region (0: none)")
	f.Float64Var(&gamedayFlags.timeScale, "time-scale", 0, "time scale for played scenarios (default: each scenario's own)")
	f.StringVar(&gamedayFlags.logDir, "log-dir", "", "write each component's output to DIR/<component>.log")
	f.BoolVarP(&gamedayFlags.verbose, "verbose", "v", false, "log progress")
	f.DurationVar(&gamedayFlags.timeout, "start-timeout", 10*time.Minute, "give up starting after this long (first use builds images)")
	rootCmd.AddCommand(gamedayCmd)
}

func runGameday(ctx context.Context, stdout, stderr io.Writer, topo *topology.Topology) (err error) {
	f := gamedayFlags
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	} else {
		tclog.SetDefault(stdlog.New(io.Discard, "", 0))
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	// Listen first: a taken port fails before minutes of start-up.
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return withCode(2, fmt.Errorf("gameday: listen on %s: %w (pick another with --listen)", f.listen, err))
	}
	defer ln.Close()

	sctx, cancel := context.WithTimeout(ctx, f.timeout)
	env, err := harness.Up(sctx, harness.Options{Runtime: f.runtime, Topology: topo, Policy: f.policy, Logger: log, Notice: stderr, LogDir: f.logDir})
	cancel()
	if err != nil {
		return withCode(2, fmt.Errorf("gameday: %w", err))
	}
	defer func() {
		fmt.Fprintln(stderr, "outagelab: tearing down…")
		if cerr := env.Close(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, withCode(2, fmt.Errorf("gameday: %w", cerr)))
			return
		}
		fmt.Fprintln(stderr, "outagelab: torn down; nothing left running")
	}()

	out := f.out
	if out == "" {
		out = filepath.Join("out", "gameday-"+env.RunID())
	}
	con, err := gameday.New(gameday.Options{Env: env, Load: gameday.StorefrontLoad(env.Topology(), f.rate), Out: out,
		Scenario: f.scenario, TimeScale: f.timeScale, Policy: f.policy, Version: version, Logger: log})
	if err != nil {
		return withCode(2, fmt.Errorf("gameday: %w", err))
	}
	if f.tokenFile != "" {
		if err := writeTokenFile(f.tokenFile, con.Token()); err != nil {
			return withCode(2, err)
		}
	}
	if err := con.Start(ctx); err != nil {
		return withCode(2, fmt.Errorf("gameday: %w", err))
	}
	srv := &http.Server{Handler: con.Handler(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	url := "http://" + consoleHost(ln.Addr()) + "/"
	fmt.Fprintf(stdout, "console: %s?token=%s\n", url, con.Token())
	fmt.Fprintf(stdout, "token: %s\n", con.Token())
	fmt.Fprintf(stdout, "halt from another terminal: outagelab halt --url %s --token %s\n", url, con.Token())
	fmt.Fprintf(stdout, "ready: game day on %s (%s, run %s); Ctrl-C ends the exercise and writes %s\n",
		env.Topology().Name, env.RuntimeName(), env.RunID(), out)
	if fl, ok := stdout.(*os.File); ok {
		_ = fl.Sync()
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		fmt.Fprintf(stderr, "outagelab: console server stopped: %v\n", err)
	}
	res, ferr := con.Finish(context.WithoutCancel(ctx), "the facilitator ended the exercise (Ctrl-C)")
	sdctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = srv.Shutdown(sdctx)
	cancel()
	if res != nil {
		fmt.Fprintf(stdout, "result: %s\nreport: %s\naudit: %s\n", filepath.Join(out, "result.json"), filepath.Join(out, "report.html"), filepath.Join(out, gameday.FileAudit))
	}
	if ferr != nil {
		return withCode(2, fmt.Errorf("gameday: %w", ferr))
	}
	return nil
}

// writeTokenFile writes the token with mode 0600, refusing to follow a
// symlink or to leave a looser mode on an existing file.
func writeTokenFile(path, token string) error {
	fi, err := os.Lstat(path)
	if err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("--token-file %s is a symlink: refusing to write the token through it", path)
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	if err := fh.Chmod(0o600); err != nil {
		fh.Close()
		return fmt.Errorf("--token-file: %w", err)
	}
	if _, err := fmt.Fprintln(fh, token); err != nil {
		fh.Close()
		return fmt.Errorf("--token-file: %w", err)
	}
	return fh.Close()
}

// consoleHost is the listener's address as a browser on this host reaches
// it: an unspecified address (0.0.0.0, ::) is shown as 127.0.0.1.
func consoleHost(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ta.IP == nil || ta.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
	return ta.String()
}
