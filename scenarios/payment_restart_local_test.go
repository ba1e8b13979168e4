package scenarios_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/invariants"
	"github.com/outagelab/outagelab/reports/result"
	"github.com/outagelab/outagelab/scenarios"
)

// TestPaymentRestartMakesChargesUnknown plays a scenario that kills the
// payment provider mid-run and starts it again at the phase end (local
// processes): its in-memory ledger loses the charges made before, so
// no_double_charge must be "unknown", not a pass on the emptied ledger, and
// the run must not pass. (kind kill, not restart: a one-shot fault in a
// phase fails the phase's removal, "no such active fault".)
func TestPaymentRestartMakesChargesUnknown(t *testing.T) {
	needProcesses(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	env, closeEnv := localStorefront(ctx, t)
	defer closeEnv()
	s, err := scenarios.Parse("payment-restart.yaml", []byte(`
name: payment-restart
title: the payment provider is killed and started again mid-run
time_scale: 1
warmup: 4s
recovery: 3s
load: {rate: {us-east-1: 10/s, eu-west-1: 5/s}, mix: {checkout: 3, add_to_cart: 1}}
phases:
  - {name: payment-down, at: 0, for: 3s, faults: [{kind: kill, components: {names: [payment]}}]}
`), scenarios.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scenarios.Run(ctx, s, scenarios.RunOptions{Env: env, Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var charges *result.Invariant
	for i, iv := range res.Invariants {
		if iv.Name == invariants.NoDoubleCharge {
			charges = &res.Invariants[i]
		}
	}
	if charges == nil {
		t.Fatalf("%s not checked: %+v", invariants.NoDoubleCharge, res.Invariants)
	}
	t.Logf("%s: %s: %s (verdict %s)", charges.Name, charges.State, charges.Details, res.Verdict)
	if charges.State != result.InvariantUnknown || charges.Holds || !strings.Contains(charges.Details, "restarted") {
		t.Errorf("%s after a payment restart: %+v, want state unknown saying the provider restarted", charges.Name, *charges)
	}
	if res.Verdict == result.VerdictPass {
		t.Errorf("verdict pass with %s unknown", charges.Name)
	}
}
