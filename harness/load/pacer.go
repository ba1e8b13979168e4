package load

import (
	"fmt"
	"time"
)

// A Pacer fixes when each arrival is intended to start.
type Pacer interface {
	// Offset returns the intended start of arrival n (0-based), relative to
	// the start of the run. ok is false when the pacer has no arrival n.
	Offset(n uint64) (at time.Duration, ok bool)
}

// ConstantPacer schedules Rate arrivals per second, evenly spaced, starting at
// offset 0. Max > 0 bounds the number of arrivals.
type ConstantPacer struct {
	Rate float64 // arrivals per second; > 0
	Max  uint64  // 0: unbounded
}

var _ Pacer = ConstantPacer{}

// Offset implements Pacer: arrival n is intended at n/Rate seconds.
func (p ConstantPacer) Offset(n uint64) (time.Duration, bool) {
	if p.Rate <= 0 || (p.Max > 0 && n >= p.Max) {
		return 0, false
	}
	// Whole seconds and the remainder separately keep precision for long runs.
	r := p.Rate
	if r == float64(uint64(r)) {
		ri := uint64(r)
		whole := n / ri
		rem := n % ri
		return time.Duration(whole)*time.Second + time.Duration(rem*uint64(time.Second)/ri), true
	}
	return time.Duration(float64(n) * float64(time.Second) / r), true
}

// Validate reports a pacer that cannot schedule anything.
func (p ConstantPacer) Validate() error {
	if p.Rate <= 0 {
		return fmt.Errorf("pacer rate %v/s: must be > 0", p.Rate)
	}
	return nil
}

// StepPacer plays a sequence of constant-rate steps one after another, e.g. a
// ramp-up: {10/s for 5s, 40/s for 60s}. A step with Rate 0 is a pause.
type StepPacer struct {
	Steps []RateStep
}

// RateStep is one step of a StepPacer.
type RateStep struct {
	Rate float64
	For  time.Duration
}

var _ Pacer = StepPacer{}

// Offset implements Pacer.
func (p StepPacer) Offset(n uint64) (time.Duration, bool) {
	var base time.Duration
	for _, s := range p.Steps {
		if s.For <= 0 {
			continue
		}
		count := uint64(s.Rate * s.For.Seconds())
		if s.Rate > 0 && n < count {
			off, _ := ConstantPacer{Rate: s.Rate}.Offset(n)
			return base + off, true
		}
		if s.Rate > 0 {
			n -= count
		}
		base += s.For
	}
	return 0, false
}
