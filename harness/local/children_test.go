package local

import (
	"context"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/procs"
	"github.com/outagelab/outagelab/internal/testenv"
)

// A process group's tree holds a child that left the group (postgres's
// children call setsid), and waitTreeGone sees it gone after a kill.
func TestTreeAndWaitTreeGone(t *testing.T) {
	leader := exec.Command("sleep", "30")
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	testenv.Need(t, "sleep(1)", leader.Start())
	ldone := make(chan struct{})
	go func() { leader.Wait(); close(ldone) }()
	pgid := leader.Process.Pid
	// A grandchild in its own session, child of a member of the group.
	sh := exec.Command("sh", "-c", "setsid sleep 30 & echo $!; wait")
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	testenv.Need(t, "sh(1)", sh.Start())
	go sh.Wait()
	var gc int
	buf := make([]byte, 32)
	n, _ := out.Read(buf)
	for _, c := range buf[:n] {
		if c >= '0' && c <= '9' {
			gc = gc*10 + int(c-'0')
		}
	}
	var tree []int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if tree = procs.PIDs(procs.Tree(pgid)); slices.Contains(tree, gc) {
			break
		}
	}
	if !slices.Contains(tree, pgid) || !slices.Contains(tree, sh.Process.Pid) || !slices.Contains(tree, gc) {
		t.Fatalf("Tree(%d) = %v, want leader %d, sh %d and setsid grandchild %d", pgid, tree, pgid, sh.Process.Pid, gc)
	}
	before := procs.Tree(pgid)               // as stopLocked does: listed before the signal
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // misses the grandchild: waitTreeGone kills it
	at, err := waitTreeGone(context.Background(), pgid, before)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(at) > effectTimeout+time.Second {
		t.Errorf("observed at %v, too long ago", at)
	}
	if s, err := procs.ReadStat(gc); err == nil && !s.Gone() {
		t.Errorf("grandchild %d still running (state %c) after waitTreeGone", gc, s.State)
	}
	<-ldone
}
