package main

import (
	"fmt"
	"path"
	"strings"
)

// Run is one `go test -bench` invocation; its output goes to <Name>.txt.
type Run struct {
	Name      string
	Pkg       string // ./harness/faults
	Bench     string // -bench regexp
	Benchtime string // -benchtime
	Docker    bool   // needs a Docker engine: -tags e2e, skipped without one
	Why       string // what it measures, for BENCHMARKS.md
}

// Args is the go test command line for the run, or for one top-level
// benchmark of it when top is set.
func (r Run) Args(top string) []string {
	bench := r.Bench
	if top != "" {
		bench = "^" + top + "$"
	}
	args := []string{"test", "-run", "^$", "-bench", bench, "-benchmem", "-count", "1", "-timeout", "10m"}
	if r.Benchtime != "" {
		args = append(args, "-benchtime", r.Benchtime)
	}
	if r.Docker {
		args = append(args, "-tags", "e2e")
	}
	return append(args, r.Pkg)
}

// Command is Args as a shell command line.
func (r Run) Command(top string) string {
	var b strings.Builder
	b.WriteString("go")
	for _, a := range r.Args(top) {
		b.WriteByte(' ')
		if strings.ContainsAny(a, "^$|*()[] ") {
			b.WriteString("'" + a + "'")
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// Runs is what `make bench` measures, in order. Keep the total under ~10
// minutes on 2 cores: whole-topology benchmarks run 1x or a few times.
var Runs = []Run{
	{Name: "faults", Pkg: "./harness/faults", Bench: "^BenchmarkApplySkewRegion$", Benchtime: "20x",
		Why: "fault-apply skew across every edge touching us-east-1 (embedded Toxiproxy, idle proxies)"},
	{Name: "proxy", Pkg: "./harness/proxy", Bench: "^BenchmarkRequest$", Benchtime: "2000x",
		Why: "a request to an echo server direct vs through Toxiproxy"},
	{Name: "harness", Pkg: "./harness", Bench: "^BenchmarkLocalStorefrontUp$", Benchtime: "3x",
		Why: "the storefront healthy as local processes"},
	{Name: "load", Pkg: "./harness/load", Bench: "^Benchmark(Generator|VsVegeta|StatsHour)$", Benchtime: "1x",
		Why: "load generator vs vegeta at 2,000 req/s on one core (5 s each)"},
	{Name: "record", Pkg: "./harness/record", Bench: "^BenchmarkRecorderHour$", Benchtime: "1x",
		Why: "recorder memory for a 1-hour run at 1 s buckets"},
	{Name: "reports", Pkg: "./reports", Bench: "^BenchmarkRender", Benchtime: "5x",
		Why: "rendering a 10-minute run's result"},
	{Name: "storefront", Pkg: "./cmd/storefront", Bench: "^BenchmarkIdleRSS$", Benchtime: "1x",
		Why: "idle RSS of storefront services"},
	{Name: "gateway", Pkg: "./services/gateway", Bench: "^BenchmarkGatewayHome$", Benchtime: "1s",
		Why: "gateway home page cost"},
	{Name: "checkout", Pkg: "./services/checkout", Bench: "^BenchmarkCheckout$", Benchtime: "1s",
		Why: "checkout request cost"},
	{Name: "bench-faults", Pkg: "./bench", Bench: "^Benchmark(FaultEffect|HaltStorefront)$", Benchtime: "20x",
		Why: "fault API call → effect seen by a client, and halting a storefront-wide phase, on the running local storefront"},
	{Name: "bench-overhead", Pkg: "./bench", Bench: "^BenchmarkRequestPath$", Benchtime: "3000x",
		Why: "a request direct vs through Toxiproxy alone vs through the harness's topology"},
	{Name: "bench-scale", Pkg: "./bench", Bench: "^Benchmark(ScaleUp|ComponentStart)$", Benchtime: "3x",
		Why: "scale curve (1, 2, 4 regions) of the local runtime: time to healthy, harness and component memory; per-component start times"},
	{Name: "bench-run", Pkg: "./bench", Bench: "^BenchmarkRunMemory$", Benchtime: "1x",
		Why: "harness and per-component memory during a real `outagelab run` under load (local runtime)"},
	{Name: "docker", Pkg: "./harness/docker", Bench: "^Benchmark(StorefrontUp|UserTopologyUp)$", Benchtime: "1x", Docker: true,
		Why: "the storefront healthy in Docker, images present"},
	{Name: "bench-scale-docker", Pkg: "./bench", Bench: "^BenchmarkScaleUpDocker$", Benchtime: "2x", Docker: true,
		Why: "scale curve (1, 2, 4 regions) of the docker runtime"},
}

// Budget is a ARCHITECTURE.md goal checked against matching figures.
type Budget struct {
	Bench string  // glob on Result.Short(), e.g. "RunMemory/component=gateway-*"
	Unit  string  // the benchmark's unit
	Op    string  // "<", "<=", ">="
	Limit float64 // in Unit × Scale
	Scale float64 // multiply the value before comparing and showing (0 = 1)
	Show  string  // unit shown when Scale is set
	Text  string  // the budget as ARCHITECTURE.md says it
}

// Budgets from ARCHITECTURE.md ("Budgets").
var Budgets = []Budget{
	{Bench: "StorefrontUp", Unit: "ns/op", Op: "<=", Limit: 10, Scale: 1e-9, Show: "s", Text: "storefront up in Docker ≤ 10 s"},
	{Bench: "ScaleUpDocker/runtime=docker/regions=2", Unit: "s-to-healthy", Op: "<=", Limit: 10, Text: "storefront up in Docker ≤ 10 s"},
	{Bench: "LocalStorefrontUp", Unit: "s-to-healthy", Op: "<=", Limit: 2, Text: "storefront up locally ≤ 2 s"},
	{Bench: "ScaleUp/runtime=local/regions=2", Unit: "s-to-healthy", Op: "<=", Limit: 2, Text: "storefront up locally ≤ 2 s"},
	{Bench: "ApplySkewRegion", Unit: "skew-ms", Op: "<=", Limit: 20, Text: "a phase's faults applied within 20 ms of each other"},
	{Bench: "HaltStorefront", Unit: "skew-ms", Op: "<=", Limit: 20, Text: "a phase's faults applied within 20 ms of each other"},
	{Bench: "RequestPath", Unit: "harness-overhead-us", Op: "<=", Limit: 200, Text: "harness overhead ≤ Toxiproxy's own (~0.2 ms on loopback)"},
	{Bench: "Generator", Unit: "req/s", Op: ">=", Limit: 2000, Text: "load generator ≥ 2,000 req/s on one core"},
	{Bench: "Generator", Unit: "sched-p50-ms", Op: "<", Limit: 1, Text: "median schedule error < 1 ms"},
	{Bench: "VsVegeta/outagelab", Unit: "req/s", Op: ">=", Limit: 2000, Text: "load generator ≥ 2,000 req/s on one core"},
	{Bench: "VsVegeta/outagelab", Unit: "sched-p50-ms", Op: "<", Limit: 1, Text: "median schedule error < 1 ms"},
	{Bench: "RenderHTML10Min", Unit: "ns/op", Op: "<", Limit: 1, Scale: 1e-9, Show: "s", Text: "a result rendered to HTML < 1 s"},
	{Bench: "RunMemory/harness", Unit: "peak-RSS-MB", Op: "<", Limit: 200, Text: "harness RSS < 200 MB"},
	{Bench: "ScaleUp*/runtime=*/regions=*", Unit: "harness-RSS-MB", Op: "<", Limit: 200, Text: "harness RSS < 200 MB"},
	{Bench: "IdleRSS/*", Unit: "RSS-MB", Op: "<", Limit: 40, Text: "each storefront service < 40 MB RSS"},
	{Bench: "RunMemory/component=*", Unit: "peak-RSS-MB", Op: "<", Limit: 40, Text: "each storefront service < 40 MB RSS"},
}

// applies reports whether b judges r's metric unit. Datastores are not
// storefront services: the per-service RSS budget skips them.
func (b Budget) applies(r Result, unit string) bool {
	if unit != b.Unit {
		return false
	}
	ok, err := path.Match(b.Bench, r.Short())
	if err != nil || !ok {
		return false
	}
	if strings.HasPrefix(b.Bench, "RunMemory/component=") {
		c := strings.TrimPrefix(r.Short(), "RunMemory/component=")
		if strings.HasPrefix(c, "postgres-") || strings.HasPrefix(c, "redis-") {
			return false
		}
	}
	return true
}

func (b Budget) check(v float64) bool {
	switch b.Op {
	case "<":
		return v < b.Limit
	case "<=":
		return v <= b.Limit
	case ">=":
		return v >= b.Limit
	}
	return false
}

// Figure is one line of the table: `name value unit`.
type Figure struct {
	Name    string
	Value   float64
	Unit    string
	Budget  *Budget
	Pass    bool
	Command string
	Run     string
}

// Line is the figure as `name value unit`.
func (f Figure) Line() string { return fmt.Sprintf("%s %s %s", f.Name, fmtValue(f.Value), f.Unit) }

func fmtValue(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000 || v <= -1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.1f", v)
	case v >= 1 || v <= -1:
		return fmt.Sprintf("%.3g", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// housekeeping units say how the benchmark loop ran, not what it measured;
// a benchmark that reports figures of its own hides them.
var housekeeping = map[string]bool{"ns/op": true, "B/op": true, "allocs/op": true}

// Figures turns results into figures: every metric but the housekeeping ones
// of benchmarks that report their own, each with its budget when one applies.
func Figures(run Run, results []Result) []Figure {
	var out []Figure
	for _, r := range results {
		custom := false
		for _, m := range r.Metrics {
			if !housekeeping[m.Unit] {
				custom = true
			}
		}
		for _, m := range r.Metrics {
			var bud *Budget
			for i := range Budgets {
				if Budgets[i].applies(r, m.Unit) {
					bud = &Budgets[i]
					break
				}
			}
			if custom && housekeeping[m.Unit] && bud == nil {
				continue
			}
			f := Figure{Name: r.Short(), Value: m.Value, Unit: m.Unit, Command: run.Command(r.Top()), Run: run.Name}
			if bud != nil {
				if bud.Scale != 0 {
					f.Value *= bud.Scale
					f.Unit = bud.Show
				}
				f.Budget, f.Pass = bud, bud.check(f.Value)
			}
			out = append(out, f)
		}
	}
	return out
}
