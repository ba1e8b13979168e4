package reports

import (
	"math"

	"github.com/outagelab/outagelab/reports/result"
)

// ScoreFormula names the resilience score formula. It is part of the
// result's interface: change the weights only with a new version (see SCORE.md).
const ScoreFormula = "v1: 100 × (0.4·H + 0.3·J + 0.1·R + 0.2·I) / (weights of present parts); capped at 50 when an invariant fails"

// Score part weights (SCORE.md).
const (
	weightHypotheses = 0.4
	weightJourneys   = 0.3
	weightRecovery   = 0.1
	weightInvariants = 0.2
)

// ScoreOf computes the resilience score of r (0..100, one decimal) as
// documented in SCORE.md:
//
//	H  hypotheses: weighted share that held ("during" weight 2, others 1)
//	J  journeys: attempts-weighted success rate inside fault phases
//	R  recovery: share of component degradations that recovered in the run
//	I  invariants: share that held
//
// A part with nothing to measure is left out and the others are re-weighted.
// A failed invariant (lost data) caps the score at 50. Nil r scores 0.
func ScoreOf(r *result.Result) result.Score {
	s := result.Score{Formula: ScoreFormula, Parts: map[string]float64{}}
	if r == nil {
		return s
	}
	var sum, weights float64
	add := func(key string, v, w float64, ok bool) {
		if !ok || math.IsNaN(v) {
			return
		}
		v = clamp01(v)
		s.Parts[key] = round(v, 4)
		sum += w * v
		weights += w
	}
	h, hok := hypothesisPart(r)
	add("hypotheses", h, weightHypotheses, hok)
	j, jok := journeyPart(r)
	add("journeys", j, weightJourneys, jok)
	rc, rok := recoveryPart(r)
	add("recovery", rc, weightRecovery, rok)
	in, iok := invariantPart(r)
	add("invariants", in, weightInvariants, iok)
	if weights > 0 {
		s.Value = 100 * sum / weights
	}
	if iok && in < 1 && s.Value > 50 {
		s.Value = 50
	}
	s.Value = round(s.Value, 1)
	return s
}

func hypothesisPart(r *result.Result) (float64, bool) {
	var held, total float64
	for _, h := range r.Hypotheses {
		w := 1.0
		if h.Kind == "during" {
			w = 2
		}
		total += w
		if h.Holds {
			held += w
		}
	}
	return safeDiv(held, total), total > 0
}

// journeyPart is the success rate of every journey inside phases with
// faults, from the per-phase windows; a result without them falls back to
// the per-bucket series inside those phases, then to the run's totals.
func journeyPart(r *result.Result) (float64, bool) {
	var ok, att float64
	for _, p := range r.Phases {
		if len(p.Faults) == 0 {
			continue
		}
		for _, j := range r.Journeys {
			if w, found := j.ByPhase[p.Name]; found && w.Attempts > 0 {
				ok += w.SuccessRate * float64(w.Attempts)
				att += float64(w.Attempts)
				continue
			}
			from, to := bucketRange(r, p.StartedAt, p.EndedAt)
			for i := from; i < to && i < len(j.AttemptsSeries) && i < len(j.OKSeries); i++ {
				att += float64(j.AttemptsSeries[i])
				ok += float64(min(j.OKSeries[i], j.AttemptsSeries[i]))
			}
		}
	}
	if att > 0 {
		return ok / att, true
	}
	for _, j := range r.Journeys {
		att += float64(j.Attempts)
		ok += float64(j.Outcomes["ok"] + j.Outcomes["fallback"])
	}
	return safeDiv(ok, att), att > 0
}

func recoveryPart(r *result.Result) (float64, bool) {
	var rec, total float64
	for _, c := range r.Components {
		for _, d := range c.Degradations {
			if d.DetectionLagMs == nil {
				continue
			}
			total++
			if d.RecoveryMs != nil {
				rec++
			}
		}
	}
	return safeDiv(rec, total), total > 0
}

func invariantPart(r *result.Result) (float64, bool) {
	var held float64
	for _, in := range r.Invariants {
		if in.Holds {
			held++
		}
	}
	return safeDiv(held, float64(len(r.Invariants))), len(r.Invariants) > 0
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
