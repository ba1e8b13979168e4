package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/outagelab/outagelab/reports/result"
)

// runCLI runs the root command with args and returns stdout and the exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	// cobra keeps flag values between Execute calls: start from the defaults.
	for _, c := range reportCmd.Commands() {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				sv.Replace(strings.Split(strings.Trim(f.DefValue, "[]"), ","))
			} else {
				f.Value.Set(f.DefValue)
			}
			f.Changed = false
		})
	}
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	rootCmd.SetArgs(nil)
	return out.String(), exitCode(err)
}

func writeResults(t *testing.T) (fragile, hardened string) {
	t.Helper()
	dir := t.TempDir()
	f, err := result.Synthetic(result.SyntheticOptions{Seed: 7}).Write(filepath.Join(dir, "fragile"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := result.Synthetic(result.SyntheticOptions{Seed: 7, Policy: "hardened"}).Write(filepath.Join(dir, "hardened"))
	if err != nil {
		t.Fatal(err)
	}
	return f, h
}

func TestReportRender(t *testing.T) {
	fragile, _ := writeResults(t)
	out := filepath.Join(t.TempDir(), "report")
	stdout, code := runCLI(t, "report", "render", fragile, "--format", "html,md,junit", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{"report.html", "summary.md", "junit.xml"} {
		if !strings.Contains(stdout, filepath.Join(out, f)) {
			t.Errorf("stdout does not list %s: %q", f, stdout)
		}
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestReportRenderBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"not":"a result"}`), 0o644)
	fragile, _ := writeResults(t)
	for name, args := range map[string][]string{
		"missing":     {"report", "render", filepath.Join(dir, "nope.json")},
		"not result":  {"report", "render", bad},
		"bad format":  {"report", "render", fragile, "--format", "pdf", "--out", dir},
		"no argument": {"report", "render"},
	} {
		if _, code := runCLI(t, args...); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
}

func TestReportDiffExitCodes(t *testing.T) {
	fragile, hardened := writeResults(t)
	if _, code := runCLI(t, "report", "diff", fragile, fragile); code != 0 {
		t.Errorf("same run: exit %d, want 0", code)
	}
	md, code := runCLI(t, "report", "diff", hardened, fragile, "--max-regression", "5%")
	if code != 1 {
		t.Errorf("hardened → fragile: exit %d, want 1", code)
	}
	if !strings.Contains(md, "### Regressions") {
		t.Errorf("diff output lacks regressions:\n%s", md)
	}
	out := t.TempDir()
	if _, code := runCLI(t, "report", "diff", hardened, fragile, "--format", "html", "--out", out); code != 1 {
		t.Errorf("html diff: exit %d", code)
	}
	if b, err := os.ReadFile(filepath.Join(out, "diff.html")); err != nil || !strings.Contains(string(b), "REGRESSED") {
		t.Errorf("diff.html: %v", err)
	}
	if _, code := runCLI(t, "report", "diff", hardened, fragile, "--max-regression", "lots"); code != 2 {
		t.Errorf("bad threshold: exit %d, want 2", code)
	}
	if _, code := runCLI(t, "report", "diff", hardened, fragile, "--format", "pdf"); code != 2 {
		t.Errorf("bad format: exit %d, want 2", code)
	}
}
