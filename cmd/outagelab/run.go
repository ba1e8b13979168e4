package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outagelab/outagelab/harness"
	_ "github.com/outagelab/outagelab/harness/docker" // registers the docker runtime
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/reports"
	"github.com/outagelab/outagelab/reports/result"
	"github.com/outagelab/outagelab/scenarios"
)

var runFlags struct {
	runtime   string
	timeScale float64
	seed      int64
	out       string
	policy    string
	format    string
	logDir    string
	verbose   bool
	attach    string
	fidelity  bool
}

var runCmd = &cobra.Command{
	Use:   "run NAME|FILE...",
	Short: "Play scenarios against a fresh topology and judge their objectives",
	Long: `Play each scenario: bring the topology up, warm up, check the steady state,
start load, play the phases on the scaled clock (faults on at each phase's
start, off at its end), recovery window, steady state again, invariants,
teardown. Every run writes result.json to --out (one sub-directory per
scenario when several are given), even when it aborts or is interrupted.

With --attach the scenarios play on the topology a running ` + "`outagelab up`" + `
keeps (the newest one, or --attach=RUNID|FILE); its faults are removed at the
end and the topology is left running for the ` + "`up`" + ` to tear down.

The verdict comes from the scenario's objectives (what the system under
test must hold), its steady state and the invariants. Its expectations
(what the outage's sources say happened) are reported as fidelity and
decide the verdict only with --fidelity-gate.

Exit code: 0 when every objective and invariant held, 1 when one did not, 2
for bad input or an infrastructure failure.`,
	Example: `  outagelab run smoke
  outagelab run aws-us-east-1-2021-12-07 --time-scale 120 --policy hardened --format html,md
  outagelab run ./my-scenario.yaml --runtime local --out out/mine
  outagelab run smoke --attach            # on the topology of a running ` + "`outagelab up`" + ``,
	Args: cobra.MinimumNArgs(1),
	RunE: runScenarios,
}

func init() {
	f := runCmd.Flags()
	f.StringVar(&runFlags.runtime, "runtime", "", "docker|local (default: docker when an engine answers, else local)")
	f.Float64Var(&runFlags.timeScale, "time-scale", 0, "incident seconds per wall second (default: the scenario's, e.g. 60)")
	f.Int64Var(&runFlags.seed, "seed", 0, "seed for every random choice (default: the scenario's)")
	f.StringVar(&runFlags.out, "out", "out/run", "directory for result.json and reports")
	f.StringVar(&runFlags.policy, "policy", "", "storefront resilience preset: fragile|hardened (default: the scenario's)")
	f.StringVar(&runFlags.format, "format", "", "reports to render besides result.json: html,md,junit")
	f.StringVar(&runFlags.logDir, "log-dir", "", "write each component's output to DIR/<component>.log")
	f.BoolVarP(&runFlags.verbose, "verbose", "v", false, "also print the run log (engine, harness, testcontainers progress; always in --out/run.log) to stderr")
	f.StringVar(&runFlags.attach, "attach", "", "play on the topology of a running `outagelab up`: latest (no value), --attach=RUNID or --attach=STATEFILE")
	f.Lookup("attach").NoOptDefVal = "latest"
	f.BoolVar(&runFlags.fidelity, "fidelity-gate", false, "also fail the verdict when an expectation (what the outage's sources say happened) is not reproduced; for the scenario library's own CI")
	rootCmd.AddCommand(runCmd)
}

