package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Metric is one value a benchmark reported.
type Metric struct {
	Value float64
	Unit  string
}

// Result is one benchmark line of `go test -bench` output.
type Result struct {
	Pkg     string // import path, from the preceding "pkg:" line
	Name    string // e.g. "BenchmarkScaleUp/runtime=local/regions=2", GOMAXPROCS suffix removed
	Iters   int64
	Metrics []Metric
}

// Short is Name without the "Benchmark" prefix: the figure's name.
func (r Result) Short() string { return strings.TrimPrefix(r.Name, "Benchmark") }

// Top is the top-level benchmark function (for -bench '^Top$').
func (r Result) Top() string {
	top, _, _ := strings.Cut(r.Name, "/")
	return top
}

// Metric returns the value reported in unit.
func (r Result) Metric(unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads `go test -bench` output (the benchmark format: config lines
// "key: value", benchmark lines "BenchmarkX-N  iters  value unit ...") and
// returns every benchmark line. Other lines (PASS, ok, logs) are skipped; a
// line that starts like a benchmark result but does not parse is an error
// naming its line number.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	var pkg string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if v, ok := strings.CutPrefix(text, "pkg: "); ok {
			pkg = strings.TrimSpace(v)
			continue
		}
		if !strings.HasPrefix(text, "Benchmark") {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 2 {
			continue // "BenchmarkX" alone: a name printed before a sub-benchmark's output
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue // a log line that happens to start with "Benchmark"
		}
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("line %d: benchmark %s: odd number of value/unit fields", line, f[0])
		}
		res := Result{Pkg: pkg, Name: procsSuffix.ReplaceAllString(f[0], ""), Iters: iters}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: benchmark %s: value %q: %v", line, f[0], f[i], err)
			}
			res.Metrics = append(res.Metrics, Metric{Value: v, Unit: f[i+1]})
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}
