// Command outagelab replays real outages against a system in containers and
// reports how every part of it degraded.
//
// One file per command (run.go, list.go, validate.go, up.go, report.go,
// cleanup.go, images.go, gameday.go); each adds itself to rootCmd in init.
// Commands return errors; exitCode maps them to the documented exit codes:
// 0 success, 1 an objective or invariant did not hold, 2 bad input or infrastructure failure.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

var rootCmd = &cobra.Command{
	Use:           "outagelab",
	Short:         "Replay real outages against a system and report how it degrades",
	Version:       version,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// withCode wraps err so that outagelab exits with code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// usageError is bad input from the user: exit code 2.
func usageError(format string, a ...any) error {
	return withCode(2, fmt.Errorf(format, a...))
}

func init() {
	// testcontainers-go reads its config once per process: set it before any
	// call. No registry here, so no Ryuk (we own cleanup); and reach
	// containers on loopback, never on the default gateway (/.dockerenv).
	setDefaultEnv("TESTCONTAINERS_RYUK_DISABLED", "true")
	setDefaultEnv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	rootCmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(2, fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath()))
	})
}

func setDefaultEnv(k, v string) {
	if _, ok := os.LookupEnv(k); !ok {
		os.Setenv(k, v)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd.ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "outagelab:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "outagelab:", err)
	return 2
}
