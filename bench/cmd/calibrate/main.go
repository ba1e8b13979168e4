// Command calibrate is `make calibrate`: it plays scenarios several times
// under each storefront policy with the outagelab CLI (each run on its own
// fresh topology), then writes CALIBRATION.md from the results: per
// scenario and policy every run's verdict and score, the mean and the
// spread (max − min), objectives held, invariants and fidelity, and the gap
// between policies — the figure ARCHITECTURE.md budgets ("hardened beats
// fragile on the flagship by ≥ 15 points, three runs each, spread < 5").
//
//	go run ./bench/cmd/calibrate                                   # the flagship, 3 runs per policy
//	go run ./bench/cmd/calibrate -scenarios all -runs 1            # every replay in the library, once per policy
//	go run ./bench/cmd/calibrate -parse-only -out out/calibrate    # rewrite CALIBRATION.md from earlier runs
//
// Runs are played one after another, alternating policies, so a busy or
// drifting machine weighs on both alike; the machine's load is recorded.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/outagelab/outagelab/reports/result"
	"github.com/outagelab/outagelab/scenarios"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "calibrate:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
	names := fs.String("scenarios", "aws-us-east-1-2021-12-07", `comma-separated library names, or "all" (every replay: scenarios with a date)`)
	runs := fs.Int("runs", 3, "runs per scenario and policy")
	policies := fs.String("policies", "fragile,hardened", "comma-separated policies")
	scale := fs.Float64("time-scale", 240, "time scale of every run (0: each scenario's own)")
	rt := fs.String("runtime", "", "docker|local (default: the CLI's choice)")
	out := fs.String("out", "out/calibrate", "directory for each run's results: OUT/SCENARIO/POLICY-N")
	md := fs.String("md", "CALIBRATION.md", "file to write")
	cli := fs.String("outagelab", "bin/outagelab", "the outagelab binary")
	parseOnly := fs.Bool("parse-only", false, "do not run: write the file from the results already in -out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	list, err := scenarioList(*names)
	if err != nil {
		return err
	}
	pols := strings.Split(*policies, ",")
	started := time.Now()
	if !*parseOnly {
		for _, name := range list {
			for i := 1; i <= *runs; i++ {
				for _, p := range pols {
					dir := filepath.Join(*out, name, fmt.Sprintf("%s-%d", p, i))
					cmd := []string{"run", name, "--policy", p, "--out", dir}
					if *scale > 0 {
						cmd = append(cmd, "--time-scale", strconv.FormatFloat(*scale, 'g', -1, 64))
					}
					if *rt != "" {
						cmd = append(cmd, "--runtime", *rt)
					}
					fmt.Fprintf(stdout, "calibrate: %s %s run %d/%d (load %s)\n", name, p, i, *runs, loadAvg())
					c := exec.Command(*cli, cmd...)
					c.Stdout, c.Stderr = io.Discard, io.Discard
					if err := c.Run(); err != nil {
						var ee *exec.ExitError
						if !errors.As(err, &ee) || ee.ExitCode() != 1 { // 1 is a verdict, not a failure
							fmt.Fprintf(stdout, "calibrate: %s %s run %d: %v (recorded as it is)\n", name, p, i, err)
						}
					}
				}
			}
		}
	}
	tables, err := collect(*out, list, pols)
	if err != nil {
		return err
	}
	text := render(tables, meta{runs: *runs, scale: *scale, runtime: *rt, took: time.Since(started), parseOnly: *parseOnly})
	if err := os.WriteFile(*md, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "calibrate: wrote %s\n", *md)
	return nil
}

func scenarioList(names string) ([]string, error) {
	if names != "all" {
		return strings.Split(names, ","), nil
	}
	var out []string
	for _, n := range scenarios.LibraryNames() {
		s, err := scenarios.LoadLibrary(n)
		if err != nil {
			return nil, err
		}
		if s.Date != "" {
			out = append(out, n)
		}
	}
	return out, nil
}

// loadAvg is /proc/loadavg's first three fields ("?" elsewhere).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

type runRow struct {
	dir                    string
	verdict                string
	score                  float64
	scored                 bool
	objHeld, objTotal      int
	invHeld, invTotal      int
	fidelHeld, fidelTotal  int
	runtime, status        string
	worstJourney           string
	worstJourneySuccess    float64
	worstJourneySuccessSet bool
}

type policyRuns struct {
	policy string
	runs   []runRow
}

type table struct {
	scenario string
	policies []policyRuns
}

func collect(out string, list, pols []string) ([]table, error) {
	var tables []table
	for _, name := range list {
		t := table{scenario: name}
		for _, p := range pols {
			pr := policyRuns{policy: p}
			dirs, _ := filepath.Glob(filepath.Join(out, name, p+"-*"))
			sort.Strings(dirs)
			for _, d := range dirs {
				r, err := result.Read(filepath.Join(d, "result.json"))
				if err != nil {
					pr.runs = append(pr.runs, runRow{dir: d, verdict: "missing", status: err.Error()})
					continue
				}
				pr.runs = append(pr.runs, row(d, r))
			}
			t.policies = append(t.policies, pr)
		}
		tables = append(tables, t)
	}
	return tables, nil
}

