package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/outagelab/outagelab/bench
cpu: Intel(R) Xeon(R) Processor
BenchmarkScaleUp/runtime=local/regions=2-2         	       1	 877175035 ns/op	        17.00 components	        21.25 harness-RSS-MB	         2.5 s-to-healthy
BenchmarkRequestPath-2   	    3000	    531038 ns/op	       143.3 direct-us	        27.29 harness-overhead-us
BenchmarkRunMemory/component=postgres-us-east-1-2 	1	273.0 ns/op	55 peak-RSS-MB
BenchmarkRunMemory/component=gateway-us-east-1-2 	1	273.0 ns/op	41 peak-RSS-MB
BenchmarkStartup says hello
PASS
ok  	github.com/outagelab/outagelab/bench	8.280s
pkg: github.com/outagelab/outagelab/harness/docker
BenchmarkStorefrontUp-2   	1	8500000000 ns/op	  12 B/op	1 allocs/op
`

func TestParse(t *testing.T) {
	rs, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 {
		t.Fatalf("%d results: %+v", len(rs), rs)
	}
	r := rs[0]
	if r.Name != "BenchmarkScaleUp/runtime=local/regions=2" || r.Short() != "ScaleUp/runtime=local/regions=2" || r.Top() != "BenchmarkScaleUp" ||
		r.Iters != 1 || r.Pkg != "github.com/outagelab/outagelab/bench" {
		t.Errorf("first result %+v", r)
	}
	if v, ok := r.Metric("s-to-healthy"); !ok || v != 2.5 {
		t.Errorf("s-to-healthy = %v %v", v, ok)
	}
	if rs[4].Pkg != "github.com/outagelab/outagelab/harness/docker" {
		t.Errorf("pkg not tracked: %+v", rs[4])
	}
	for _, bad := range []string{
		"BenchmarkX-2 1 12 ns/op 5\n",
		"BenchmarkX-2 1 twelve ns/op\n",
	} {
		if _, err := Parse(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("Parse(%q) = %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkX-2 1 1 ns/op\n")
	f.Add("pkg: p\nBenchmark 1 2\n")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, r := range rs {
			if !strings.HasPrefix(r.Name, "Benchmark") {
				t.Errorf("result %q is not a benchmark", r.Name)
			}
			_ = Figures(Runs[0], []Result{r})
		}
	})
}

func TestFigures(t *testing.T) {
	rs, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	run := Run{Name: "bench-scale", Pkg: "./bench", Bench: "^Benchmark(ScaleUp|X)$", Benchtime: "1x"}
	figs := Figures(run, rs)
	byName := map[string]Figure{}
	for _, f := range figs {
		byName[f.Name+" "+f.Unit] = f
		if f.Unit == "ns/op" && f.Name != "StorefrontUp" {
			t.Errorf("housekeeping ns/op kept for %s", f.Name)
		}
	}
	up := byName["ScaleUp/runtime=local/regions=2 s-to-healthy"]
	if up.Budget == nil || up.Pass || up.Line() != "ScaleUp/runtime=local/regions=2 2.5 s-to-healthy" {
		t.Errorf("2.5 s local up against ≤ 2 s: %+v", up)
	}
	if !strings.Contains(up.Command, "-bench '^BenchmarkScaleUp$'") || !strings.HasSuffix(up.Command, " ./bench") {
		t.Errorf("command %q", up.Command)
	}
	if f := byName["ScaleUp/runtime=local/regions=2 harness-RSS-MB"]; f.Budget == nil || !f.Pass {
		t.Errorf("harness RSS 21 MB < 200: %+v", f)
	}
	if f := byName["RequestPath harness-overhead-us"]; f.Budget == nil || !f.Pass {
		t.Errorf("overhead: %+v", f)
	}
	if f := byName["RunMemory/component=postgres-us-east-1 peak-RSS-MB"]; f.Budget != nil {
		t.Errorf("postgres judged against the storefront service budget: %+v", f)
	}
	if f := byName["RunMemory/component=gateway-us-east-1 peak-RSS-MB"]; f.Budget == nil || f.Pass {
		t.Errorf("gateway 41 MB against < 40: %+v", f)
	}
	if f := byName["StorefrontUp s"]; f.Budget == nil || !f.Pass || f.Value != 8.5 {
		t.Errorf("docker up 8.5 s: %+v", f)
	}
	if _, ok := byName["StorefrontUp B/op"]; !ok {
		t.Error("B/op of a benchmark without figures of its own dropped")
	}
}

func TestRunParseOnly(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "bench-scale.txt"), []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "B.md")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-parse-only", "-out", out, "-md", md, "-only", "bench-scale"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ScaleUp/runtime=local/regions=2 2.5 s-to-healthy\n") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Load average", "| `ScaleUp/runtime=local/regions=2` | 2.5 | s-to-healthy | <= 2 s-to-healthy", "**miss**", "\\|"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, b)
		}
	}
	for _, bad := range [][]string{{"-only", "nothing-*"}, {"extra"}, {"-only", "["}} {
		if err := run(append([]string{"-parse-only", "-out", out, "-md", md}, bad...), &stdout, &stderr); err == nil {
			t.Errorf("run %q accepted", bad)
		}
	}
}

func TestRunsAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Runs {
		if seen[r.Name] {
			t.Errorf("run %s twice", r.Name)
		}
		seen[r.Name] = true
		if !strings.HasPrefix(r.Pkg, "./") || r.Bench == "" || r.Why == "" {
			t.Errorf("run %+v incomplete", r)
		}
		if _, err := os.Stat(filepath.Join("..", "..", "..", r.Pkg)); err != nil {
			t.Errorf("run %s: package %s: %v", r.Name, r.Pkg, err)
		}
	}
}
