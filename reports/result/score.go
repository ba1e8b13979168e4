package result

import (
	"math"
	"sort"
	"time"
)

// ScoreFormula names the resilience score formula (v2: from objectives).
// It is part of the result's interface: change the weights only with a new
// version (reports/SCORE.md).
const ScoreFormula = "v2: 100 × (0.5·E + 0.2·R + 0.2·B + 0.1·D) / (weights of present parts); capped at 50 when an invariant does not hold"

// ScoreVersion is the version of ScoreFormula.
const ScoreVersion = 2

// Score part weights (reports/SCORE.md).
const (
	weightBudget    = 0.5 // E: error budget per journey during faults
	weightRecovery  = 0.2 // R: time to recover after the last phase
	weightBlast     = 0.2 // B: share of regions and components spared
	weightDetection = 0.1 // D: share of unhealthy time monitoring saw
)

// JourneyWeight is how much a journey counts in the score: the journeys
// that take money or let a shopper in count more than looking around.
// Journeys of a user's own system count 1.
func JourneyWeight(journey string) float64 {
	switch journey {
	case "checkout":
		return 3
	case "login", "add_to_cart":
		return 2
	}
	return 1
}

// DefaultTarget is the success target of a journey no objective names.
const DefaultTarget = 0.95

// ScoreOf computes the resilience score v2 of r (0..100, one decimal):
//
//	E  error budget: per journey and region, over the phases with faults,
//	   min(1, success ÷ target) — 1 while within the budget the target
//	   allows, falling linearly to 0 as failures take the whole traffic;
//	   averaged with JourneyWeight
//	R  recovery: per journey and region, after the last phase with faults,
//	   1 − (time until success is back at target for 3 buckets) ÷ (time
//	   recorded after that phase); 0 when it did not come back
//	B  blast radius: 1 − (½·regions hurt ÷ regions + ½·components not
//	   healthy ÷ components) over the phases with faults
//	D  detection: of the buckets in which components were unhealthy, the
//	   share in which the system's own monitoring reported unhealthiness
//
// Targets come from the run's objectives (the highest success ≥ threshold
// that applies to the journey and region, steady state included), else
// DefaultTarget. A part with nothing to measure is left out and the others
// re-weighted. An invariant that did not hold (violated or unknown) caps the
// score at 50. A run that could not judge (verdict error) has no score: nil.
func ScoreOf(r *Result) *Score {
	if r == nil || r.Verdict == VerdictError {
		return nil
	}
	s := &Score{Formula: ScoreFormula, Version: ScoreVersion, Parts: map[string]float64{}}
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
	faulted := faultedPhases(r)
	e, js, eok := budgetPart(r, faulted)
	s.Journeys = js
	add("error_budget", e, weightBudget, eok)
	rc, rok := recoveryPart(r, faulted)
	add("recovery", rc, weightRecovery, rok)
	b, bok := blastPart(r, faulted)
	add("blast_radius", b, weightBlast, bok)
	d, dok := detectionPart(r)
	add("detection", d, weightDetection, dok)
	if weights > 0 {
		s.Value = 100 * sum / weights
	}
	for _, iv := range r.Invariants {
		if !iv.Passed() && s.Value > 50 {
			s.Value = 50
		}
	}
	s.Value = round(s.Value, 1)
	return s
}

// window is a span of buckets [from, to).
type window struct{ from, to int }

func faultedPhases(r *Result) []window {
	var out []window
	for _, p := range r.Phases {
		if len(p.Faults) == 0 || p.StartedAt.IsZero() || p.EndedAt.IsZero() {
			continue
		}
		from, to := r.bucketRange(p.StartedAt, p.EndedAt)
		out = append(out, window{from, to})
	}
	return out
}

// bucketRange maps [from, to) times to series buckets [i, j).
func (r *Result) bucketRange(from, to time.Time) (int, int) {
	if r.BucketMillis <= 0 {
		return 0, 0
	}
	w := time.Duration(r.BucketMillis) * time.Millisecond
	i := int(from.Sub(r.StartedAt) / w)
	j := int((to.Sub(r.StartedAt) + w - 1) / w)
	return max(0, i), max(0, j)
}

// TargetOf is the success a journey in a region must hold: the highest
// "success >=" (or ">") threshold among the objectives that apply to it.
func TargetOf(r *Result, journey, region string) float64 {
	t := 0.0
	for _, h := range r.Hypotheses {
		if h.Metric != "success" || (h.Op != ">=" && h.Op != ">") {
			continue
		}
		if h.Journey != "" && h.Journey != journey || h.Region != "" && h.Region != region {
			continue
		}
		if v := successValue(h.Expected); v > t {
			t = v
		}
	}
	if t == 0 {
		return DefaultTarget
	}
	return t
}

