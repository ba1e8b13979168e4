//go:build e2e

package images_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/outagelab/outagelab/harness/docker"
	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/internal/testenv"
)

func dockerOrSkip(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := images.NewClient()
	if err == nil {
		_, err = c.Ping(ctx, pingOpts)
		c.Close()
	}
	testenv.Need(t, "a Docker engine", err)
}

// TestEnsure builds (or finds) every image, then checks that a second call
// reuses them all and that each image runs.
func TestEnsure(t *testing.T) {
	dockerOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var log strings.Builder
	start := time.Now()
	set, err := images.Ensure(ctx, images.Options{Log: &log})
	t.Logf("first Ensure took %s:\n%s", time.Since(start).Round(time.Millisecond), log.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range set.All() {
		if im.Ref == "" || im.Port == 0 {
			t.Errorf("%s: incomplete image %+v", im.Name, im)
		}
	}
	if !strings.HasPrefix(set.Storefront.Ref, images.StorefrontRepo+":") {
		t.Errorf("storefront ref %q", set.Storefront.Ref)
	}
	if set.Toxiproxy.Ref != images.ToxiproxyRepo+":"+images.ToxiproxyVersion {
		t.Errorf("toxiproxy ref %q", set.Toxiproxy.Ref)
	}

	log.Reset()
	again, err := images.Ensure(ctx, images.Options{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range again.All() {
		if im.Source == "built" || im.Source == "imported" {
			t.Errorf("second Ensure rebuilt %s (%s)", im.Name, im.Source)
		}
	}
	if again.Storefront.Ref != set.Storefront.Ref {
		t.Errorf("storefront ref changed without a binary change: %s → %s", set.Storefront.Ref, again.Storefront.Ref)
	}

	// Each Go image runs (no shell inside: the binary is the entrypoint).
	out, err := exec.CommandContext(ctx, "docker", "run", "--rm", set.Toxiproxy.Ref, "-version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), images.ToxiproxyVersion) {
		t.Errorf("toxiproxy image -version: %v: %s", err, out)
	}
}

// TestScratchRebuildOnChange: a changed binary gives a new tag, an unchanged
// one reuses the image.
func TestScratchRebuildOnChange(t *testing.T) {
	dockerOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "standin")
	build := func(msg string) {
		src := filepath.Join(dir, "main.go")
		os.WriteFile(src, []byte("package main\nfunc main() { println(\""+msg+"\") }\n"), 0o644)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build stand-in: %v: %s", err, out)
		}
	}
	tpBin := filepath.Join(dir, "tp")
	build("toxiproxy stand-in")
	os.Rename(bin, tpBin)

	build("one")
	opts := images.Options{StorefrontBinary: bin, ToxiproxyBinary: tpBin, SkipDatastores: true, RepoPrefix: "outagelab-test/"}
	a, err := images.Ensure(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := images.Ensure(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a.Storefront.Ref != b.Storefront.Ref || b.Storefront.Source != "present" {
		t.Errorf("unchanged binary: %+v then %+v", a.Storefront, b.Storefront)
	}
	build("two")
	c, err := images.Ensure(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Storefront.Ref == a.Storefront.Ref || c.Storefront.Source != "built" {
		t.Errorf("changed binary: %+v then %+v", a.Storefront, c.Storefront)
	}
	out, err := exec.CommandContext(ctx, "docker", "run", "--rm", c.Storefront.Ref).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "two") {
		t.Errorf("run rebuilt image: %v: %s", err, out)
	}
	for _, ref := range []string{a.Storefront.Ref, c.Storefront.Ref} {
		exec.Command("docker", "rmi", ref).Run()
	}
	exec.Command("docker", "rmi", a.Toxiproxy.Ref).Run()
}

// TestDatastoresRun starts the datastore images the way the docker runtime
// does and checks postgres and redis answer.
func TestDatastoresRun(t *testing.T) {
	dockerOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var set images.Set
	var err error
	var log strings.Builder
	start := time.Now()
	set.Postgres, set.Redis, err = images.EnsureDatastores(ctx, images.Options{Log: &log})
	t.Logf("datastore images resolved in %s:\n%s", time.Since(start).Round(time.Millisecond), log.String())
	if err != nil {
		t.Fatal(err)
	}

	run := func(im images.Image, name string) {
		// Labelled as a run's containers are (owner process, creation time):
		// a sweep from a test running beside this one (every bring-up
		// sweeps dead owners' objects) leaves it alone while this test
		// lives; a killed test leaves only debris the next sweep takes.
		args := []string{"run", "-d", "--name", name, "--label", docker.LabelRun + "=images-test",
			"--label", docker.LabelOwner + "=" + docker.Owner(),
			"--label", docker.LabelCreated + "=" + time.Now().UTC().Format(time.RFC3339)}
		if im.User != "" {
			args = append(args, "--user", im.User)
		}
		for k, v := range im.Env {
			args = append(args, "-e", k+"="+v)
		}
		if len(im.Entrypoint) > 0 {
			args = append(args, "--entrypoint", im.Entrypoint[0])
		}
		args = append(args, im.Ref)
		if len(im.Entrypoint) > 1 {
			args = append(args, im.Entrypoint[1:]...)
		}
		args = append(args, im.Cmd...)
		if out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v: %s", args, err, out)
		}
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
		deadline := time.Now().Add(60 * time.Second)
		for {
			out, _ := exec.Command("docker", "logs", name).CombinedOutput()
			if strings.Count(string(out), im.ReadyLog) >= im.ReadyOccurrence {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready: %s", name, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	run(set.Postgres, "outagelab-images-test-pg")
	run(set.Redis, "outagelab-images-test-redis")
	if out, err := exec.CommandContext(ctx, "docker", "exec", "outagelab-images-test-redis", "redis-cli", "ping").CombinedOutput(); err != nil || !strings.Contains(string(out), "PONG") {
		t.Errorf("redis ping: %v: %s", err, out)
	}
	psql := []string{"exec", "outagelab-images-test-pg", "psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "select 40+2"}
	if set.Postgres.Ref == images.DatastoresRef {
		psql = []string{"exec", "outagelab-images-test-pg", "/usr/lib/postgresql/15/bin/psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "select 40+2"}
	}
	if out, err := exec.CommandContext(ctx, "docker", psql...).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Errorf("psql: %v: %s", err, out)
	}
}

var pingOpts = client.PingOptions{}
