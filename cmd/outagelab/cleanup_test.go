package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Without a reachable Docker engine, cleanup still sweeps the local
// leftovers, warns that Docker was skipped, and exits 0.
func TestCleanupWithoutDockerExitsZero(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("OUTAGELAB_STATE_DIR", t.TempDir())
	// A local run dir whose owner is dead: what a kill -9 leaves.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("true(1): %v", err)
	}
	left := filepath.Join(tmp, "outagelab-killedrun-x")
	if err := os.MkdirAll(left, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "owner.pid"), []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errb)
	rootCmd.SetArgs([]string{"cleanup"})
	defer func() { rootCmd.SetArgs(nil); rootCmd.SetOut(nil); rootCmd.SetErr(nil) }()
	err := rootCmd.ExecuteContext(context.Background())
	if code := exitCode(err); code != 0 {
		t.Fatalf("cleanup without Docker: exit %d (%v), want 0\nstdout: %s\nstderr: %s", code, err, out.String(), errb.String())
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("the dead run's dir %s was not removed (%v)", left, err)
	}
	if !strings.Contains(out.String(), "removed local run dir "+left) {
		t.Errorf("stdout does not report the removal:\n%s", out.String())
	}
	if w := errb.String(); !strings.Contains(w, "warning: Docker is not reachable") || !strings.Contains(w, "/nonexistent.sock") {
		t.Errorf("stderr lacks the Docker warning naming DOCKER_HOST:\n%s", w)
	}
}