func runScenarios(cmd *cobra.Command, args []string) error {
	if p := runFlags.policy; p != "" && p != "fragile" && p != "hardened" {
		return usageError("--policy %q: want fragile or hardened", p)
	}
	if runFlags.timeScale < 0 {
		return usageError("--time-scale %v: must be positive", runFlags.timeScale)
	}
	var formats []string
	for _, f := range strings.Split(runFlags.format, ",") {
		if f = strings.TrimSpace(f); f != "" && f != "json" {
			formats = append(formats, f)
		}
	}
	// Load and validate everything first: a typo in the third file should
	// not be found after two long runs.
	var list []*scenarios.Scenario
	var bad []string
	for _, a := range args {
		s, err := scenarios.Resolve(a)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if _, err := scenarios.PlanRun(s, runFlags.timeScale, runFlags.seed); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", a, err))
			continue
		}
		for _, w := range s.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: %s\n", w)
		}
		list = append(list, s)
	}
	if len(bad) > 0 {
		return withCode(2, errors.New(strings.Join(bad, "\n")))
	}

	// Progress of engine, harness and testcontainers-go: --out/run.log, and stderr with -v.
	logger, logPath, closeLog, err := openRunLog(runFlags.out, runFlags.verbose, cmd.ErrOrStderr())
	if err != nil {
		return withCode(2, err)
	}
	defer closeLog()
	if !runFlags.verbose {
		fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: log: %s (-v also prints it here)\n", logPath)
	}
	var env *harness.Env
	if cmd.Flags().Changed("attach") {
		var err error
		if env, err = attachEnv(cmd, list); err != nil {
			return err
		}
		defer func() {
			// Removes what faults are left; the `up` keeps the topology.
			if cerr := env.Close(context.WithoutCancel(cmd.Context())); cerr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: detach: %v\n", cerr)
			}
		}()
	}
	code := 0
	for _, s := range list {
		out := runFlags.out
		if len(list) > 1 {
			out = filepath.Join(out, s.Name)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: running %s (%s) — about %s\n", s.Name, s.Title, roundDur(s.WallDuration(runFlags.timeScale)))
		res, err := scenarios.Run(cmd.Context(), s, scenarios.RunOptions{
			Env:       env, // nil: the engine brings a topology up and tears it down
			Harness:   harness.Options{Runtime: runFlags.runtime, Logger: logger, LogDir: runFlags.logDir},
			TimeScale: runFlags.timeScale, Seed: runFlags.seed, Policy: runFlags.policy, FidelityGate: runFlags.fidelity,
			Out: out, Progress: cmd.ErrOrStderr(), Version: version, Logger: logger,
		})
		if len(formats) > 0 {
			if paths, rerr := reports.Render(res, formats, out); rerr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: render reports for %s: %v\n", s.Name, rerr)
				code = max(code, 2)
			} else {
				for _, p := range paths {
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n", p)
				}
			}
		}
		fmt.Fprintln(cmd.OutOrStdout(), summaryLine(s, res, out))
		if story := storyLine(s, res, out); story != "" {
			fmt.Fprintln(cmd.OutOrStdout(), story)
		}
		switch {
		case err != nil:
			fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: %s: %v\n", s.Name, err)
			code = 2
		case res.Verdict == result.VerdictError:
			code = 2
		case res.Verdict == result.VerdictFail:
			code = max(code, 1)
		}
		if cmd.Context().Err() != nil {
			break
		}
	}
	if code != 0 {
		return withCode(code, nil)
	}
	return nil
}

