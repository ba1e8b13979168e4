package local

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// childrenOf finds a child of ours even in another session (postgres's
// children call setsid), and waitPidsGone sees it gone after a kill.
func TestChildrenOfAndWaitPidsGone(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep binary: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	kids := childrenOf(os.Getpid())
	if !slices.Contains(kids, cmd.Process.Pid) {
		t.Fatalf("childrenOf(%d) = %v, missing %d", os.Getpid(), kids, cmd.Process.Pid)
	}
	if st, ppid, ok := procState(cmd.Process.Pid); !ok || ppid != os.Getpid() || st == 'Z' {
		t.Fatalf("procState = %c %d %v", st, ppid, ok)
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	waitPidsGone([]int{cmd.Process.Pid}, 10*time.Second)
	if st, _, ok := procState(cmd.Process.Pid); ok && st != 'Z' && st != 'X' {
		t.Fatalf("process still running (state %c) after waitPidsGone", st)
	}
	<-done
}