// successValue reads an objective's expected success ("99%", "0.95").
func successValue(s string) float64 {
	var v float64
	pct := len(s) > 0 && s[len(s)-1] == '%'
	if pct {
		s = s[:len(s)-1]
	}
	for i, c := range s {
		if c == '.' {
			frac := 0.1
			for _, d := range s[i+1:] {
				if d < '0' || d > '9' {
					return 0
				}
				v += float64(d-'0') * frac
				frac /= 10
			}
			break
		}
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + float64(c-'0')
	}
	if pct {
		v /= 100
	}
	if v > 1 {
		return 0
	}
	return v
}

func sumRange(xs []int64, w window) int64 {
	var n int64
	for i := w.from; i < w.to && i < len(xs); i++ {
		n += xs[i]
	}
	return n
}

// faultedTotals is a journey's attempts and successes over the windows.
func faultedTotals(j Journey, faulted []window) (att, ok int64) {
	for _, w := range faulted {
		a := sumRange(j.AttemptsSeries, w)
		att += a
		ok += min(sumRange(j.OKSeries, w), a)
	}
	return att, ok
}

func budgetPart(r *Result, faulted []window) (float64, []JourneyScore, bool) {
	var sum, weights float64
	var out []JourneyScore
	for _, j := range r.Journeys {
		att, ok := faultedTotals(j, faulted)
		if att == 0 {
			continue
		}
		t := TargetOf(r, j.Name, j.Region)
		succ := float64(ok) / float64(att)
		budget := (1 - t) * float64(att)
		burned := math.Inf(1)
		if budget > 0 {
			burned = float64(att-ok) / budget
		} else if att == ok {
			burned = 0
		}
		v := 1.0
		if t > 0 {
			v = clamp01(succ / t)
		}
		w := JourneyWeight(j.Name)
		sum += w * v
		weights += w
		js := JourneyScore{Journey: j.Name, Region: j.Region, Weight: w, Target: t, Success: round(succ, 4),
			Budget: round(budget, 1), Value: round(v, 4)}
		if !math.IsInf(burned, 0) {
			js.Burned = round(burned, 3)
		} else {
			js.Burned = -1 // a 100% target leaves no budget to burn
		}
		out = append(out, js)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Journey != out[b].Journey {
			return out[a].Journey < out[b].Journey
		}
		return out[a].Region < out[b].Region
	})
	return safeDiv(sum, weights), out, weights > 0
}

func recoveryPart(r *Result, faulted []window) (float64, bool) {
	if len(faulted) == 0 {
		return 0, false
	}
	from := faulted[len(faulted)-1].to
	var sum, weights float64
	for _, j := range r.Journeys {
		end := min(len(j.AttemptsSeries), len(j.OKSeries))
		if end <= from {
			continue
		}
		t := TargetOf(r, j.Name, j.Region)
		v := 0.0
		good, start := 0, -1
		for b := from; b < end; b++ {
			if j.AttemptsSeries[b] == 0 {
				continue
			}
			if float64(min(j.OKSeries[b], j.AttemptsSeries[b]))/float64(j.AttemptsSeries[b]) >= t {
				if good == 0 {
					start = b
				}
				if good++; good >= 3 {
					v = 1 - float64(start-from)/float64(end-from)
					break
				}
			} else {
				good = 0
			}
		}
		w := JourneyWeight(j.Name)
		sum += w * v
		weights += w
	}
	return safeDiv(sum, weights), weights > 0
}

func blastPart(r *Result, faulted []window) (float64, bool) {
	if len(faulted) == 0 {
		return 0, false
	}
	regions, hurt := map[string]bool{}, map[string]bool{}
	for _, j := range r.Journeys {
		att, ok := faultedTotals(j, faulted)
		if att == 0 {
			continue
		}
		regions[j.Region] = true
		if float64(ok)/float64(att) < TargetOf(r, j.Name, j.Region) {
			hurt[j.Region] = true
		}
	}
	var comps, degraded int
	for _, c := range r.Components {
		seen, bad := false, false
		for _, w := range faulted {
			for b := w.from; b < w.to && b < len(c.State); b++ {
				switch c.State[b] {
				case "healthy":
					seen = true
				case "degraded", "down":
					seen, bad = true, true
				}
			}
		}
		if seen {
			comps++
			if bad {
				degraded++
			}
		}
	}
	if len(regions) == 0 && comps == 0 {
		return 0, false
	}
	var lost, parts float64
	if len(regions) > 0 {
		lost += float64(len(hurt)) / float64(len(regions))
		parts++
	}
	if comps > 0 {
		lost += float64(degraded) / float64(comps)
		parts++
	}
	return 1 - lost/parts, true
}

func detectionPart(r *Result) (float64, bool) {
	m := r.Monitoring
	if m == nil {
		return 0, false
	}
	var unhealthy, seen float64
	for i := 0; i < len(m.TrueUnhealthy) && i < len(m.SawUnhealthy); i++ {
		if m.TrueUnhealthy[i] <= 0 {
			continue
		}
		unhealthy++
		if m.SawUnhealthy[i] > 0 {
			seen++
		}
	}
	return safeDiv(seen, unhealthy), unhealthy > 0
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
