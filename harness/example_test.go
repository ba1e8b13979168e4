package harness_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/faults"
)

// Bring the storefront up (Docker when an engine answers and harness/docker
// is imported, else local processes), slow one edge down, look, clean up.
func ExampleUp() {
	ctx := context.Background()
	env, err := harness.Up(ctx, harness.Options{Policy: "hardened"})
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close(ctx) // removes every fault, then tears everything down

	applied, err := env.Apply(ctx, faults.Spec{
		ID:       "slow-identity",
		Kind:     "latency",
		Selector: faults.Selector{To: "identity"}, // every edge into identity
		Params:   &faults.Latency{Latency: faults.Duration(800 * time.Millisecond), ToxicParams: faults.DefaultToxic()},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("took effect at", applied[0].AppliedAt, "on", applied[0].Targets)

	gw, _ := env.Endpoint("gateway-eu-west-1", "http")
	resp, err := http.Get(gw + "/api/products?limit=5")
	if err == nil {
		fmt.Println("browse from eu-west-1:", resp.Status)
		resp.Body.Close()
	}
	if _, err := env.Faults.Remove(ctx, "slow-identity"); err != nil {
		log.Fatal(err)
	}
}
