package main

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// header is what BENCHMARKS.md says about the machine and the run.
type header struct {
	Start, End         time.Time
	LoadStart, LoadEnd string
	CPUs               int
	GoVersion, Commit  string
	Docker             bool
}

// Markdown renders BENCHMARKS.md.
func Markdown(h header, runs []Run, status map[string]string, figs []Figure) []byte {
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench` (bench/cmd/benchdriver); do not edit by hand. Budgets are DESIGN.md's (\"Budgets\").\n\n")
	w("- Measured %s → %s (%s) on %d CPUs, %s", h.Start.UTC().Format("2006-01-02 15:04 MST"), h.End.UTC().Format("15:04 MST"),
		h.End.Sub(h.Start).Round(time.Second), h.CPUs, h.GoVersion)
	if h.Commit != "" {
		w(", commit %s", h.Commit)
	}
	w(".\n")
	w("- Load average (1, 5, 15 min) at start: %s; at end: %s.", h.LoadStart, h.LoadEnd)
	if loadHigh(h.LoadStart, h.CPUs) || loadHigh(h.LoadEnd, h.CPUs) {
		w(" **The machine was busy: timings are noisy; re-run on a quiet machine before trusting a miss.**")
	}
	w("\n")
	if h.Docker {
		w("- Docker engine: answered; docker runs included (`-tags e2e`).\n")
	} else {
		w("- Docker engine: did not answer; docker runs skipped.\n")
	}
	w("- Raw outputs: `out/bench/<run>.txt` (benchstat-friendly). Compare commits with `benchstat old/<run>.txt new/<run>.txt`.\n\n")

	var pass, miss int
	var misses []Figure
	for _, f := range figs {
		if f.Budget == nil {
			continue
		}
		if f.Pass {
			pass++
		} else {
			miss++
			misses = append(misses, f)
		}
	}
	w("## Summary\n\n%d figures against a budget: %d pass, %d miss.\n\n", pass+miss, pass, miss)
	for _, f := range misses {
		w("- **miss** `%s` = %s %s (budget: %s %s %s; %s)\n", f.Name, fmtValue(f.Value), f.Unit, f.Budget.Op, fmtValue(f.Budget.Limit), unitOf(f), f.Budget.Text)
	}
	if len(misses) > 0 {
		w("\n")
	}

	w("## Figures\n\n")
	w("| name | value | unit | budget | result | reproduce |\n|---|---:|---|---|---|---|\n")
	for _, f := range figs {
		budget, result := "", ""
		if f.Budget != nil {
			budget = fmt.Sprintf("%s %s %s (%s)", f.Budget.Op, fmtValue(f.Budget.Limit), unitOf(f), f.Budget.Text)
			result = "pass"
			if !f.Pass {
				result = "**miss**"
			}
		}
		w("| `%s` | %s | %s | %s | %s | `%s` |\n", f.Name, fmtValue(f.Value), f.Unit, esc(budget), result, esc(f.Command))
	}
	w("\n## Runs\n\n| run | what it measures | status | command |\n|---|---|---|---|\n")
	for _, r := range runs {
		w("| %s | %s | %s | `%s` |\n", r.Name, esc(r.Why), esc(status[r.Name]), esc(r.Command("")))
	}
	w("\nEvery command runs from the repository root; the whole set is `make bench` (or `go run ./bench/cmd/benchdriver`).\n")
	return b.Bytes()
}

func unitOf(f Figure) string {
	if f.Budget != nil && f.Budget.Show != "" {
		return f.Budget.Show
	}
	return f.Unit
}

// esc keeps a table cell in one cell.
func esc(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// loadHigh: the 1-minute load average above the CPU count.
func loadHigh(load string, cpus int) bool {
	var one float64
	if _, err := fmt.Sscan(strings.Fields(load + " x")[0], &one); err != nil {
		return false
	}
	return one > float64(cpus)
}
