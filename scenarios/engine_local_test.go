package scenarios_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/reports/result"
	"github.com/outagelab/outagelab/scenarios"
)

// needProcesses skips when the datastore binaries are missing, unless CI is
// set (then it fails: CI must have them).
func needProcesses(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skips tests that start the storefront")
	}
	_, errPG := os.Stat("/usr/lib/postgresql/15/bin/postgres")
	_, errRedis := exec.LookPath("redis-server")
	if err := errors.Join(errPG, errRedis); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs postgres and redis-server: %v", err)
		}
		t.Skipf("postgres/redis-server not installed: %v", err)
	}
}

// TestEngineLocal plays real scenarios against the storefront as local
// processes on one shared topology: a passing run, an abort guard that
// fires, and an interrupted run. Every exit path must leave no fault behind
// and write result.json.
func TestEngineLocal(t *testing.T) {
	needProcesses(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	env, err := harness.Up(ctx, harness.Options{Runtime: "local", LogDir: t.TempDir()})
	if err != nil {
		t.Fatalf("bring up storefront: %v", err)
	}
	defer func() {
		if err := env.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	noFaultsLeft := func(t *testing.T) {
		t.Helper()
		if a := env.Faults.Active(); len(a) != 0 {
			t.Errorf("%d faults still active after the run", len(a))
		}
		proxies, err := env.Proxy.Proxies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range proxies {
			if len(p.ActiveToxics) > 0 || !p.Enabled {
				t.Errorf("proxy %s left with toxics %v enabled=%v", name, p.ActiveToxics, p.Enabled)
			}
		}
	}

	t.Run("smoke passes", func(t *testing.T) {
		s, err := scenarios.LoadLibrary("smoke")
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		res, err := scenarios.Run(ctx, s, scenarios.RunOptions{Env: env, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != result.VerdictPass {
			t.Errorf("verdict %s (%s): %+v", res.Verdict, res.Status.Reason, res.Hypotheses)
		}
		if len(res.Phases) != 1 || len(res.Phases[0].Faults) != 1 || res.Phases[0].Faults[0].AppliedAt == nil || res.Phases[0].Faults[0].RemovedAt == nil {
			t.Errorf("phase/fault times not recorded: %+v", res.Phases)
		}
		if _, err := result.Read(filepath.Join(out, "result.json")); err != nil {
			t.Error(err)
		}
		noFaultsLeft(t)
	})

	t.Run("abort guard stops the run and rolls back", func(t *testing.T) {
		s, err := scenarios.Parse("abort.yaml", []byte(`
name: abort-test
title: catalog refused, guard fires
time_scale: 1
warmup: 3s
recovery: 5s
load: {rate: {us-east-1: 20/s}, mix: {browse: 1}}
phases:
  - {name: cut, at: 0, for: 2m, faults: [{kind: down, edges: {to: catalog-us-east-1}}]}
abort:
  - {journey: browse, region: us-east-1, success: "< 60%", for: 3s}
`), scenarios.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		start := time.Now()
		res, err := scenarios.Run(ctx, s, scenarios.RunOptions{Env: env, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status.State != "aborted" || res.Verdict != result.VerdictFail {
			t.Errorf("status %+v verdict %s, want aborted/fail", res.Status, res.Verdict)
		}
		if time.Since(start) > time.Minute {
			t.Errorf("abort took %s; the phase was 2m", time.Since(start))
		}
		if !strings.Contains(res.Status.Reason, "abort guard 0") {
			t.Errorf("reason %q", res.Status.Reason)
		}
		noFaultsLeft(t)
	})

	t.Run("interrupt writes a partial result and rolls back", func(t *testing.T) {
		s, err := scenarios.Parse("interrupt.yaml", []byte(`
name: interrupt-test
title: interrupted mid-phase
time_scale: 1
warmup: 2s
load: {rate: {us-east-1: 10/s}, mix: {browse: 1}}
phases:
  - {name: slow, at: 0, for: 5m, faults: [{kind: latency, edges: {to: identity}, latency: 100ms}]}
`), scenarios.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 8*time.Second) // mid-phase
		defer rcancel()
		out := t.TempDir()
		res, err := scenarios.Run(rctx, s, scenarios.RunOptions{Env: env, Out: out})
		if err == nil {
			t.Error("an interrupted run returned no error")
		}
		if res.Status.State != "interrupted" || res.Verdict != result.VerdictError {
			t.Errorf("status %+v verdict %s", res.Status, res.Verdict)
		}
		written, rerr := result.Read(filepath.Join(out, "result.json"))
		if rerr != nil {
			t.Fatal(rerr)
		}
		if len(written.Phases) != 1 || written.Phases[0].Faults[0].RemovedAt == nil {
			t.Errorf("partial result lacks the rolled-back fault: %+v", written.Phases)
		}
		noFaultsLeft(t)
	})
}