// attachEnv attaches to the running `up` named by --attach and checks that
// every scenario's topology is the one it keeps (exit 2 otherwise).
func attachEnv(cmd *cobra.Command, list []*scenarios.Scenario) (*harness.Env, error) {
	fl := cmd.Flags()
	for _, n := range []string{"runtime", "log-dir"} {
		if fl.Changed(n) {
			return nil, usageError("--%s cannot be combined with --attach: the running `outagelab up` chose it", n)
		}
	}
	if fl.Changed("policy") {
		fmt.Fprintln(cmd.ErrOrStderr(), "outagelab: --policy does not change an attached topology: it keeps the policy `outagelab up` started it with (use `up --policy`)")
	}
	var path string
	switch a := runFlags.attach; {
	case a == "" || a == "latest":
	case strings.ContainsRune(a, filepath.Separator) || strings.HasSuffix(a, ".json"):
		path = a
	default:
		p, err := harness.StatePath("", a)
		if err != nil {
			return nil, usageError("--attach %q: %v", a, err)
		}
		path = p
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	env, err := harness.Attach(ctx, harness.AttachOptions{Path: path})
	if err != nil {
		return nil, withCode(2, err)
	}
	var bad []string
	for _, s := range list {
		policy := runFlags.policy
		if policy == "" {
			policy = s.Policy.Preset
		}
		want, err := scenarios.ResolveTopology(s.Topology, s.File, scenarios.Policy{Preset: policy, Edges: s.Policy.Edges})
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: topology: %v", s.Name, err))
			continue
		}
		if diff := topologyDiff(want, env.Topology()); diff != "" {
			bad = append(bad, fmt.Sprintf("%s needs topology %s but the attached run %s (%s) runs %s: %s; start `outagelab up` with that topology or run without --attach",
				s.Name, want.Name, env.RunID(), env.RuntimeName(), env.Topology().Name, diff))
		}
	}
	if len(bad) > 0 {
		env.Close(context.WithoutCancel(cmd.Context()))
		return nil, withCode(2, errors.New(strings.Join(bad, "\n")))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: attached to run %s (%s, topology %s)\n", env.RunID(), env.RuntimeName(), env.Topology().Name)
	return env, nil
}

// topologyDiff compares the shape of two topologies (name, components with
// image and region, edges); resilience policies (flags) are not compared.
// "" when they match.
func topologyDiff(want, got *topology.Topology) string {
	var d []string
	if want.Name != got.Name {
		d = append(d, fmt.Sprintf("name %q ≠ %q", want.Name, got.Name))
	}
	comp := func(t *topology.Topology) map[string]string {
		m := map[string]string{}
		for _, c := range t.Components {
			m[c.Name] = c.Image + "@" + c.Region
		}
		return m
	}
	edge := func(t *topology.Topology) map[string]string {
		m := map[string]string{}
		for _, e := range t.Edges {
			m[e.Name] = e.From + "→" + e.To + ":" + e.Port
		}
		return m
	}
	diff := func(kind string, w, g map[string]string) {
		var missing, extra, changed []string
		for k, v := range w {
			if gv, ok := g[k]; !ok {
				missing = append(missing, k)
			} else if gv != v {
				changed = append(changed, k)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				extra = append(extra, k)
			}
		}
		for _, x := range []struct {
			what  string
			names []string
		}{{"missing", missing}, {"not in the scenario's", extra}, {"different", changed}} {
			if len(x.names) > 0 {
				slices.Sort(x.names)
				if len(x.names) > 5 {
					x.names = append(x.names[:5:5], fmt.Sprintf("… %d more", len(x.names)-5))
				}
				d = append(d, fmt.Sprintf("%s %s: %s", kind, x.what, strings.Join(x.names, ", ")))
			}
		}
	}
	diff("components", comp(want), comp(got))
	diff("edges", edge(want), edge(got))
	return strings.Join(d, "; ")
}

func summaryLine(s *scenarios.Scenario, r *result.Result, out string) string {
	held, total := countHeld(r.Hypotheses)
	invHeld := 0
	var violated []string
	for _, iv := range r.Invariants {
		if iv.Passed() {
			invHeld++
			continue
		}
		v := iv.Name
		if iv.Outcome() == result.InvariantUnknown {
			v += " (unknown: its evidence was lost)"
		} else if len(iv.Violations) > 0 {
			names := iv.Violations
			if len(names) > 5 {
				names = append(names[:5:5], fmt.Sprintf("… %d more", len(iv.Violations)-5))
			}
			v += " (" + strings.Join(names, ", ") + ")"
		}
		violated = append(violated, v)
	}
	reason := ""
	if r.Status.Reason != "" {
		reason = " — " + r.Status.Reason
	}
	if len(violated) > 0 {
		reason += " — invariants not holding: " + strings.Join(violated, "; ")
	}
	fidelity := ""
	if len(r.Expectations) > 0 {
		m, n := countHeld(r.Expectations)
		gate := ""
		if r.FidelityGate {
			gate = ", gating"
		}
		fidelity = fmt.Sprintf(", fidelity %d/%d expectations reproduced%s", m, n, gate)
	}
	score := ""
	if r.Score != nil {
		score = fmt.Sprintf(", score %.1f", r.Score.Value)
	}
	return fmt.Sprintf("%s: %s (%s), %d/%d objectives held, %d/%d invariants held%s%s%s; result: %s", s.Name, strings.ToUpper(string(r.Verdict)), r.Status.State,
		held, total, invHeld, len(r.Invariants), fidelity, score, reason, filepath.Join(out, "result.json"))
}

func countHeld(hs []result.Hypothesis) (held, total int) {
	for _, h := range hs {
		total++
		if h.Holds {
			held++
		}
	}
	return held, total
}

// storyLine explains a fragile storefront's failed verdict on a replay: the
// breach is what the replay is for, and hardened is the comparison to run.
func storyLine(s *scenarios.Scenario, r *result.Result, out string) string {
	if r.Verdict != result.VerdictFail || r.Scenario.Policy != "fragile" || s.Topology != "" && s.Topology != "storefront" || r.Status.State != "completed" {
		return ""
	}
	held, total := countHeld(r.Hypotheses)
	hardOut := filepath.Join(filepath.Dir(filepath.Clean(out)), "hardened")
	return fmt.Sprintf(`
This is the story of the replay, not a crash: the fragile storefront (naive
timeouts, synchronised retries, no fallbacks, every region's login and
checkout homed in one region) breached %d of its %d objectives under this
outage, as shops built that way did. See what good engineering changes:
  outagelab run %s --policy hardened --out %s
  outagelab report diff %s %s`,
		total-held, total, s.Name, hardOut, filepath.Join(out, "result.json"), filepath.Join(hardOut, "result.json"))
}
