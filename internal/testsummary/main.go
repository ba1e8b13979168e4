// Command testsummary runs `go test -json` for a make target, prints what a
// plain `go test` would (package lines, the output of failed tests), and
// keeps a tally so the target can end by saying what ran:
//
//	testsummary -tally FILE -stage NAME -- go test -json ARGS...   run and record a stage
//	testsummary -tally FILE -not-run "SUITE: why"                   record a suite that could not run
//	testsummary -tally FILE -report                                 print the totals, skips, suites not run
//
// The report ends with one line of the form "N passed, N failed, N skipped"
// (CI reads it). Tests are counted with their subtests. Run mode exits 1
// when the command failed or a test failed; report mode exits 1 when any
// recorded stage failed.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

func main() {
	tally := flag.String("tally", "", "file the stages append their counts to (JSON lines)")
	stage := flag.String("stage", "tests", "name of the stage being run")
	notRun := flag.String("not-run", "", "record a suite that could not run, with why")
	report := flag.Bool("report", false, "print the totals of every recorded stage")
	flag.Parse()
	if *tally == "" {
		fatalUsage("-tally is required")
	}
	switch {
	case *report:
		stages, err := readTally(*tally)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
			os.Exit(2)
		}
		if !writeReport(os.Stdout, stages) {
			os.Exit(1)
		}
	case *notRun != "":
		if err := appendTally(*tally, Stage{Name: *notRun, NotRun: true}); err != nil {
			fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
			os.Exit(2)
		}
	default:
		if flag.NArg() == 0 {
			fatalUsage("no command to run after --")
		}
		os.Exit(run(*tally, *stage, flag.Args()))
	}
}

func fatalUsage(msg string) {
	fmt.Fprintf(os.Stderr, "testsummary: %s\nusage: testsummary -tally FILE [-stage NAME] -- go test -json ARGS... | -not-run WHY | -report\n", msg)
	os.Exit(2)
}

// run runs the command, tees its event stream through a Tally and records
// the stage. The command's stderr goes straight through.
func run(tallyPath, stage string, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: run %s: %v\n", strings.Join(args, " "), err)
		return 2
	}
	t := NewTally(os.Stdout)
	readErr := t.Read(out)
	waitErr := cmd.Wait()
	st := t.Stage(stage)
	if waitErr != nil {
		st.Error = fmt.Sprintf("%s: %v", strings.Join(args, " "), waitErr)
	} else if readErr != nil {
		st.Error = fmt.Sprintf("reading its output: %v", readErr)
	}
	if err := appendTally(tallyPath, st); err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		return 2
	}
	if !st.OK() {
		return 1
	}
	return 0
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output events
}

// Skip is one skipped test and why.
type Skip struct {
	Test   string `json:"test"`
	Reason string `json:"reason"`
}

