package reports

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

// What every renderer says about objectives, fidelity, the score and
// findings, so that the Markdown, HTML, JUnit and diff read alike.

// isRecovery reports whether h is a recovery objective (back at target
// within a time after a phase; measured_value in ms, -1 not recovered).
func isRecovery(h result.Hypothesis) bool {
	return h.Kind == "recovery" || h.Metric == "recover_within"
}

// objectiveMeasured is what an objective measured, for people: a recovery
// objective's time to recover ("12.3 s", "not recovered"), else Measured.
func objectiveMeasured(h result.Hypothesis) string {
	if !isRecovery(h) {
		return h.Measured
	}
	if h.MeasuredValue < 0 {
		if h.Measured == "" || strings.HasPrefix(h.Measured, "not recovered") {
			return "not recovered"
		}
		return h.Measured // e.g. "phase did not end"
	}
	return fmtMs(int64(math.Round(h.MeasuredValue)))
}

// objectiveExpected is an objective's threshold in words: "success >= 95%",
// or for a recovery objective "back within 1m0s".
func objectiveExpected(h result.Hypothesis) string {
	if isRecovery(h) {
		return "back within " + h.Expected
	}
	return strings.TrimSpace(h.Metric + " " + h.Op + " " + h.Expected)
}

// objectiveLine is one objective on one line with its mark:
// "checkout back to success >= 95% within 1m0s after congestion: 12.3 s ✓".
func objectiveLine(h result.Hypothesis) string {
	return hypothesisText(h) + ": " + objectiveMeasured(h) + " " + holdMark(h.Holds)
}

func holdMark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// expectationCount counts the claims a replay reproduced: the judged
// expectations when the result has them, else its judged fidelity rows.
func expectationCount(r *result.Result) (held, total int) {
	if len(r.Expectations) > 0 {
		return countHeld(r.Expectations)
	}
	for _, f := range r.Scenario.Fidelity {
		if f.Judged {
			total++
			if f.Matches {
				held++
			}
		}
	}
	return held, total
}

// fidelityOutcome is a fidelity row's verdict: "match", "mismatch", or
// "not judged" when its phase never ran.
func fidelityOutcome(f result.Fidelity) string {
	switch {
	case !f.Judged:
		return "not judged"
	case f.Matches:
		return "match"
	}
	return "mismatch"
}

// gradeText is a row's source grade as shown: primary, secondary,
// unverified, or "ungraded" when the scenario gives none.
func gradeText(g string) string {
	if g == "" {
		return "ungraded"
	}
	return g
}

// gradeHint says what a grade means, for a tooltip or a legend.
func gradeHint(g string) string {
	switch g {
	case "primary":
		return "checked against the company's own text"
	case "secondary":
		return "only write-ups that agree were found"
	case "unverified":
		return "nothing retrievable states it"
	}
	return "the scenario does not grade this source"
}

// sourceTimeText is the source's time as shown, "~" first when the source
// itself gives it only roughly (not whether anyone checked it: see the grade).
func sourceTimeText(t string, approximate bool) string {
	switch {
	case t == "" && approximate:
		return "~ (rough)"
	case t == "":
		return "–"
	case approximate:
		return "~" + t
	}
	return t
}

// runAtText is the run time of a row ("1m0s" → "1:00").
func runAtText(s string) string {
	if s == "" {
		return "–"
	}
	if d, err := time.ParseDuration(s); err == nil {
		return fmtOffset(d)
	}
	return s
}

// fidelityGateText says whether fidelity decides the verdict.
func fidelityGateText(r *result.Result) string {
	if r.FidelityGate {
		return "This run gates on fidelity (--fidelity-gate): a mismatch fails the verdict."
	}
	return "Fidelity is reported beside the verdict and does not decide it (run with --fidelity-gate to make it)."
}

// scorePart is one part of the score as shown.
type scorePart struct {
	Key, Label, Value string
	Pct               float64 // 0..100, for a bar
}

