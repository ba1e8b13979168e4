package scenarios

import (
	"fmt"
	"time"

	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/reports/result"
)

// kindExpectationResult is result.Hypothesis.Kind for a judged expectation.
const kindExpectationResult = "expectation"

// recoveredBuckets is how many buckets in a row must meet the target for a
// journey to count as recovered (the recorder's rule for components too).
const recoveredBuckets = 3

// fidelityRow is the fidelity row of expectation i (rows are made in
// Scenario.Expectations order). Call with r.mu held.
func (r *runner) fidelityRow(i int) *result.Fidelity {
	if i < 0 || i >= len(r.res.Scenario.Fidelity) {
		return nil
	}
	return &r.res.Scenario.Fidelity[i]
}

// phaseStart is when phase began, from the run's start ("1m12s"). Call with r.mu held.
func (r *runner) phaseStart(phase string) (string, bool) {
	for _, ph := range r.res.Phases {
		if ph.Name == phase {
			return ph.StartedAt.Sub(r.res.StartedAt).Round(time.Second).String(), true
		}
	}
	return "", false
}

// judgeRecovery judges the recovery objectives: once phase After ends, the
// journey's success must meet its target in recoveredBuckets buckets in a
// row (buckets without attempts neither count nor break the run) starting
// within RecoverWithin. Measured: the time from the phase's end to the
// start of that run of buckets.
func (r *runner) judgeRecovery() {
	st := r.gen.Stats()
	width := st.BucketWidth()
	last := st.BucketOf(time.Now())
	for i, h := range r.s.Objectives {
		if h.RecoverWithin <= 0 {
			continue
		}
		var ended time.Time
		r.mu.Lock()
		for _, ph := range r.res.Phases {
			if ph.Name == h.After {
				ended = ph.EndedAt
			}
		}
		r.mu.Unlock()
		target := r.s.RecoveryTarget(h)
		desc := h.Description
		if desc == "" {
			desc = fmt.Sprintf("%s%s back to success >= %.0f%% within %s after %s", orAll(h.Journey), regionText(h.Region), target*100, h.RecoverWithin, h.After)
		}
		rh := result.Hypothesis{ID: fmt.Sprintf("recovery/%d/success", i), Kind: "recovery", Phase: h.After, Journey: h.Journey,
			Region: h.Region, Metric: "recover_within", Op: "<=", Expected: h.RecoverWithin.String(), Description: desc}
		switch {
		case ended.IsZero():
			rh.Measured, rh.MeasuredValue = "phase did not end", -1
		default:
			from := st.BucketOf(ended)
			at, samples, found := r.recoveredAt(h.Journey, h.Region, target, from, last)
			rh.Samples = samples
			if !found {
				rh.Measured, rh.MeasuredValue = fmt.Sprintf("not recovered in the %s recorded after it", time.Duration(last-from)*width), -1
				break
			}
			d := max(0, st.Epoch().Add(time.Duration(at)*width).Sub(ended))
			rh.MeasuredValue = float64(d.Milliseconds())
			rh.Measured = d.Round(100 * time.Millisecond).String()
			rh.Holds = d <= h.RecoverWithin
		}
		r.mu.Lock()
		r.res.Hypotheses = append(r.res.Hypotheses, rh)
		r.mu.Unlock()
	}
}

// recoveredAt finds the first bucket b in [from, last) that starts
// recoveredBuckets buckets in a row with attempts, each at success ≥ target.
func (r *runner) recoveredAt(journey, region string, target float64, from, last int) (int, int64, bool) {
	st := r.gen.Stats()
	var ids []load.SeriesID
	for _, id := range st.Series() {
		if (journey == "" || string(id.Journey) == journey) && (region == "" || id.Region == region) {
			ids = append(ids, id)
		}
	}
	var samples int64
	start, good := -1, 0
	for b := from; b < last; b++ {
		var ok, total int64
		for _, id := range ids {
			w := st.Window(id, b, b+1)
			total += w.Attempts()
			ok += w.Counts[load.OK] + w.Counts[load.Fallback]
		}
		samples += total
		if total == 0 {
			continue
		}
		if float64(ok)/float64(total) >= target {
			if good == 0 {
				start = b
			}
			good++
			if good >= recoveredBuckets {
				return start, samples, true
			}
		} else {
			good = 0
		}
	}
	return 0, samples, false
}