// Stage is what one `go test` run (or a suite that could not run) adds to
// the tally.
type Stage struct {
	Name       string   `json:"name"`
	NotRun     bool     `json:"not_run,omitempty"`
	Passed     int      `json:"passed"`
	Failed     int      `json:"failed"`
	Skipped    int      `json:"skipped"`
	FailedPkgs []string `json:"failed_packages,omitempty"`
	FailedTest []string `json:"failed_tests,omitempty"`
	Skips      []Skip   `json:"skips,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// OK reports whether the stage passed: no failed test or package, and the
// command exited 0.
func (s Stage) OK() bool {
	return s.Failed == 0 && len(s.FailedPkgs) == 0 && s.Error == ""
}

// Tally reads a `go test -json` stream, writes what a plain `go test`
// would print, and counts.
type Tally struct {
	w          io.Writer
	buf        map[string][]string // output of a running test, by package+test
	running    map[string]bool
	passed     int
	failed     int
	skipped    int
	failedPkgs []string
	failedTest []string
	skips      []Skip
}

// NewTally writes the human output to w.
func NewTally(w io.Writer) *Tally {
	return &Tally{w: w, buf: map[string][]string{}, running: map[string]bool{}}
}

// Read consumes the stream until EOF.
func (t *Tally) Read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		t.line(sc.Bytes())
	}
	return sc.Err()
}

func (t *Tally) line(b []byte) {
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil || e.Action == "" {
		fmt.Fprintf(t.w, "%s\n", b) // not an event: pass it through
		return
	}
	key := e.Package + "\x00" + e.Test
	switch {
	case e.Action == "build-output":
		fmt.Fprint(t.w, e.Output)
	case e.Action == "build-fail":
		t.failedPkgs = append(t.failedPkgs, e.ImportPath+" (build failed)")
	case e.Test == "":
		switch e.Action {
		case "output":
			if s := strings.TrimSpace(e.Output); s != "PASS" && s != "FAIL" && !strings.HasPrefix(s, "=== ") {
				fmt.Fprint(t.w, e.Output)
			}
		case "fail":
			t.failedPkgs = append(t.failedPkgs, e.Package)
			t.flushUnfinished(e.Package)
		case "pass", "skip":
			t.flushUnfinished(e.Package)
		}
	default:
		switch e.Action {
		case "run":
			t.running[key] = true
		case "output":
			t.buf[key] = append(t.buf[key], e.Output)
		case "pass":
			t.passed++
			t.done(key)
		case "skip":
			t.skipped++
			t.skips = append(t.skips, Skip{Test: e.Package + "." + e.Test, Reason: skipReason(t.buf[key])})
			t.done(key)
		case "fail":
			t.failed++
			t.failedTest = append(t.failedTest, e.Package+"."+e.Test)
			t.printOutput(key)
			t.done(key)
		}
	}
}

func (t *Tally) done(key string) {
	delete(t.buf, key)
	delete(t.running, key)
}

// flushUnfinished counts tests of pkg that started and never ended (the
// test binary crashed or timed out) as failed and prints their output.
func (t *Tally) flushUnfinished(pkg string) {
	var keys []string
	for k := range t.running {
		if strings.HasPrefix(k, pkg+"\x00") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.Replace(k, "\x00", ".", 1)
		t.failed++
		t.failedTest = append(t.failedTest, name+" (did not finish)")
		t.printOutput(k)
		fmt.Fprintf(t.w, "--- FAIL: %s (did not finish: its test binary exited, panicked or timed out)\n", name)
		t.done(k)
	}
}

// printOutput prints a failed test's output as go test without -v would:
// without the "=== RUN" and similar framework lines.
func (t *Tally) printOutput(key string) {
	for _, l := range t.buf[key] {
		if !strings.HasPrefix(l, "=== ") {
			fmt.Fprint(t.w, l)
		}
	}
}

// skipReason is the test's own output without the framework's lines.
func skipReason(lines []string) string {
	var out []string
	for _, l := range lines {
		s := strings.TrimSpace(l)
		if s == "" || strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- SKIP") {
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "(no reason given)"
	}
	return strings.Join(out, " ")
}

// Stage is the tally so far as a named stage.
func (t *Tally) Stage(name string) Stage {
	for k := range t.running { // a stream cut short: the rest never finished
		t.flushUnfinished(strings.SplitN(k, "\x00", 2)[0])
	}
	return Stage{Name: name, Passed: t.passed, Failed: t.failed, Skipped: t.skipped,
		FailedPkgs: t.failedPkgs, FailedTest: t.failedTest, Skips: t.skips}
}

func appendTally(path string, s Stage) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("record stage %q: %w", s.Name, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("record stage %q: %w", s.Name, err)
	}
	return f.Close()
}

func readTally(path string) ([]Stage, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no tally at %s: no stage ran", path)
	}
	if err != nil {
		return nil, err
	}
	var out []Stage
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var s Stage
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// writeReport prints skips, failures, suites not run, then the totals; the
// last line is "N passed, N failed, N skipped". It reports whether every
// stage that ran passed.
func writeReport(w io.Writer, stages []Stage) bool {
	var passed, failed, skipped int
	ok := true
	var names []string
	ran := map[string]int{}
	fmt.Fprintln(w)
	for _, s := range stages {
		if s.NotRun {
			continue
		}
		passed += s.Passed
		failed += s.Failed
		skipped += s.Skipped
		if _, ok := ran[s.Name]; !ok {
			names = append(names, s.Name)
		}
		ran[s.Name] += s.Passed + s.Failed + s.Skipped
		if len(s.Skips) > 0 {
			fmt.Fprintf(w, "skipped (%s):\n", s.Name)
			for _, k := range s.Skips {
				fmt.Fprintf(w, "  %s: %s\n", k.Test, k.Reason)
			}
		}
		if !s.OK() {
			ok = false
			fmt.Fprintf(w, "FAILED (%s):\n", s.Name)
			for _, f := range s.FailedTest {
				fmt.Fprintf(w, "  %s\n", f)
			}
			for _, p := range s.FailedPkgs {
				fmt.Fprintf(w, "  package %s\n", p)
			}
			if s.Error != "" && len(s.FailedTest) == 0 && len(s.FailedPkgs) == 0 {
				fmt.Fprintf(w, "  %s\n", s.Error)
			}
		}
	}
	for _, s := range stages {
		if s.NotRun {
			fmt.Fprintf(w, "NOT RUN: %s\n", s.Name)
		}
	}
	var per []string
	for _, n := range names {
		per = append(per, fmt.Sprintf("%s %d", n, ran[n]))
	}
	fmt.Fprintf(w, "%d tests ran (%s)\n", passed+failed+skipped, strings.Join(per, ", "))
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	return ok
}
