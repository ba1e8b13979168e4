//go:build e2e

package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/procs"
	"github.com/outagelab/outagelab/reports/result"
)

// descendants lists every live process below pid (children that left its
// process group included), with their start times so a reused pid is not
// mistaken for a leftover.
func descendants(pid int) []procs.Stat {
	all, _ := procs.Processes()
	var out []procs.Stat
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, s := range all {
			if s.PPID == p && !s.Gone() {
				out = append(out, s)
				queue = append(queue, s.PID)
			}
		}
	}
	return out
}

// `outagelab run` stopped by a real SIGINT or SIGTERM in the middle of a
// phase exits 2, leaves no process of the run behind, removes its run
// directory and writes a partial result.json marked interrupted.
func TestRunInterruptedBySignal(t *testing.T) {
	if _, err := procs.LookPostgres(); err != nil {
		t.Skipf("local runtime needs postgres: %v", err)
	}
	if _, err := procs.LookRedis(); err != nil {
		t.Skipf("local runtime needs redis-server: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "outagelab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build outagelab: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			// The local runtime's run dirs go here; postgres runs as the
			// postgres user when we are root, so it must be able to enter it.
			tmp, err := os.MkdirTemp("", "outagelab-signal-test-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(tmp)
			if err := os.Chmod(tmp, 0o755); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command(bin, "run", "smoke", "--runtime", "local", "--out", out)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			lines := make(chan string, 256)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
				exited <- cmd.Wait()
			}()
			var log []string
			deadline := time.After(3 * time.Minute)
		wait:
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("outagelab ended before the phase started:\n%s", strings.Join(log, "\n"))
					}
					log = append(log, l)
					if strings.Contains(l, "phase_start:") {
						break wait
					}
				case <-deadline:
					cmd.Process.Kill()
					t.Fatalf("no phase started within 3 minutes:\n%s", strings.Join(log, "\n"))
				}
			}
			time.Sleep(2 * time.Second) // mid-phase: the fault is on
			kids := descendants(cmd.Process.Pid)
			if len(kids) < 5 {
				t.Fatalf("only %d processes below outagelab mid-run: %+v", len(kids), kids)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			go func() {
				for l := range lines {
					log = append(log, l)
				}
			}()
			var werr error
			select {
			case werr = <-exited:
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				t.Fatalf("outagelab did not exit within 2 minutes of %v", sig)
			}
			var ee *exec.ExitError
			if !errors.As(werr, &ee) || ee.ExitCode() != 2 {
				t.Errorf("exit after %v: %v, want exit code 2 (interrupted)", sig, werr)
			}
			for _, k := range kids {
				if k.Alive() {
					t.Errorf("process %d (%s) of the run still running after outagelab exited", k.PID, k.Comm)
					syscall.Kill(k.PID, syscall.SIGKILL)
				}
			}
			ents, _ := os.ReadDir(tmp)
			for _, e := range ents {
				if e.IsDir() && strings.HasPrefix(e.Name(), "outagelab-") && !strings.HasPrefix(e.Name(), "outagelab-pgtemplate-") {
					t.Errorf("run dir %s left behind", e.Name())
				}
			}
			res, err := result.Read(filepath.Join(out, "result.json"))
			if err != nil {
				t.Fatalf("partial result.json: %v", err)
			}
			if res.Status.State != "interrupted" || res.Verdict != result.VerdictError || len(res.Phases) == 0 || res.Phases[0].EndedAt.IsZero() {
				t.Errorf("result.json: status %+v verdict %s phases %d: want interrupted, error, the phase ended", res.Status, res.Verdict, len(res.Phases))
			}
			for _, ph := range res.Phases {
				for _, f := range ph.Faults {
					if f.AppliedAt != nil && f.RemovedAt == nil {
						t.Errorf("fault %s has no removal time: not rolled back?", f.ID)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(out, "run.log")); err != nil {
				t.Errorf("run log: %v", err)
			}
			if t.Failed() {
				t.Logf("stderr:\n%s", strings.Join(log, "\n"))
			}
		})
	}
}
