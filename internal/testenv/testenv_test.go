package testenv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeTB records what Need asked of it instead of stopping a goroutine.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }

func TestNeedPresentDoesNothing(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		f := &fakeTB{}
		Need(f, "x", nil)
		if f.fatal != "" || f.skip != "" {
			t.Errorf("CI=%q: nil error: fatal %q skip %q", ci, f.fatal, f.skip)
		}
	}
}

func TestNeedMissingSkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	f := &fakeTB{}
	Need(f, "redis-server", errors.New("not found"))
	if !strings.Contains(f.skip, "redis-server") || !strings.Contains(f.skip, "not found") || f.fatal != "" {
		t.Fatalf("outside CI: want a skip and no failure, got skip %q fatal %q", f.skip, f.fatal)
	}
}

func TestNeedMissingFailsInCI(t *testing.T) {
	t.Setenv("CI", "true")
	f := &fakeTB{}
	Need(f, "redis-server", errors.New("not found"))
	if !strings.Contains(f.fatal, "redis-server") || !strings.Contains(f.fatal, "not found") || f.skip != "" {
		t.Fatalf("CI=true: want a failure and no skip, got skip %q fatal %q", f.skip, f.fatal)
	}
}

func TestNeedToolAndFile(t *testing.T) {
	t.Setenv("CI", "true")
	f := &fakeTB{}
	if p := NeedTool(f, "outagelab-no-such-tool"); p != "" || f.fatal == "" {
		t.Errorf("missing tool: path %q fatal %q", p, f.fatal)
	}
	f = &fakeTB{}
	if p := NeedTool(f, "sh"); p == "" || f.fatal != "" {
		t.Errorf("sh: path %q fatal %q", p, f.fatal)
	}
	f = &fakeTB{}
	NeedFile(f, "nothing", t.TempDir()+"/missing")
	if f.fatal == "" {
		t.Error("missing file: no failure under CI")
	}
	f = &fakeTB{}
	NeedFile(f, "a dir", t.TempDir())
	if f.fatal != "" {
		t.Errorf("present file: %q", f.fatal)
	}
}
