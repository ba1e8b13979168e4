package scenarios_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/scenarios"
)

// A user's own test: bring up the storefront, inject a fault directly, then
// play a small scenario of their own on the same topology and assert on the
// result. (Not run by `go test`: it needs the storefront's processes or
// Docker; the e2e suite runs the same calls.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	env, err := harness.Up(ctx, harness.Options{Runtime: "local"})
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close(ctx) // removes every fault, then tears everything down

	// 1. A fault by hand: 300 ms on every call into identity.
	_, err = env.Apply(ctx, faults.Spec{ID: "slow-identity", Kind: "latency",
		Selector: faults.Selector{To: "identity"},
		Params:   &faults.Latency{Latency: faults.Duration(300 * time.Millisecond), ToxicParams: faults.DefaultToxic()}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := env.Faults.Remove(ctx, "slow-identity"); err != nil {
		log.Fatal(err)
	}

	// 2. A scenario of one's own, validated like any file.
	s, err := scenarios.Parse("mine.yaml", []byte(`
name: payment-brownout
title: Payment provider slow for a minute
time_scale: 1
warmup: 5s
recovery: 10s
load: {rate: {us-east-1: 10/s}, mix: {browse: 50, checkout: 50}}
phases:
  - name: slow-payment
    at: 0
    for: 1m
    faults:
      - {kind: latency, edges: {from: checkout, to: payment}, latency: 2s}
hypotheses:
  - {during: slow-payment, journey: browse, success: ">= 99%"}
`), scenarios.Options{})
	if err != nil {
		log.Fatal(err) // every problem, each as file:line:col: field: message
	}
	res, err := scenarios.Run(ctx, s, scenarios.RunOptions{Env: env, Out: "out/mine"})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range res.Hypotheses {
		fmt.Printf("%s: holds=%v (measured %s)\n", h.Description, h.Holds, h.Measured)
	}
	fmt.Println("verdict:", res.Verdict)
}
