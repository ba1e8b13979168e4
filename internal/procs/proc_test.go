package procs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/testenv"
)

func TestParseStat(t *testing.T) {
	// comm may hold spaces and parentheses.
	line := "4242 (my (odd) name) T 17 4242 4242 0 -1 4194560 117 0 0 0 1 2 0 0 20 0 3 0 987654 1000 10 1844 0 0 0\n"
	s, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{PID: 4242, Comm: "my (odd) name", State: 'T', PPID: 17, PGRP: 4242, Session: 4242, StartTime: "987654"}
	if s != want {
		t.Errorf("ParseStat = %+v, want %+v", s, want)
	}
	if !s.Stopped() || s.Gone() {
		t.Errorf("state T: Stopped %v Gone %v", s.Stopped(), s.Gone())
	}
	for _, bad := range []string{"", "12 no-comm S 1", "x (a) S 1 2 3", "12 (a) S 1 2"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q): no error", bad)
		}
	}
	self, err := ReadStat(os.Getpid())
	if err != nil || self.PID != os.Getpid() || self.PPID != os.Getppid() {
		t.Errorf("ReadStat(self) = %+v, %v", self, err)
	}
	if _, err := ReadStat(1 << 30); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadStat(no such pid): %v, want ErrNotExist", err)
	}
}

// A process is seen stopped once every thread of it is in state T, and
// running again after SIGCONT; a process that never stops makes WaitStopped
// fail at the deadline, naming it; a killed one is seen gone.
func TestWaitStoppedContinuedGone(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	testenv.Need(t, "sleep(1)", cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() { cmd.Process.Kill(); <-done }()
	p, err := ReadStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	ps := []Stat{p}

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	_, err = WaitStopped(ctx, ps)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "sleep") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitStopped on a running process: %v, want a deadline error naming sleep", err)
	}

	before := time.Now()
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	at, err := WaitStopped(context.Background(), ps)
	if err != nil || at.Before(before) {
		t.Fatalf("WaitStopped after SIGSTOP: %v at %v (sent %v)", err, at, before)
	}
	ts, err := Threads(p.PID)
	if err != nil || len(ts) == 0 {
		t.Fatalf("Threads: %v %v", ts, err)
	}
	for _, th := range ts {
		if !th.Stopped() {
			t.Errorf("thread %d in state %c after WaitStopped", th.PID, th.State)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if _, err := WaitContinued(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	if s, _ := ReadStat(p.PID); s.Stopped() {
		t.Errorf("state %c after WaitContinued", s.State)
	}

	if !p.Alive() {
		t.Fatal("Alive false for a running process")
	}
	if reused := (Stat{PID: p.PID, StartTime: "1"}); reused.Alive() {
		t.Error("Alive true for a pid whose start time differs (reused pid)")
	}
	cmd.Process.Kill()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := WaitGone(ctx, ps); err != nil {
		t.Fatal(err)
	}
	if p.Alive() {
		t.Error("Alive true after WaitGone")
	}
}

func TestTree(t *testing.T) {
	sh := exec.Command("sh", "-c", "sleep 30 & sleep 30 & wait")
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	testenv.Need(t, "sh(1)", sh.Start())
	done := make(chan struct{})
	go func() { sh.Wait(); close(done) }()
	defer func() { syscall.Kill(-sh.Process.Pid, syscall.SIGKILL); <-done }()
	var tree []Stat
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if tree = Tree(sh.Process.Pid); len(tree) == 3 {
			break
		}
	}
	if len(tree) != 3 || !slices.Contains(PIDs(tree), sh.Process.Pid) {
		t.Fatalf("Tree(%d) = %+v, want sh and its two sleeps", sh.Process.Pid, tree)
	}
	if len(Tree(1<<30)) != 0 {
		t.Error("Tree of a group that does not exist is not empty")
	}
	if kids := Children(sh.Process.Pid); len(kids) != 2 {
		t.Errorf("Children(sh) = %v, want the two sleeps", kids)
	}
}