func row(dir string, r *result.Result) runRow {
	rr := runRow{dir: dir, verdict: string(r.Verdict), runtime: r.Scenario.Runtime, status: r.Status.State}
	if r.Score != nil {
		rr.score, rr.scored = r.Score.Value, true
	}
	for _, h := range r.Hypotheses {
		rr.objTotal++
		if h.Holds {
			rr.objHeld++
		}
	}
	for _, iv := range r.Invariants {
		rr.invTotal++
		if iv.Passed() {
			rr.invHeld++
		}
	}
	for _, h := range r.Expectations {
		rr.fidelTotal++
		if h.Holds {
			rr.fidelHeld++
		}
	}
	// The worst customer journey in any phase with faults.
	for _, j := range r.Journeys {
		for ph, w := range j.ByPhase {
			if w.Attempts == 0 {
				continue
			}
			if !rr.worstJourneySuccessSet || w.SuccessRate < rr.worstJourneySuccess {
				rr.worstJourneySuccess, rr.worstJourneySuccessSet = w.SuccessRate, true
				rr.worstJourney = fmt.Sprintf("%s/%s in %s", j.Name, j.Region, ph)
			}
		}
	}
	return rr
}

type meta struct {
	runs      int
	scale     float64
	runtime   string
	took      time.Duration
	parseOnly bool
}

func stats(rs []runRow) (mean, lo, hi float64, n int) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		if !r.scored {
			continue
		}
		mean += r.score
		lo, hi = math.Min(lo, r.score), math.Max(hi, r.score)
		n++
	}
	if n == 0 {
		return 0, 0, 0, 0
	}
	return mean / float64(n), lo, hi, n
}

func render(tables []table, m meta) string {
	var b strings.Builder
	b.WriteString("# Calibration: does the score separate a fragile shop from a hardened one?\n\n")
	b.WriteString("Written by `make calibrate` (`go run ./bench/cmd/calibrate`) from the runs' own `result.json`; do not edit by hand.\n")
	fmt.Fprintf(&b, "Each scenario was played %d time(s) per policy, alternating policies, each run on a fresh topology", m.runs)
	if m.scale > 0 {
		fmt.Fprintf(&b, ", at %g×", m.scale)
	}
	if m.runtime != "" {
		fmt.Fprintf(&b, ", runtime %s", m.runtime)
	}
	fmt.Fprintf(&b, "; machine: %d CPUs, %s/%s. Score: [reports/SCORE.md](reports/SCORE.md) (v2, from objectives). Spread = max − min over the runs.\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	b.WriteString("| scenario | policy | runs | verdicts | score mean | spread | scores | objectives held | invariants | fidelity | worst journey in a phase |\n")
	b.WriteString("|---|---|---:|---|---:|---:|---|---|---|---|---|\n")
	for _, t := range tables {
		for _, p := range t.policies {
			mean, lo, hi, n := stats(p.runs)
			var verdicts, scores, objs, invs, fid, worst []string
			for _, r := range p.runs {
				verdicts = append(verdicts, r.verdict)
				if r.scored {
					scores = append(scores, fmt.Sprintf("%.1f", r.score))
				} else {
					scores = append(scores, "–")
				}
				objs = append(objs, fmt.Sprintf("%d/%d", r.objHeld, r.objTotal))
				invs = append(invs, fmt.Sprintf("%d/%d", r.invHeld, r.invTotal))
				fid = append(fid, fmt.Sprintf("%d/%d", r.fidelHeld, r.fidelTotal))
				if r.worstJourneySuccessSet {
					worst = append(worst, fmt.Sprintf("%.1f%% %s", 100*r.worstJourneySuccess, r.worstJourney))
				}
			}
			meanText, spread := "–", "–"
			if n > 0 {
				meanText, spread = fmt.Sprintf("%.1f", mean), fmt.Sprintf("%.1f", hi-lo)
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.scenario, p.policy, len(p.runs),
				strings.Join(verdicts, ", "), meanText, spread, strings.Join(scores, ", "), strings.Join(objs, ", "),
				strings.Join(invs, ", "), strings.Join(fid, ", "), strings.Join(dedupe(worst), "; "))
		}
	}
	b.WriteString("\n## Gap between policies\n\n| scenario | hardened − fragile (mean score) | budget |\n|---|---:|---|\n")
	for _, t := range tables {
		var f, h []runRow
		for _, p := range t.policies {
			switch p.policy {
			case "fragile":
				f = p.runs
			case "hardened":
				h = p.runs
			}
		}
		fm, _, _, fn := stats(f)
		hm, _, _, hn := stats(h)
		if fn == 0 || hn == 0 {
			fmt.Fprintf(&b, "| %s | – | |\n", t.scenario)
			continue
		}
		budget := ""
		if t.scenario == "aws-us-east-1-2021-12-07" {
			budget = "≥ 15 points, spread < 5 per policy (ARCHITECTURE.md)"
		}
		fmt.Fprintf(&b, "| %s | %+.1f | %s |\n", t.scenario, hm-fm, budget)
	}
	b.WriteString("\nFidelity is how many of the scenario's expectations (what its sources say happened) the run reproduced: a fragile shop is meant to reproduce history, a hardened one is meant not to.\n")
	return b.String()
}

func dedupe(v []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range v {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
