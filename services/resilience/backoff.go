package resilience

import (
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Backoff yields the waits between attempts: a capped exponential schedule
// (cenkalti/backoff's ExponentialBackOff with no randomisation computes the
// cap: initial, 2×initial, … up to max) with optional full jitter on top,
// which draws each wait uniformly from [0, cap] ("Exponential Backoff And
// Jitter", AWS Architecture Blog, 2015). It implements backoff.BackOff and is
// not safe for concurrent use: make one per logical call.
type Backoff struct {
	exp    *backoff.ExponentialBackOff
	jitter bool
	rand   func() float64
}

var _ backoff.BackOff = (*Backoff)(nil)

// NewBackoff returns the backoff schedule of the policy.
func (p Policy) NewBackoff() *Backoff {
	exp := &backoff.ExponentialBackOff{
		InitialInterval:     p.BackoffInitial,
		RandomizationFactor: 0,
		Multiplier:          2,
		MaxInterval:         p.BackoffMax,
	}
	exp.Reset()
	return &Backoff{exp: exp, jitter: p.Jitter, rand: rand.Float64}
}

// Reset starts the schedule again.
func (b *Backoff) Reset() { b.exp.Reset() }

// Cap returns the next cap without jitter and advances the schedule.
func (b *Backoff) nextCap() time.Duration {
	if b.exp.InitialInterval <= 0 {
		return 0
	}
	return b.exp.NextBackOff()
}

// NextBackOff returns the next wait.
func (b *Backoff) NextBackOff() time.Duration {
	c := b.nextCap()
	if !b.jitter || c <= 0 {
		return c
	}
	return time.Duration(b.rand() * float64(c))
}
