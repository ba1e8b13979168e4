package procs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperProcess is not a real test: TestChildrenDieWithParent re-runs the
// test binary with PROCS_HELPER set, and this starts the servers, prints their
// pids and waits to be killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("PROCS_HELPER") != "1" {
		t.Skip("helper process for TestChildrenDieWithParent")
	}
	ctx := context.Background()
	dir := os.Getenv("PROCS_HELPER_DIR")
	r, err := StartRedis(ctx, dir+"/redis")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	pg, err := StartPostgres(ctx, dir+"/pg", WithFsync(false))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("pids", r.Pid(), pg.Pid())
	time.Sleep(time.Minute)
	os.Exit(3)
}

func TestChildrenDieWithParent(t *testing.T) {
	RequireBinaries(t)
	dir, err := os.MkdirTemp("", "procs-deathsig-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Reachable by the postgres user, so no private dir outlives the helper.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "PROCS_HELPER=1", "PROCS_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "error" {
			t.Fatal(sc.Text())
		}
		if len(f) == 3 && f[0] == "pids" {
			for _, s := range f[1:] {
				p, _ := strconv.Atoi(s)
				pids = append(pids, p)
			}
			break
		}
	}
	if len(pids) != 2 {
		t.Fatalf("helper printed no pids (scan err %v)", sc.Err())
	}
	// SIGKILL: the helper gets no chance to clean up; only Pdeathsig acts.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				syscall.Kill(-pid, syscall.SIGKILL)
				t.Fatalf("pid %d outlived its killed parent", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
