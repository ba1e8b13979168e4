//go:build e2e

package docker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/docker"
	"github.com/outagelab/outagelab/harness/images"
)

const quietHelperEnv = "OUTAGELAB_E2E_QUIET_HELPER"

// tcMarkers are what testcontainers-go's own lines look like: its
// lifecycle emoji and the banner of its first Docker client.
var tcMarkers = []string{"🐳", "✅", "⏳", "🔔", "Testcontainers", "Connected to docker", "Creating container", "Container started"}

// A docker bring-up and teardown prints nothing of testcontainers-go's to
// stdout or stderr: its lines (banner included) go to the run's logger.
// The bring-up runs in a fresh process, so the once-per-process banner is
// printed there, with the package's default logging (no test override).
func TestNoTestcontainersLinesOnTheTerminal(t *testing.T) {
	needDocker(t)
	set := toxiproxyImages(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	logFile := filepath.Join(t.TempDir(), "run.log")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), quietHelperEnv+"="+logFile, "HELPER_IMAGE="+set.Toxiproxy.Ref)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bring-up in a child process: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		for _, m := range tcMarkers {
			if strings.Contains(out, m) {
				t.Errorf("%s of a docker bring-up holds a testcontainers line (%q):\n%s", name, m, out)
				break
			}
		}
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"source=testcontainers", "Connected to docker", "Container started"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the run log lacks %q (testcontainers' lines must go there):\n%s", want, b)
		}
	}
}

// quietHelperMain brings the echo topology up and down, logging to the file
// named by quietHelperEnv, and prints only "done".
func quietHelperMain() int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f, err := os.Create(os.Getenv(quietHelperEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer f.Close()
	log := slog.New(slog.NewTextHandler(f, nil))
	img := os.Getenv("HELPER_IMAGE")
	set := &images.Set{Toxiproxy: images.Image{Name: images.Toxiproxy, Ref: img, Port: 8474}}
	dep, err := (&docker.Runtime{Images: set}).Start(ctx, echoTopology(img),
		harness.StartOptions{RunID: fmt.Sprintf("e2e-quiet-%d", time.Now().UnixNano()), Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := dep.Teardown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("done")
	return 0
}
