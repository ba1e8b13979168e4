//go:build e2e

package scenarios_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/outagelab/outagelab/harness"
	_ "github.com/outagelab/outagelab/harness/docker"
	"github.com/outagelab/outagelab/reports/result"
	"github.com/outagelab/outagelab/scenarios"
)

// TestMain sets testcontainers' environment before anything reads it (no
// registry, so no Ryuk; reach containers on loopback).
func TestMain(m *testing.M) {
	for k, v := range map[string]string{"TESTCONTAINERS_RYUK_DISABLED": "true", "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1"} {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
		}
	}
	os.Exit(m.Run())
}

func TestScenarios(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Scenario library")
}

// One topology for the whole suite: every library scenario that uses the
// storefront with the default (fragile) policy runs on it. Specs are Serial
// because faults change shared proxies.
var env *harness.Env

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	env, err = harness.Up(ctx, harness.Options{Runtime: os.Getenv("OUTAGELAB_RUNTIME"), LogDir: GinkgoT().TempDir()})
	Expect(err).NotTo(HaveOccurred(), "bring up the storefront")
	DeferCleanup(func(ctx SpecContext) {
		Expect(env.Close(ctx)).To(Succeed())
	}, NodeTimeout(3*time.Minute))
}, NodeTimeout(10*time.Minute))

// Reset Toxiproxy between specs: no toxic or disabled proxy leaks into the next.
var _ = BeforeEach(func(ctx SpecContext) {
	_, err := env.Faults.RemoveAll(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(env.Proxy.Reset(ctx)).To(Succeed())
})

func labelsFor(s *scenarios.Scenario) Labels {
	var l Labels
	if s.Name == "smoke" {
		l = append(l, "smoke")
	}
	if strings.HasPrefix(s.Name, "aws-") {
		l = append(l, "aws")
	}
	network := false
	for _, p := range s.Phases {
		for _, f := range p.Faults {
			if f.Edges != nil {
				network = true
			}
		}
	}
	if network {
		l = append(l, "network")
	}
	if s.WallDuration(0) > 2*time.Minute {
		l = append(l, "slow")
	}
	if s.Date != "" {
		l = append(l, "replay")
	}
	return l
}

func entries() []TableEntry {
	var out []TableEntry
	for _, n := range scenarios.LibraryNames() {
		s, err := scenarios.LoadLibrary(n)
		if err != nil {
			panic(fmt.Sprintf("library scenario %s is invalid: %v", n, err)) // caught by TestLibraryValidates too
		}
		out = append(out, Entry(n, labelsFor(s), s.Name, SpecTimeout(s.WallDuration(0)+5*time.Minute)))
	}
	return out
}

var _ = DescribeTable("library scenario", Serial, func(ctx SpecContext, name string) {
	s, err := scenarios.LoadLibrary(name)
	Expect(err).NotTo(HaveOccurred())
	if s.Policy.Preset != "fragile" || len(s.Policy.Edges) > 0 {
		Skip("needs its own topology (policy " + s.Policy.Preset + "); run it with `outagelab run " + name + "`")
	}
	out := GinkgoT().TempDir()
	res, err := scenarios.Run(ctx, s, scenarios.RunOptions{Env: env, Out: out, Progress: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry(name+" summary", summary(res))
	AddReportEntry(name+" result", out+"/result.json")
	// The library's own check: the run completed, the data survived, and
	// the replay did what its sources say happened (fidelity). Objectives
	// are the system's verdict: the fragile storefront this suite shares is
	// expected to breach them on real replays, so they are reported, and
	// asserted only for smoke, the harness's own sanity run.
	Expect(res.Status.State).To(Equal("completed"), res.Status.Reason)
	var lost, missed []string
	for _, iv := range res.Invariants {
		if !iv.Passed() {
			lost = append(lost, fmt.Sprintf("%s (%s): %s", iv.Name, iv.Outcome(), iv.Details))
		}
	}
	for _, h := range res.Expectations {
		if !h.Holds {
			missed = append(missed, fmt.Sprintf("%s: measured %s (want %s %s)", h.Description, h.Measured, h.Op, h.Expected))
		}
	}
	Expect(lost).To(BeEmpty(), "invariants")
	Expect(missed).To(BeEmpty(), "fidelity: the replay did not reproduce what its sources say")
	if name == "smoke" {
		Expect(res.Verdict).To(Equal(result.VerdictPass), summary(res))
	}
}, entries())

func summary(r *result.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s (%s)\n", r.Scenario.Name, r.Verdict, r.Status.State)
	for _, p := range r.Phases {
		fmt.Fprintf(&b, "  phase %s: %d faults, apply skew %.1f ms\n", p.Name, len(p.Faults), p.ApplySkewMs)
	}
	for _, h := range r.Hypotheses {
		fmt.Fprintf(&b, "  objective [%v] %s: %s\n", h.Holds, h.Description, h.Measured)
	}
	for _, h := range r.Expectations {
		fmt.Fprintf(&b, "  expectation [%v] %s: %s\n", h.Holds, h.Description, h.Measured)
	}
	return b.String()
}

var _ = context.Background
