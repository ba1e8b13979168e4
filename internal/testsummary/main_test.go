package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/outagelab/outagelab/internal/testenv"
)

// fixture is a module whose tests pass, fail, skip (with a reason), have
// subtests, and one package whose test binary dies mid-test.
var fixture = map[string]string{
	"go.mod": "module fixture\n\ngo 1.22\n",
	"a/a_test.go": `package a

import "testing"

func TestPass(t *testing.T) {}
func TestFail(t *testing.T) { t.Log("the evidence"); t.Fatal("boom") }
func TestSkip(t *testing.T) { t.Skip("needs a unicorn") }
func TestSub(t *testing.T) {
	t.Run("one", func(t *testing.T) {})
	t.Run("two", func(t *testing.T) {})
}
`,
	"b/b_test.go": `package b

import (
	"os"
	"testing"
)

func TestOK(t *testing.T) {}
func TestDies(t *testing.T) { os.Exit(3) }
`,
	"c/c_test.go": `package c

import "testing"

func TestOK(t *testing.T) {}
`,
}

func writeFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range fixture {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTallyOfRealGoTest(t *testing.T) {
	goBin := testenv.NeedTool(t, "go")
	dir := writeFixture(t)
	cmd := exec.Command(goBin, "test", "-json", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "CGO_ENABLED=0")
	stream, err := cmd.Output()
	if err == nil {
		t.Fatal("go test of the fixture passed; it has a failing test")
	}
	var human bytes.Buffer
	tl := NewTally(&human)
	if err := tl.Read(bytes.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	st := tl.Stage("unit")
	// passed: a.TestPass, a.TestSub, its two subtests, b.TestOK, c.TestOK
	if st.Passed != 6 || st.Failed != 2 || st.Skipped != 1 {
		t.Errorf("passed %d failed %d skipped %d, want 6 2 1\n%s", st.Passed, st.Failed, st.Skipped, human.String())
	}
	if len(st.Skips) != 1 || st.Skips[0].Test != "fixture/a.TestSkip" || !strings.Contains(st.Skips[0].Reason, "needs a unicorn") {
		t.Errorf("skips %+v", st.Skips)
	}
	if slices.Sort(st.FailedTest); strings.Join(st.FailedTest, ",") != "fixture/a.TestFail,fixture/b.TestDies (did not finish)" {
		t.Errorf("failed tests %q", st.FailedTest)
	}
	if len(st.FailedPkgs) != 2 || st.OK() {
		t.Errorf("failed packages %q, OK %v", st.FailedPkgs, st.OK())
	}
	out := human.String()
	for _, want := range []string{"the evidence", "boom", "ok  \tfixture/c", "--- FAIL: fixture/b.TestDies (did not finish"} {
		if !strings.Contains(out, want) {
			t.Errorf("human output lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"=== RUN", "--- PASS"} {
		if strings.Contains(out, not) {
			t.Errorf("human output has %q (go test without -v would not):\n%s", not, out)
		}
	}
}

func TestRunRecordAndReport(t *testing.T) {
	goBin := testenv.NeedTool(t, "go")
	dir := writeFixture(t)
	tally := filepath.Join(t.TempDir(), "tally.json")
	t.Setenv("GOFLAGS", "")
	if code := run(tally, "good", []string{goBin, "-C", dir, "test", "-json", "-count=1", "./c/"}); code != 0 {
		t.Fatalf("passing stage: exit %d", code)
	}
	if err := appendTally(tally, Stage{Name: "Docker e2e: no engine", NotRun: true}); err != nil {
		t.Fatal(err)
	}
	stages, err := readTally(tally)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if !writeReport(&out, stages) {
		t.Errorf("report of a passing stage says failed:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; last != "1 passed, 0 failed, 0 skipped" {
		t.Errorf("last line %q", last)
	}
	if !strings.Contains(out.String(), "NOT RUN: Docker e2e: no engine") {
		t.Errorf("suite not run not named:\n%s", out.String())
	}

	if code := run(tally, "bad", []string{goBin, "-C", dir, "test", "-json", "-count=1", "./a/"}); code != 1 {
		t.Fatalf("failing stage: exit %d, want 1", code)
	}
	stages, _ = readTally(tally)
	out.Reset()
	if writeReport(&out, stages) {
		t.Errorf("report with a failed stage says passed:\n%s", out.String())
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; last != "5 passed, 1 failed, 1 skipped" {
		t.Errorf("last line %q\n%s", last, out.String())
	}
	for _, want := range []string{"fixture/a.TestSkip: ", "needs a unicorn", "FAILED (bad):", "fixture/a.TestFail", "7 tests ran (good 1, bad 6)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	// A command that fails without any test failing still fails the stage.
	if code := run(tally, "nothing", []string{"false"}); code != 1 {
		t.Errorf("`false`: exit %d, want 1", code)
	}
}
