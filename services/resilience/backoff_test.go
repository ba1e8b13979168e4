package resilience

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestPresetsValid(t *testing.T) {
	for _, n := range PresetNames() {
		p, err := Preset(n)
		if err != nil {
			t.Fatalf("Preset(%q): %v", n, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("preset %s invalid: %v", n, err)
		}
	}
	if _, err := Preset("sturdy"); err == nil {
		t.Fatal("Preset(sturdy) = nil error, want unknown policy")
	}
	f, _ := Preset(PresetFragile)
	h, _ := Preset(PresetHardened)
	if f.Breaker != nil || f.Jitter || f.MaxInFlight != 0 || f.Fallback {
		t.Errorf("fragile must have no breaker, jitter, bulkhead or fallback: %+v", f)
	}
	if h.Breaker == nil || !h.Jitter || h.MaxInFlight == 0 || !h.Fallback || h.Timeout >= f.Timeout {
		t.Errorf("hardened must have breaker, jitter, bulkhead, fallback and a shorter timeout: %+v", h)
	}
	// Preset returns copies: changing one must not change the table.
	h.Breaker.OpenTimeout = time.Hour
	h2, _ := Preset(PresetHardened)
	if h2.Breaker.OpenTimeout == time.Hour {
		t.Fatal("Preset shares its BreakerSettings")
	}
}

func TestValidateReportsEverything(t *testing.T) {
	p := Policy{Name: "bad", MaxAttempts: 0, BackoffInitial: time.Second, BackoffMax: time.Millisecond,
		MaxInFlight: -1, Breaker: &BreakerSettings{FailureRatio: 2}}
	err := p.Validate()
	if err == nil {
		t.Fatal("Validate = nil")
	}
	for _, want := range []string{"timeout", "max_attempts", "backoff_max", "max_in_flight", "failure_ratio", "open_timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestBackoffCapsWithoutJitter(t *testing.T) {
	p := Policy{BackoffInitial: 50 * time.Millisecond, BackoffMax: time.Second}
	b := p.NewBackoff()
	want := []time.Duration{50, 100, 200, 400, 800, 1000, 1000, 1000}
	for i, w := range want {
		if got := b.NextBackOff(); got != w*time.Millisecond {
			t.Fatalf("wait %d = %s, want %s", i, got, w*time.Millisecond)
		}
	}
	b.Reset()
	if got := b.NextBackOff(); got != 50*time.Millisecond {
		t.Fatalf("after Reset wait = %s, want 50ms", got)
	}
	f, _ := Preset(PresetFragile)
	fb := f.NewBackoff()
	for i := range 5 {
		if got := fb.NextBackOff(); got != 100*time.Millisecond {
			t.Fatalf("fragile wait %d = %s, want a fixed 100ms", i, got)
		}
	}
	zero := Policy{}.NewBackoff()
	if got := zero.NextBackOff(); got != 0 {
		t.Fatalf("zero policy wait = %s, want 0", got)
	}
}

// TestFullJitterBounds: every wait lies in [0, cap] and the cap follows the
// capped exponential schedule.
func TestFullJitterBounds(t *testing.T) {
	p := Policy{BackoffInitial: 10 * time.Millisecond, BackoffMax: 80 * time.Millisecond, Jitter: true}
	caps := []time.Duration{10, 20, 40, 80, 80, 80}
	for range 2000 {
		b := p.NewBackoff()
		for i, c := range caps {
			got := b.NextBackOff()
			if got < 0 || got > c*time.Millisecond {
				t.Fatalf("wait %d = %s, outside [0, %s]", i, got, c*time.Millisecond)
			}
		}
	}
}

// TestFullJitterDistribution checks the waits are uniform over [0, cap]:
// mean ≈ cap/2, every decile holds ≈ 10%, and the spread is wide (so
// synchronised retries are broken up). Seeded: deterministic but real.
func TestFullJitterDistribution(t *testing.T) {
	const n = 20000
	capd := 200 * time.Millisecond
	p := Policy{BackoffInitial: capd, BackoffMax: capd, Jitter: true}
	for _, tc := range []struct {
		name string
		rnd  func() float64
	}{
		{"seeded", rand.New(rand.NewPCG(7, 11)).Float64},
		{"default", rand.Float64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := p.NewBackoff()
			b.rand = tc.rnd
			var deciles [10]int
			var sum, sumSq float64
			for range n {
				w := b.NextBackOff()
				x := float64(w) / float64(capd)
				sum += x
				sumSq += x * x
				d := int(x * 10)
				if d == 10 {
					d = 9
				}
				deciles[d]++
			}
			mean := sum / n
			sd := math.Sqrt(sumSq/n - mean*mean)
			// Uniform[0,1]: mean 0.5, sd 1/√12 ≈ 0.2887.
			if mean < 0.48 || mean > 0.52 {
				t.Errorf("mean = %.4f×cap, want 0.5±0.02", mean)
			}
			if sd < 0.27 || sd > 0.31 {
				t.Errorf("sd = %.4f×cap, want ≈0.289", sd)
			}
			for i, c := range deciles {
				frac := float64(c) / n
				if frac < 0.085 || frac > 0.115 {
					t.Errorf("decile %d holds %.3f of waits, want 0.10±0.015", i, frac)
				}
			}
		})
	}
}

func BenchmarkBackoffFullJitter(b *testing.B) {
	p, _ := Preset(PresetHardened)
	bo := p.NewBackoff()
	for b.Loop() {
		bo.NextBackOff()
	}
}
