package resilience

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Policy says how calls to one dependency are made. The zero value is not
// valid; start from Preset and adjust.
type Policy struct {
	// Name is the preset this policy came from ("fragile", "hardened"), for logs.
	Name string `json:"name"`
	// Timeout bounds each attempt (connect, request and reading the response).
	Timeout time.Duration `json:"timeout"`
	// MaxAttempts is the number of attempts per logical call, first one included (≥ 1).
	MaxAttempts int `json:"max_attempts"`
	// BackoffInitial is the backoff cap before the first retry; it doubles per
	// retry up to BackoffMax.
	BackoffInitial time.Duration `json:"backoff_initial"`
	// BackoffMax caps the backoff.
	BackoffMax time.Duration `json:"backoff_max"`
	// Jitter selects full jitter: each wait is uniform in [0, cap]. Without it
	// every wait is exactly the cap (the naive, synchronised retry).
	Jitter bool `json:"jitter"`
	// Breaker configures a circuit breaker; nil means none.
	Breaker *BreakerSettings `json:"breaker,omitempty"`
	// MaxInFlight limits concurrent attempts (a bulkhead); 0 means unlimited.
	MaxInFlight int `json:"max_in_flight"`
	// Fallback allows callers to serve a degraded answer when a call fails
	// (see Dependency.DoFallback).
	Fallback bool `json:"fallback"`
}

// BreakerSettings configures the circuit breaker of a dependency.
type BreakerSettings struct {
	// ConsecutiveFailures trips the breaker after this many failed attempts in
	// a row (0 disables this rule).
	ConsecutiveFailures uint32 `json:"consecutive_failures"`
	// FailureRatio trips the breaker when at least MinRequests attempts were
	// seen in the current Interval and this fraction of them failed (0 disables).
	FailureRatio float64 `json:"failure_ratio"`
	// MinRequests is the volume needed before FailureRatio applies.
	MinRequests uint32 `json:"min_requests"`
	// Interval is the closed-state counting window.
	Interval time.Duration `json:"interval"`
	// OpenTimeout is how long the breaker stays open before letting probes through.
	OpenTimeout time.Duration `json:"open_timeout"`
	// HalfOpenMaxRequests is how many probes pass while half-open; that many
	// consecutive successes close the breaker.
	HalfOpenMaxRequests uint32 `json:"half_open_max_requests"`
}

// Preset names.
const (
	PresetFragile  = "fragile"
	PresetHardened = "hardened"
)

var presets = map[string]Policy{
	PresetFragile: {
		Name:           PresetFragile,
		Timeout:        5 * time.Second,
		MaxAttempts:    3,
		BackoffInitial: 100 * time.Millisecond,
		BackoffMax:     100 * time.Millisecond,
		Jitter:         false,
	},
	PresetHardened: {
		Name:           PresetHardened,
		Timeout:        500 * time.Millisecond,
		MaxAttempts:    2,
		BackoffInitial: 50 * time.Millisecond,
		BackoffMax:     1 * time.Second,
		Jitter:         true,
		Breaker: &BreakerSettings{
			ConsecutiveFailures: 5,
			FailureRatio:        0.5,
			MinRequests:         20,
			Interval:            10 * time.Second,
			OpenTimeout:         5 * time.Second,
			HalfOpenMaxRequests: 3,
		},
		MaxInFlight: 64,
		Fallback:    true,
	},
}

// PresetNames lists the known presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns a copy of the named policy.
func Preset(name string) (Policy, error) {
	p, ok := presets[name]
	if !ok {
		return Policy{}, fmt.Errorf("unknown resilience policy %q: use one of %s", name, strings.Join(PresetNames(), ", "))
	}
	if p.Breaker != nil {
		b := *p.Breaker
		p.Breaker = &b
	}
	return p, nil
}

// Validate reports every problem with the policy at once.
func (p Policy) Validate() error {
	var errs []error
	if p.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout must be > 0, got %s", p.Timeout))
	}
	if p.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max_attempts must be ≥ 1, got %d", p.MaxAttempts))
	}
	if p.BackoffInitial < 0 || p.BackoffMax < 0 {
		errs = append(errs, fmt.Errorf("backoff durations must be ≥ 0"))
	}
	if p.BackoffMax < p.BackoffInitial {
		errs = append(errs, fmt.Errorf("backoff_max (%s) must be ≥ backoff_initial (%s)", p.BackoffMax, p.BackoffInitial))
	}
	if p.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("max_in_flight must be ≥ 0, got %d", p.MaxInFlight))
	}
	if b := p.Breaker; b != nil {
		if b.ConsecutiveFailures == 0 && b.FailureRatio == 0 {
			errs = append(errs, errors.New("breaker needs consecutive_failures or failure_ratio"))
		}
		if b.FailureRatio < 0 || b.FailureRatio > 1 {
			errs = append(errs, fmt.Errorf("breaker failure_ratio must be in [0,1], got %g", b.FailureRatio))
		}
		if b.OpenTimeout <= 0 {
			errs = append(errs, fmt.Errorf("breaker open_timeout must be > 0, got %s", b.OpenTimeout))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid policy %q: %w", p.Name, errors.Join(errs...))
	}
	return nil
}
