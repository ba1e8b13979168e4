//go:build e2e

// Package scripts_test proves scripts/setup.sh on a clean Debian: a
// container from a fresh `debootstrap --variant=minbase` root filesystem.
//
//	go test -tags e2e -count=1 -v ./scripts/     (root, Docker, debootstrap)
package scripts_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/internal/testenv"
)

const scriptInImage = "/opt/outagelab/setup.sh"

// TestSetupScriptOnCleanDebian runs setup.sh in a minimal Debian bookworm
// (no postgres, no redis, no debootstrap): as a non-root user it must name
// the apt-get command and exit 2; as root it must install postgresql-15,
// redis-server and debootstrap from the mirror of this machine's apt
// sources (over Docker's default bridge network), and a second run must be
// silent.
func TestSetupScriptOnCleanDebian(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Need(t, "root (debootstrap)", errors.New("not running as root"))
	}
	testenv.NeedTool(t, "debootstrap")
	c, err := images.NewClient()
	if err == nil {
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.Ping(pctx, client.PingOptions{})
		cancel()
	}
	testenv.Need(t, "a Docker engine", err)
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	mirror, err := images.Mirror(images.DebianSuite)
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("setup.sh")
	if err != nil {
		t.Fatal(err)
	}

	// The clean Debian, with the script and nothing else added.
	dir, err := os.MkdirTemp("", "outagelab-setup-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := images.Debootstrap(ctx, dir, images.DebianSuite, mirror); err != nil {
		t.Fatalf("debootstrap from %s: %v", mirror, err)
	}
	t.Logf("debootstrap --variant=minbase %s from %s: %v", images.DebianSuite, mirror, time.Since(start).Round(time.Second))
	for _, p := range []string{"/usr/lib/postgresql/15/bin/postgres", "/usr/bin/redis-server", "/usr/sbin/debootstrap"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Fatalf("%s is in the minbase root filesystem already: the test would prove nothing", p)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(scriptInImage)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, scriptInImage), script, 0o755); err != nil {
		t.Fatal(err)
	}

	ref := "outagelab/setup-e2e:" + randHex(6)
	if err := images.ImportRootfs(ctx, c, dir, ref, "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer rcancel()
		if _, err := c.ImageRemove(rctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v (docker rmi -f %s)", ref, err, ref)
		}
	}()
	os.RemoveAll(dir) // in the image now

	// Default bridge network: the container reaches the mirror as the host's apt does.
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: ref, Cmd: []string{"sleep", "infinity"}, Labels: map[string]string{"org.outagelab.test": "setup-e2e"}},
		HostConfig: &container.HostConfig{NetworkMode: "bridge"},
		Name:       "outagelab-setup-e2e-" + randHex(4),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer rcancel()
		if _, err := c.ContainerRemove(rctx, created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Errorf("remove container %s: %v (docker rm -f %s)", created.ID, err, created.ID)
		}
	}()
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	run := func(limit time.Duration, env []string, cmd ...string) (int, string) {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, limit)
		defer rcancel()
		code, out, err := execIn(rctx, c, created.ID, env, cmd)
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
		}
		return code, out
	}
	docker := []string{"OUTAGELAB_SETUP_DOCKER=1"} // the image's debootstrap is needed where Docker answers

	// Not root: nothing installed, the command to run printed, exit 2.
	code, out := run(time.Minute, docker, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", scriptInImage, "run")
	want := "apt-get install -y --no-install-recommends postgresql-15 redis-server debootstrap"
	if code != 2 || !strings.Contains(out, want) {
		t.Fatalf("setup.sh run as nobody: exit %d, want 2 and %q in:\n%s", code, want, out)
	}

	// Root: installs from the mirror.
	start = time.Now()
	code, out = run(10*time.Minute, docker, "bash", scriptInImage, "run")
	if code != 0 {
		t.Fatalf("setup.sh run as root: exit %d\n%s", code, tailLines(out, 40))
	}
	t.Logf("setup.sh run installed in %v:\n%s", time.Since(start).Round(time.Second), tailLines(out, 3))
	code, out = run(time.Minute, nil, "sh", "-c", "set -e; test -x /usr/lib/postgresql/15/bin/postgres; /usr/lib/postgresql/15/bin/postgres --version; "+
		"command -v redis-server; redis-server --version; command -v debootstrap; debootstrap --version")
	if code != 0 {
		t.Fatalf("after setup.sh: postgres, redis-server or debootstrap missing (exit %d):\n%s", code, out)
	}
	t.Logf("installed:\n%s", out)

	// Everything there: silent, exit 0, no apt-get.
	code, out = run(time.Minute, docker, "bash", scriptInImage, "run")
	if code != 0 || out != "" {
		t.Fatalf("second setup.sh run: exit %d, output %q; want 0 and nothing", code, out)
	}
	// Bad usage is refused.
	if code, out = run(time.Minute, nil, "bash", scriptInImage, "deploy"); code != 64 {
		t.Fatalf("setup.sh deploy: exit %d, want 64\n%s", code, out)
	}
}

// execIn runs cmd in the container and returns its exit code and combined
// output.
func execIn(ctx context.Context, c *client.Client, id string, env, cmd []string) (int, string, error) {
	ex, err := c.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, Env: env, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return 0, "", fmt.Errorf("exec create: %w", err)
	}
	att, err := c.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return 0, "", fmt.Errorf("exec attach: %w", err)
	}
	defer att.Close()
	var out bytes.Buffer
	copied := make(chan error, 1)
	go func() { _, err := stdcopy.StdCopy(&out, &out, att.Reader); copied <- err }()
	select {
	case err = <-copied:
	case <-ctx.Done():
		att.Close()
		<-copied
		return 0, out.String(), fmt.Errorf("did not finish: %w", ctx.Err())
	}
	if err != nil {
		return 0, out.String(), fmt.Errorf("exec output: %w", err)
	}
	for {
		st, err := c.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			return 0, out.String(), fmt.Errorf("exec inspect: %w", err)
		}
		if !st.Running {
			return st.ExitCode, out.String(), nil
		}
		select {
		case <-ctx.Done():
			return 0, out.String(), ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
