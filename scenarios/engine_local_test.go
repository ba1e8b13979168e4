package scenarios_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/invariants"
	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/internal/testenv"
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
	testenv.NeedFile(t, "PostgreSQL 15 (Debian package postgresql-15)", "/usr/lib/postgresql/15/bin/postgres")
	testenv.NeedTool(t, "redis-server")
}

// localStorefront brings the storefront up as local processes; defer the
// returned close (before ctx is cancelled, as a test's defers run).
func localStorefront(ctx context.Context, t *testing.T) (*harness.Env, func()) {
	t.Helper()
	env, err := harness.Up(ctx, harness.Options{Runtime: "local", LogDir: t.TempDir()})
	if err != nil {
		t.Fatalf("bring up storefront: %v", err)
	}
	return env, func() {
		if err := env.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
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
	env, closeEnv := localStorefront(ctx, t)
	defer closeEnv()
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
		want := map[string]bool{invariants.OrdersDurable: true, invariants.NoDoubleCharge: true, invariants.StockNonNeg: true, invariants.CartsIntact: true}
		for _, iv := range res.Invariants {
			if !iv.Holds {
				t.Errorf("invariant %s does not hold: %s %v", iv.Name, iv.Details, iv.Violations)
			}
			delete(want, iv.Name)
		}
		if len(want) > 0 {
			t.Errorf("invariants not checked: %v (got %+v)", want, res.Invariants)
		}
		noFaultsLeft(t)
	})

	// A checkout-heavy run whose acknowledged orders are tampered with
	// after the load stops: the run must fail and name the order.
	checkoutRun := func(t *testing.T, hook func(ctx context.Context, cfg *scenarios.InvariantConfig) error) (*result.Result, error) {
		t.Helper()
		s, err := scenarios.Parse("checkout.yaml", []byte(`
name: checkout-invariants
title: checkouts under a small latency fault
time_scale: 1
warmup: 4s
recovery: 3s
load: {rate: {us-east-1: 15/s, eu-west-1: 5/s}, mix: {checkout: 3, add_to_cart: 1}}
phases:
  - {name: slow, at: 0, for: 4s, faults: [{kind: latency, edges: {from: checkout, to: payment}, latency: 20ms}]}
`), scenarios.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return scenarios.Run(ctx, s, scenarios.RunOptions{Env: env, Out: t.TempDir(), BeforeInvariants: hook})
	}

	t.Run("a tampered order fails the run and is named", func(t *testing.T) {
		var victim string
		res, err := checkoutRun(t, func(ctx context.Context, cfg *scenarios.InvariantConfig) error {
			if len(cfg.Orders) == 0 {
				return errors.New("no acknowledged order to tamper with")
			}
			victim = cfg.Orders[0].OrderID
			conn, err := pgx.Connect(ctx, cfg.OrdersDSN)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, `DELETE FROM order_items WHERE order_id = $1`, victim)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != result.VerdictFail {
			t.Errorf("verdict %s (%s), want fail", res.Verdict, res.Status.Reason)
		}
		found := false
		for _, iv := range res.Invariants {
			if iv.Name == invariants.OrdersDurable {
				found = true
				if iv.Holds || !slices.Contains(iv.Violations, victim) {
					t.Errorf("%s: holds=%v violations=%v, want order %s named", iv.Name, iv.Holds, iv.Violations, victim)
				}
			} else if !iv.Holds {
				t.Errorf("invariant %s does not hold: %s", iv.Name, iv.Details)
			}
		}
		if !found {
			t.Errorf("no %s invariant in %+v", invariants.OrdersDurable, res.Invariants)
		}
		noFaultsLeft(t)
	})

	// Scenarios played one after another on one topology share its run id;
	// their checkouts must never share an idempotency key, or the storefront
	// replays one run's order to the next (the library once reported that as
	// an acknowledged order "stored with other items").
	t.Run("runs on one topology never replay each other's orders", func(t *testing.T) {
		keys := map[string]string{}
		for run := 1; run <= 2; run++ {
			var orders []load.Order
			res, err := checkoutRun(t, func(ctx context.Context, cfg *scenarios.InvariantConfig) error {
				orders = cfg.Orders
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(orders) == 0 {
				t.Fatalf("run %d acknowledged no order", run)
			}
			for _, o := range orders {
				if prev, ok := keys[o.IdempotencyKey]; ok && prev != res.RunID+fmt.Sprint(run) {
					t.Errorf("run %d reused key %s", run, o.IdempotencyKey)
				}
				keys[o.IdempotencyKey] = res.RunID + fmt.Sprint(run)
				if o.Replayed {
					t.Errorf("run %d: order %s acknowledged as a replay", run, o.OrderID)
				}
			}
			for _, iv := range res.Invariants {
				if !iv.Holds {
					t.Errorf("run %d: invariant %s: %s %v", run, iv.Name, iv.Details, iv.Violations)
				}
			}
		}
		noFaultsLeft(t)
	})

	t.Run("an unreachable datastore is an error, never a pass", func(t *testing.T) {
		res, err := checkoutRun(t, func(ctx context.Context, cfg *scenarios.InvariantConfig) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			dead := ln.Addr().String()
			ln.Close() // nothing listens there now
			cfg.OrdersDSN = "postgres://postgres@" + dead + "/orders?sslmode=disable&connect_timeout=2"
			return nil
		})
		if err == nil {
			t.Error("no error although the orders database could not be reached")
		}
		if res.Verdict != result.VerdictError || res.Status.State != "failed" {
			t.Errorf("verdict %s status %+v, want error/failed", res.Verdict, res.Status)
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
