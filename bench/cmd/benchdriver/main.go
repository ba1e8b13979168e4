// Command benchdriver is `make bench`: it runs every benchmark that measures
// a ARCHITECTURE.md budget (component benchmarks in their packages, the
// whole-system ones in ./bench), writes each `go test -bench` output to
// out/bench/<run>.txt (benchstat-friendly: compare two commits with
// `benchstat old/harness.txt new/harness.txt`), then parses them into
// BENCHMARKS.md — one table of `name value unit` figures with the budget,
// pass/miss and the command that reproduces each — and prints the figures
// as `name value unit` lines.
//
//	go run ./bench/cmd/benchdriver                 # run everything, write BENCHMARKS.md
//	go run ./bench/cmd/benchdriver -parse-only     # rebuild BENCHMARKS.md from out/bench
//	go run ./bench/cmd/benchdriver -only 'bench-*' # a subset of runs (glob on run names)
//
// Docker runs (-tags e2e) happen only when a Docker engine answers.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchdriver:", err)
		os.Exit(1)
	}
}

type options struct {
	out, md, only, goBin string
	parseOnly            bool
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("benchdriver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "out/bench", "directory for the raw go test outputs (<run>.txt)")
	fs.StringVar(&o.md, "md", "BENCHMARKS.md", "the report to write")
	fs.StringVar(&o.only, "only", "*", "run only the runs whose name matches this glob (e.g. 'bench-*')")
	fs.StringVar(&o.goBin, "go", "go", "the go command")
	fs.BoolVar(&o.parseOnly, "parse-only", false, "do not run benchmarks; rebuild the report from -out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	if _, err := path.Match(o.only, ""); err != nil {
		return fmt.Errorf("-only %q: %w", o.only, err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	hdr := header{Start: time.Now(), LoadStart: loadAvg(), CPUs: runtime.NumCPU(), GoVersion: goVersion(o.goBin), Commit: gitCommit()}
	hdr.Docker = dockerAnswers()
	var selected []Run
	for _, r := range Runs {
		if ok, _ := path.Match(o.only, r.Name); ok {
			selected = append(selected, r)
		}
	}
	if len(selected) == 0 {
		return fmt.Errorf("-only %q matches no run (runs: %s)", o.only, runNames())
	}
	status := map[string]string{}
	var failed []string
	for _, r := range selected {
		file := filepath.Join(o.out, r.Name+".txt")
		if r.Docker && !hdr.Docker {
			status[r.Name] = "skipped: no Docker engine answers"
			if !o.parseOnly {
				_ = os.Remove(file) // no stale figures from an earlier run
			}
			continue
		}
		if o.parseOnly {
			continue
		}
		fmt.Fprintf(stderr, "== %s: %s\n", r.Name, r.Command(""))
		t0 := time.Now()
		if err := goTest(o.goBin, r, file, stderr); err != nil {
			status[r.Name] = "FAILED: " + err.Error()
			failed = append(failed, r.Name)
		} else {
			status[r.Name] = fmt.Sprintf("ok in %s", time.Since(t0).Round(time.Second))
		}
	}
	hdr.End, hdr.LoadEnd = time.Now(), loadAvg()

	var figs []Figure
	for _, r := range selected {
		if strings.HasPrefix(status[r.Name], "skipped") {
			continue
		}
		f, err := os.Open(filepath.Join(o.out, r.Name+".txt"))
		if err != nil {
			if status[r.Name] == "" {
				status[r.Name] = "no output: " + err.Error()
			}
			continue
		}
		results, err := Parse(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("parse %s: %w", f.Name(), err)
		}
		if len(results) == 0 && !strings.HasPrefix(status[r.Name], "FAILED") {
			status[r.Name] = "no benchmark ran (skipped: see " + f.Name() + ")"
		}
		figs = append(figs, Figures(r, results)...)
	}
	for _, f := range figs {
		fmt.Fprintln(stdout, f.Line())
	}
	md := Markdown(hdr, selected, status, figs)
	if err := os.WriteFile(o.md, md, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (%d figures)\n", o.md, len(figs))
	if len(failed) > 0 {
		return fmt.Errorf("runs failed: %s (see %s)", strings.Join(failed, ", "), o.out)
	}
	return nil
}

func runNames() string {
	var n []string
	for _, r := range Runs {
		n = append(n, r.Name)
	}
	return strings.Join(n, ", ")
}

// goTest runs one go test -bench, its stdout into file (and echoed), its
// stderr echoed.
func goTest(goBin string, r Run, file string, stderr io.Writer) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(goBin, r.Args("")...)
	cmd.Stdout = io.MultiWriter(f, stderr)
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(), "TESTCONTAINERS_RYUK_DISABLED=true", "TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test %s: %w", r.Pkg, err)
	}
	return nil
}

// dockerAnswers probes the engine as the Makefile does: `docker info` within 5 s.
func dockerAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info").Run() == nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func goVersion(goBin string) string {
	out, err := exec.Command(goBin, "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

// gitCommit reads HEAD without touching git state; "" when unknown.
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		s += " (with uncommitted changes)"
	}
	return s
}
