package docker

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/testenv"
)

func TestSweepFilterMatch(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := RunLabels("run-a", now.Add(-2*time.Hour))
	fresh := RunLabels("run-b", now.Add(-10*time.Second))
	cases := []struct {
		name   string
		f      SweepFilter
		labels map[string]string
		want   bool
	}{
		{"not ours", SweepFilter{}, map[string]string{"other": "x"}, false},
		{"any run", SweepFilter{}, old, true},
		{"other run id", SweepFilter{RunID: "run-b"}, old, false},
		{"same run id", SweepFilter{RunID: "run-a"}, old, true},
		{"older than, old", SweepFilter{OlderThan: time.Hour, Now: now}, old, true},
		{"older than, fresh", SweepFilter{OlderThan: time.Hour, Now: now}, fresh, false},
		{"older than, unreadable time", SweepFilter{OlderThan: time.Hour, Now: now}, map[string]string{LabelRun: "x", LabelCreated: "yesterday"}, true},
		{"dead owner", SweepFilter{DeadOwnersOnly: true, Alive: func(string) bool { return false }}, with(old, LabelOwner, "h/1"), true},
		{"live owner", SweepFilter{DeadOwnersOnly: true, Alive: func(string) bool { return true }}, with(old, LabelOwner, "h/1"), false},
		{"no owner label", SweepFilter{DeadOwnersOnly: true, Alive: func(string) bool { return true }}, old, true},
	}
	for _, c := range cases {
		if got := c.f.Match(c.labels); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.name, got, c.want)
		}
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

func TestRunLabels(t *testing.T) {
	at := time.Date(2026, 11, 26, 23, 0, 0, 0, time.FixedZone("x", 3600))
	l := RunLabels("r1", at)
	if l[LabelRun] != "r1" || l[LabelCreated] != "2026-11-26T22:00:00Z" {
		t.Errorf("labels %v", l)
	}
}

func TestOwnerAlive(t *testing.T) {
	if !ownerAlive(Owner()) {
		t.Errorf("this process (%s) counted as dead", Owner())
	}
	h, _ := os.Hostname()
	// PID 0 and garbage are never alive; a PID above the kernel's maximum
	// cannot exist.
	for _, o := range []string{"", "nohost", h + "/0", h + "/x", h + "/" + strconv.Itoa(1<<22+1)} {
		if ownerAlive(o) {
			t.Errorf("owner %q counted as alive", o)
		}
	}
	if o := Owner(); ownerAlive(o[:strings.LastIndex(o, "/")] + "/1") {
		t.Errorf("owner %s with another start time counted as alive (PID reuse)", o)
	}
	if !ownerAlive("another-host-" + h + "/1") {
		t.Error("another host's owner counted as dead (not ours to judge)")
	}
}

func TestCheckAliasConflicts(t *testing.T) {
	// Exercised through the topology in the e2e tests; here the pure rule.
	if err := checkAliasConflicts(topoTwoCallees(8080, 8080), map[string]bool{"a__b": true, "a__c": true}); err == nil {
		t.Error("two callees on one port by name: want an error")
	}
	if err := checkAliasConflicts(topoTwoCallees(8080, 9090), map[string]bool{"a__b": true, "a__c": true}); err != nil {
		t.Errorf("different ports: %v", err)
	}
}

// A killed child not yet reaped is a zombie: its PID answers kill(0), but
// it owns nothing any more.
func TestOwnerAliveZombie(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	testenv.Need(t, "sleep(1)", cmd.Start())
	h, _ := os.Hostname()
	start, _, ok := procStat(cmd.Process.Pid)
	if !ok {
		t.Skip("no /proc")
	}
	owner := h + "/" + strconv.Itoa(cmd.Process.Pid) + "/" + start
	if !ownerAlive(owner) {
		t.Fatal("running child counted as dead")
	}
	cmd.Process.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for ownerAlive(owner) {
		if time.Now().After(deadline) {
			t.Fatal("killed (zombie) child still counted as alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Wait()
}