var scorePartLabels = map[string]string{
	"error_budget": "error budget",
	"recovery":     "recovery",
	"blast_radius": "blast radius",
	"detection":    "detection",
}

// scoreParts lists the score's parts in the formula's order (v2: error
// budget, recovery, blast radius, detection), then any others by name (a
// score written by an older formula).
func scoreParts(sc result.Score) []scorePart {
	var out []scorePart
	seen := map[string]bool{}
	add := func(k string) {
		v, ok := sc.Parts[k]
		if !ok || seen[k] {
			return
		}
		seen[k] = true
		label := scorePartLabels[k]
		if label == "" {
			label = strings.ReplaceAll(k, "_", " ")
		}
		out = append(out, scorePart{Key: k, Label: label, Value: pctStr(v), Pct: 100 * clamp01(v)})
	}
	for _, k := range []string{"error_budget", "recovery", "blast_radius", "detection"} {
		add(k)
	}
	for _, k := range sortedKeys(sc.Parts) {
		add(k)
	}
	return out
}

// scoreText is the score as shown: "51.6/100" or "no score".
func scoreText(sc result.Score, ok bool) string {
	if !ok {
		return "no score"
	}
	return fmt.Sprintf("%.1f/100", sc.Value)
}

// noScoreText is what a report says instead of a score.
const noScoreText = "no score (the run could not judge)"

// budgetRow is one journey/region's error-budget part of the score, as shown.
type budgetRow struct {
	Journey, Weight, Target, Success, Burned, Value string
	Overspent                                       bool
	BurnedPct                                       float64 // 0..100, for a bar
}

func budgetRows(sc result.Score) []budgetRow {
	var out []budgetRow
	for _, j := range sc.Journeys {
		name := j.Journey
		if j.Region != "" {
			name += "/" + j.Region
		}
		br := budgetRow{Journey: name, Weight: fmtNum(j.Weight), Target: pctStr(j.Target), Success: pctStr(j.Success), Value: pctStr(j.Value)}
		switch {
		case j.Burned < 0:
			br.Burned = "no budget (100% target)"
			br.Overspent = j.Success < 1
			br.BurnedPct = 100
		case j.Burned > 1:
			br.Burned = fmt.Sprintf("%.1f× (overspent)", j.Burned)
			br.Overspent, br.BurnedPct = true, 100
		default:
			br.Burned = fmt.Sprintf("%.0f%%", j.Burned*100)
			br.BurnedPct = 100 * clamp01(j.Burned)
		}
		out = append(out, br)
	}
	return out
}

// findingKindText names a finding's kind in words.
func findingKindText(k string) string {
	switch k {
	case "retry_amplification":
		return "retry amplification"
	case "no_effective_timeout":
		return "no effective timeout"
	case "stuck_after_fault":
		return "stuck after the fault"
	}
	return strings.ReplaceAll(k, "_", " ")
}

// findingFigures formats a finding's figures, sorted by name.
func findingFigures(f result.Finding) string {
	var parts []string
	for _, k := range sortedKeys(f.Figures) {
		parts = append(parts, k+"="+fmtNum(f.Figures[k]))
	}
	return strings.Join(parts, ", ")
}

// findingsSorted orders findings by time, then edge.
func findingsSorted(fs []result.Finding) []result.Finding {
	out := append([]result.Finding(nil), fs...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].AtMs != out[j].AtMs {
			return out[i].AtMs < out[j].AtMs
		}
		return out[i].Edge < out[j].Edge
	})
	return out
}

// expectationsOf gives the expectations judged for fidelity row i (the
// engine numbers them expectation/<row>/<metric>); nil when none match.
func expectationsOf(r *result.Result, i int) []result.Hypothesis {
	prefix := fmt.Sprintf("expectation/%d/", i)
	var out []result.Hypothesis
	for _, h := range r.Expectations {
		if strings.HasPrefix(h.ID, prefix) {
			out = append(out, h)
		}
	}
	return out
}
