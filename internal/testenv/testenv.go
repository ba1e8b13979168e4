// Package testenv is how a test says what its environment must provide.
//
// Outside CI a missing tool or service skips the test with a message that
// says what is missing and how to get it. When the environment variable CI
// is set (CI=true is how CI runs), the same absence fails the test: CI never
// passes by skipping.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the environment variable CI is set (to anything).
func InCI() bool { return os.Getenv("CI") != "" }

// Need skips t (fails it under CI) when err is not nil: what names the
// missing tool or service, err says why it is missing. It returns when err
// is nil.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("CI is set and this test needs %s: %v (scripts/setup.sh test installs the Debian packages the tests use)", what, err)
		return
	}
	t.Skipf("needs %s: %v (scripts/setup.sh test installs it; under CI=true this is a failure)", what, err)
}

// NeedTool is Need for an executable found in PATH; it returns its path.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Need(t, name, err)
	return p
}

// NeedFile is Need for a file that must exist, e.g. a binary outside PATH.
func NeedFile(t testing.TB, what, path string) {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && errors.Is(err, os.ErrNotExist) {
		err = fmt.Errorf("%s does not exist", path)
	}
	Need(t, what, err)
}
