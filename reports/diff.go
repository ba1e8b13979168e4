package reports

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/outagelab/outagelab/reports/result"
)

// Thresholds say how much worse HEAD may be than BASE before it counts as a
// regression. The zero value means "any worsening"; DefaultThresholds is what
// `outagelab report diff` uses when --max-regression is not given.
type Thresholds struct {
	// MaxSuccessDrop: journey success may fall by at most this many
	// percentage points, as a fraction (0.05 = 5 points).
	MaxSuccessDrop float64
	// MaxP99Increase: a journey's p99 in a window may grow by at most this
	// fraction of BASE (0.05 = +5%) ...
	MaxP99Increase float64
	// ... and a growth smaller than MinP99DeltaMs never counts (noise floor).
	MinP99DeltaMs float64
	// MaxRecoveryIncrease: a component's slowest recovery may grow by at most
	// this fraction of BASE; growth under one bucket never counts.
	MaxRecoveryIncrease float64
	// MaxScoreDrop: the resilience score may fall by at most this many points.
	MaxScoreDrop float64
}

// DefaultThresholds allow 5% (points for success, relative for p99 and
// recovery, 5 score points) with a 5 ms p99 noise floor.
var DefaultThresholds = Thresholds{MaxSuccessDrop: 0.05, MaxP99Increase: 0.05, MinP99DeltaMs: 5, MaxRecoveryIncrease: 0.05, MaxScoreDrop: 5}

// ThresholdsFromPercent applies one figure (e.g. 5 for "5%") to every
// threshold, keeping the p99 noise floor.
func ThresholdsFromPercent(pct float64) Thresholds {
	f := pct / 100
	return Thresholds{MaxSuccessDrop: f, MaxP99Increase: f, MinP99DeltaMs: DefaultThresholds.MinP99DeltaMs, MaxRecoveryIncrease: f, MaxScoreDrop: pct}
}

// DiffResult is what changed from BASE to HEAD.
type DiffResult struct {
	Base, Head     DiffRun
	Thresholds     Thresholds
	ScoreDelta     float64
	ScoreRegressed bool
	Journeys       []JourneyDelta
	Components     []ComponentDelta
	// ScoreParts compares each part of the score (NaN where a side lacks it).
	ScoreParts []ScorePartDelta
	// Hypotheses compares the objectives, matched by id.
	Hypotheses []HypothesisDelta
	// Fidelity compares the replay's claims (fidelity rows) by phase and claim.
	Fidelity []FidelityDelta
	// FidelityGated: both runs gate on fidelity, so a claim no longer
	// reproduced is a regression; otherwise changes are only listed.
	FidelityGated bool
	// FidelityChanges lists, in words, every claim whose outcome changed.
	FidelityChanges []string
	// Regressions lists, in words, every change past a threshold.
	Regressions []string
	// Improvements lists notable changes for the better.
	Improvements []string
}

// DiffRun identifies one side of a diff.
type DiffRun struct {
	RunID, Scenario, Policy, Verdict string
	Score                            float64
	Scored                           bool // false: the run could not judge and has no score
	FidelityGate                     bool
	ObjectivesHeld, Objectives       int
	ClaimsReproduced, Claims         int
}

// ScoreText is the run's score as shown ("51.6" or "no score").
func (r DiffRun) ScoreText() string {
	if !r.Scored {
		return "no score"
	}
	return fmt.Sprintf("%.1f", r.Score)
}

// ScorePartDelta compares one part of the score (0..1; NaN when absent).
type ScorePartDelta struct {
	Part, Label string
	Base, Head  float64
}

// FidelityDelta compares one claim of the source across the two runs.
type FidelityDelta struct {
	Phase, Claim, Expected     string
	Grade                      string
	BaseOutcome, HeadOutcome   string // match, mismatch, not judged; "" when the run lacks the claim
	BaseMeasured, HeadMeasured string
	Changed                    bool
	Regressed                  bool // no longer reproduced, and both runs gate on fidelity
}

// JourneyDelta compares one journey in one region over one window ("run"
// for the whole run, else a phase name).
type JourneyDelta struct {
	Journey, Region, Window  string
	BaseSuccess, HeadSuccess float64 // 0..1; NaN when a side has no data
	BaseP99Ms, HeadP99Ms     float64 // NaN when not measured for the window
	SuccessRegressed         bool
	P99Regressed             bool
	OnlyIn                   string // "base" or "head" when the other lacks it
}

// ComponentDelta compares one component's worst state and slowest recovery.
type ComponentDelta struct {
	Component                      string
	BaseWorst, HeadWorst           string
	BaseRecoveryMs, HeadRecoveryMs int64 // -1: degraded and never recovered; 0: none needed
	WorstRegressed                 bool
	RecoveryRegressed              bool
	OnlyIn                         string
}

// HypothesisDelta compares one objective (matched by ID, else description).
type HypothesisDelta struct {
	ID, Text                   string
	BaseHolds, HeadHolds       bool
	BaseMeasured, HeadMeasured string
	NewlyFailing, NewlyHolding bool
	OnlyIn                     string
}

// Regressed reports whether any change passed its threshold.
func (d *DiffResult) Regressed() bool { return len(d.Regressions) > 0 }

// Diff compares two results of (usually) the same scenario.
func Diff(base, head *result.Result, t Thresholds) DiffResult {
	d := DiffResult{Thresholds: t}
	if base == nil || head == nil {
		d.Regressions = append(d.Regressions, "a result is missing")
		return d
	}
	bs, bok := scoreOf(base)
	hs, hok := scoreOf(head)
	d.Base = diffRun(base, bs, bok)
	d.Head = diffRun(head, hs, hok)
	// A run that could not judge has no score: there is no change to judge.
	if bok && hok {
		d.ScoreDelta = round(hs.Value-bs.Value, 1)
		if -d.ScoreDelta > t.MaxScoreDrop {
			d.ScoreRegressed = true
			d.Regressions = append(d.Regressions, fmt.Sprintf("resilience score fell %.1f → %.1f (more than %.1f points)", bs.Value, hs.Value, t.MaxScoreDrop))
		} else if d.ScoreDelta >= 1 {
			d.Improvements = append(d.Improvements, fmt.Sprintf("resilience score rose %.1f → %.1f", bs.Value, hs.Value))
		}
	}
	diffScoreParts(&d, bs, bok, hs, hok)
	// Objectives and claims first: they name what a reader acts on.
	diffHypotheses(&d, base, head)
	diffFidelity(&d, base, head)
	diffJourneys(&d, base, head, t)
	diffComponents(&d, base, head, t)
	return d
}

func diffRun(r *result.Result, sc result.Score, scored bool) DiffRun {
	dr := DiffRun{RunID: r.RunID, Scenario: scenarioName(r), Policy: r.Scenario.Policy, Verdict: string(verdictOf(r)),
		Score: sc.Value, Scored: scored, FidelityGate: r.FidelityGate}
	dr.ObjectivesHeld, dr.Objectives = countHeld(r.Hypotheses)
	dr.ClaimsReproduced, dr.Claims = expectationCount(r)
	return dr
}

func diffScoreParts(d *DiffResult, bs result.Score, bok bool, hs result.Score, hok bool) {
	var keys []string
	seen := map[string]bool{}
	label := map[string]string{}
	for _, sc := range []struct {
		s  result.Score
		ok bool
	}{{bs, bok}, {hs, hok}} {
		if !sc.ok {
			continue
		}
		for _, p := range scoreParts(sc.s) {
			if !seen[p.Key] {
				seen[p.Key] = true
				keys = append(keys, p.Key)
				label[p.Key] = p.Label
			}
		}
	}
	part := func(s result.Score, ok bool, k string) float64 {
		if v, has := s.Parts[k]; ok && has {
			return v
		}
		return math.NaN()
	}
	for _, k := range keys {
		d.ScoreParts = append(d.ScoreParts, ScorePartDelta{Part: k, Label: label[k], Base: part(bs, bok, k), Head: part(hs, hok, k)})
	}
}

// diffFidelity compares the claims of the source (fidelity rows) by phase
// and claim. A claim no longer reproduced is a regression only when both
// runs gate on fidelity; otherwise it is listed in FidelityChanges.
func diffFidelity(d *DiffResult, base, head *result.Result) {
	d.FidelityGated = base.FidelityGate && head.FidelityGate
	key := func(f result.Fidelity) string {
		c := f.Claim
		if c == "" {
			c = f.Expected
		}
		return f.Phase + "\x00" + c
	}
	hm := map[string]result.Fidelity{}
	for _, f := range head.Scenario.Fidelity {
		hm[key(f)] = f
	}
	seen := map[string]bool{}
	judge := func(fd *FidelityDelta) {
		if fd.BaseOutcome == fd.HeadOutcome {
			return
		}
		fd.Changed = true
		what := fmt.Sprintf("claim %q (%s): %s → %s", fd.Claim, fd.Phase, orDash(fd.BaseOutcome), orDash(fd.HeadOutcome))
		if fd.HeadMeasured != "" {
			what += fmt.Sprintf(" (measured %s", fd.HeadMeasured)
			if fd.BaseMeasured != "" {
				what += ", was " + fd.BaseMeasured
			}
			what += ")"
		}
		switch {
		case d.FidelityGated && fd.BaseOutcome == "match" && fd.HeadOutcome != "match":
			fd.Regressed = true
			d.Regressions = append(d.Regressions, "fidelity "+what)
		case d.FidelityGated && fd.HeadOutcome == "match":
			d.Improvements = append(d.Improvements, "fidelity "+what)
		}
		d.FidelityChanges = append(d.FidelityChanges, what)
	}
	for _, b := range base.Scenario.Fidelity {
		k := key(b)
		if seen[k] {
			continue
		}
		seen[k] = true
		fd := FidelityDelta{Phase: b.Phase, Claim: b.Claim, Expected: b.Expected, Grade: b.Grade, BaseOutcome: fidelityOutcome(b), BaseMeasured: b.Measured}
		if h, ok := hm[k]; ok {
			fd.HeadOutcome, fd.HeadMeasured = fidelityOutcome(h), h.Measured
			if fd.Grade == "" {
				fd.Grade = h.Grade
			}
		}
		judge(&fd)
		d.Fidelity = append(d.Fidelity, fd)
	}
	for _, h := range head.Scenario.Fidelity {
		k := key(h)
		if seen[k] {
			continue
		}
		seen[k] = true
		fd := FidelityDelta{Phase: h.Phase, Claim: h.Claim, Expected: h.Expected, Grade: h.Grade, HeadOutcome: fidelityOutcome(h), HeadMeasured: h.Measured}
		judge(&fd)
		d.Fidelity = append(d.Fidelity, fd)
	}
}

func diffJourneys(d *DiffResult, base, head *result.Result, t Thresholds) {
	type key struct{ name, region string }
	bj, hj := map[key]result.Journey{}, map[key]result.Journey{}
	var keys []key
	for _, j := range base.Journeys {
		k := key{j.Name, j.Region}
		if _, ok := bj[k]; !ok {
			keys = append(keys, k)
		}
		bj[k] = j
	}
	for _, j := range head.Journeys {
		k := key{j.Name, j.Region}
		if _, ok := bj[k]; !ok {
			if _, ok := hj[k]; !ok {
				keys = append(keys, k)
			}
		}
		hj[k] = j
	}
	// Windows compared: the whole run, then every phase both runs played.
	var windows []string
	hp := map[string]bool{}
	for _, p := range head.Phases {
		hp[p.Name] = true
	}
	for _, p := range base.Phases {
		if hp[p.Name] {
			windows = append(windows, p.Name)
		}
	}
	for _, k := range keys {
		b, bok := bj[k]
		h, hok := hj[k]
		if !bok || !hok {
			jd := JourneyDelta{Journey: k.name, Region: k.region, Window: "run", BaseSuccess: math.NaN(), HeadSuccess: math.NaN(), BaseP99Ms: math.NaN(), HeadP99Ms: math.NaN()}
			if bok {
				jd.OnlyIn = "base"
				jd.BaseSuccess, _ = journeySuccess(b)
			} else {
				jd.OnlyIn = "head"
				jd.HeadSuccess, _ = journeySuccess(h)
			}
			d.Journeys = append(d.Journeys, jd)
			continue
		}
		jd := JourneyDelta{Journey: k.name, Region: k.region, Window: "run", BaseP99Ms: math.NaN(), HeadP99Ms: math.NaN()}
		var okB, okH bool
		jd.BaseSuccess, okB = journeySuccess(b)
		jd.HeadSuccess, okH = journeySuccess(h)
		if !okB {
			jd.BaseSuccess = math.NaN()
		}
		if !okH {
			jd.HeadSuccess = math.NaN()
		}
		judgeJourney(d, &jd, t)
		d.Journeys = append(d.Journeys, jd)
		for _, w := range windows {
			bw, bok := b.ByPhase[w]
			hw, hok := h.ByPhase[w]
			if !bok || !hok || bw.Attempts == 0 || hw.Attempts == 0 {
				continue
			}
			jd := JourneyDelta{Journey: k.name, Region: k.region, Window: w, BaseSuccess: bw.SuccessRate, HeadSuccess: hw.SuccessRate, BaseP99Ms: bw.P99Ms, HeadP99Ms: hw.P99Ms}
			judgeJourney(d, &jd, t)
			d.Journeys = append(d.Journeys, jd)
		}
	}
}

func judgeJourney(d *DiffResult, jd *JourneyDelta, t Thresholds) {
	where := fmt.Sprintf("%s in %s (%s)", jd.Journey, jd.Region, windowLabel(jd.Window))
	if !math.IsNaN(jd.BaseSuccess) && !math.IsNaN(jd.HeadSuccess) {
		drop := jd.BaseSuccess - jd.HeadSuccess
		if drop > t.MaxSuccessDrop+1e-9 {
			jd.SuccessRegressed = true
			d.Regressions = append(d.Regressions, fmt.Sprintf("%s success fell %s → %s (−%.1f points)", where, pctStr(jd.BaseSuccess), pctStr(jd.HeadSuccess), drop*100))
		} else if -drop > math.Max(t.MaxSuccessDrop, 0.01) {
			d.Improvements = append(d.Improvements, fmt.Sprintf("%s success rose %s → %s", where, pctStr(jd.BaseSuccess), pctStr(jd.HeadSuccess)))
		}
	}
	if !math.IsNaN(jd.BaseP99Ms) && !math.IsNaN(jd.HeadP99Ms) {
		grow := jd.HeadP99Ms - jd.BaseP99Ms
		if grow > t.MinP99DeltaMs && grow > t.MaxP99Increase*jd.BaseP99Ms {
			jd.P99Regressed = true
			d.Regressions = append(d.Regressions, fmt.Sprintf("%s p99 grew %.0f ms → %.0f ms (+%.0f%%)", where, jd.BaseP99Ms, jd.HeadP99Ms, 100*grow/math.Max(jd.BaseP99Ms, 1)))
		}
	}
}

func windowLabel(w string) string {
	if w == "run" {
		return "whole run"
	}
	return "during " + w
}

func diffComponents(d *DiffResult, base, head *result.Result, t Thresholds) {
	bc, hc := map[string]result.Component{}, map[string]result.Component{}
	var names []string
	for _, c := range base.Components {
		if _, ok := bc[c.Name]; !ok {
			names = append(names, c.Name)
		}
		bc[c.Name] = c
	}
	for _, c := range head.Components {
		if _, ok := bc[c.Name]; !ok {
			if _, ok := hc[c.Name]; !ok {
				names = append(names, c.Name)
			}
		}
		hc[c.Name] = c
	}
	floor := float64(max(base.BucketMillis, head.BucketMillis))
	for _, n := range names {
		b, bok := bc[n]
		h, hok := hc[n]
		cd := ComponentDelta{Component: n}
		if bok {
			cd.BaseWorst, cd.BaseRecoveryMs = worstState(b), recoveryFigure(b)
		}
		if hok {
			cd.HeadWorst, cd.HeadRecoveryMs = worstState(h), recoveryFigure(h)
		}
		switch {
		case !bok:
			cd.OnlyIn = "head"
		case !hok:
			cd.OnlyIn = "base"
		default:
			if stateRank(cd.HeadWorst) > stateRank(cd.BaseWorst) && stateRank(cd.BaseWorst) > 0 {
				cd.WorstRegressed = true
				d.Regressions = append(d.Regressions, fmt.Sprintf("%s got worse: %s → %s", n, cd.BaseWorst, cd.HeadWorst))
			} else if stateRank(cd.HeadWorst) < stateRank(cd.BaseWorst) && stateRank(cd.HeadWorst) > 0 {
				d.Improvements = append(d.Improvements, fmt.Sprintf("%s got better: %s → %s", n, cd.BaseWorst, cd.HeadWorst))
			}
			switch {
			case cd.HeadRecoveryMs < 0 && cd.BaseRecoveryMs >= 0:
				cd.RecoveryRegressed = true
				d.Regressions = append(d.Regressions, fmt.Sprintf("%s did not recover in the run (base: %s)", n, recoveryText(cd.BaseRecoveryMs)))
			case cd.HeadRecoveryMs >= 0 && cd.BaseRecoveryMs >= 0:
				grow := float64(cd.HeadRecoveryMs - cd.BaseRecoveryMs)
				if grow > floor && grow > t.MaxRecoveryIncrease*float64(cd.BaseRecoveryMs) {
					cd.RecoveryRegressed = true
					d.Regressions = append(d.Regressions, fmt.Sprintf("%s recovered slower: %s → %s", n, fmtMs(cd.BaseRecoveryMs), fmtMs(cd.HeadRecoveryMs)))
				} else if -grow > floor && -grow > 0.2*float64(cd.BaseRecoveryMs) {
					d.Improvements = append(d.Improvements, fmt.Sprintf("%s recovered faster: %s → %s", n, fmtMs(cd.BaseRecoveryMs), fmtMs(cd.HeadRecoveryMs)))
				}
			case cd.HeadRecoveryMs >= 0 && cd.BaseRecoveryMs < 0:
				d.Improvements = append(d.Improvements, fmt.Sprintf("%s now recovers (%s)", n, fmtMs(cd.HeadRecoveryMs)))
			}
		}
		d.Components = append(d.Components, cd)
	}
	sort.SliceStable(d.Components, func(i, j int) bool {
		a, b := d.Components[i], d.Components[j]
		ra := a.WorstRegressed || a.RecoveryRegressed
		rb := b.WorstRegressed || b.RecoveryRegressed
		if ra != rb {
			return ra
		}
		return stateRank(a.HeadWorst) > stateRank(b.HeadWorst)
	})
}

// recoveryFigure: slowest recovery in ms, -1 when a degradation never
// recovered, 0 when nothing needed recovering.
func recoveryFigure(c result.Component) int64 {
	ms, recovered, any := maxRecovery(c)
	switch {
	case !any:
		return 0
	case !recovered:
		return -1
	}
	return ms
}

func recoveryText(ms int64) string {
	if ms < 0 {
		return "not recovered"
	}
	if ms == 0 {
		return "–"
	}
	return fmtMs(ms)
}

func diffHypotheses(d *DiffResult, base, head *result.Result) {
	key := func(h result.Hypothesis) string {
		if h.ID != "" {
			return "id:" + h.ID
		}
		return "text:" + hypothesisText(h)
	}
	hm := map[string]result.Hypothesis{}
	for _, h := range head.Hypotheses {
		hm[key(h)] = h
	}
	seen := map[string]bool{}
	for _, b := range base.Hypotheses {
		k := key(b)
		seen[k] = true
		h, ok := hm[k]
		hd := HypothesisDelta{ID: b.ID, Text: hypothesisText(b), BaseHolds: b.Holds, BaseMeasured: objectiveMeasured(b)}
		if !ok {
			hd.OnlyIn = "base"
			d.Hypotheses = append(d.Hypotheses, hd)
			continue
		}
		hd.HeadHolds, hd.HeadMeasured = h.Holds, objectiveMeasured(h)
		if b.Holds && !h.Holds {
			hd.NewlyFailing = true
			d.Regressions = append(d.Regressions, fmt.Sprintf("objective %s now fails: %s (measured %s, was %s)", b.ID, hd.Text, hd.HeadMeasured, hd.BaseMeasured))
		}
		if !b.Holds && h.Holds {
			hd.NewlyHolding = true
			d.Improvements = append(d.Improvements, fmt.Sprintf("objective %s now holds: %s", b.ID, hd.Text))
		}
		d.Hypotheses = append(d.Hypotheses, hd)
	}
	for _, h := range head.Hypotheses {
		if k := key(h); !seen[k] {
			seen[k] = true
			hd := HypothesisDelta{ID: h.ID, Text: hypothesisText(h), HeadHolds: h.Holds, HeadMeasured: objectiveMeasured(h), OnlyIn: "head"}
			if !h.Holds {
				hd.NewlyFailing = true
				d.Regressions = append(d.Regressions, fmt.Sprintf("new objective %s fails: %s (measured %s)", h.ID, hd.Text, hd.HeadMeasured))
			}
			d.Hypotheses = append(d.Hypotheses, hd)
		}
	}
}

// DiffMarkdown writes d as Markdown: the score with its parts, objectives
// and the replay's claims side by side, then journeys and components.
func DiffMarkdown(w io.Writer, d DiffResult) error {
	b := bufio.NewWriter(w)
	icon := "✅"
	verdict := "no regression past the thresholds"
	if d.Regressed() {
		icon, verdict = "❌", fmt.Sprintf("%d regression(s) past the thresholds", len(d.Regressions))
	}
	fmt.Fprintf(b, "## %s Outage Lab diff: %s\n\n", icon, verdict)
	fmt.Fprintf(b, "| | base | head |\n|---|---|---|\n")
	fmt.Fprintf(b, "| run | `%s` | `%s` |\n", mdCode(d.Base.RunID), mdCode(d.Head.RunID))
	fmt.Fprintf(b, "| scenario | %s | %s |\n", mdCell(d.Base.Scenario), mdCell(d.Head.Scenario))
	fmt.Fprintf(b, "| policy | %s | %s |\n", mdCell(d.Base.Policy), mdCell(d.Head.Policy))
	fmt.Fprintf(b, "| verdict | %s | %s |\n", mdCell(d.Base.Verdict), mdCell(d.Head.Verdict))
	if d.Base.Scored && d.Head.Scored {
		fmt.Fprintf(b, "| score | %.1f | %.1f (%+.1f) |\n", d.Base.Score, d.Head.Score, d.ScoreDelta)
	} else {
		fmt.Fprintf(b, "| score | %s | %s |\n", d.Base.ScoreText(), d.Head.ScoreText())
	}
	for _, p := range d.ScoreParts {
		fmt.Fprintf(b, "| · %s | %s | %s |\n", mdText(p.Label), fmtPct(p.Base), partDelta(p))
	}
	fmt.Fprintf(b, "| objectives held | %d/%d | %d/%d |\n", d.Base.ObjectivesHeld, d.Base.Objectives, d.Head.ObjectivesHeld, d.Head.Objectives)
	if d.Base.Claims > 0 || d.Head.Claims > 0 {
		fmt.Fprintf(b, "| claims reproduced | %s | %s |\n", claimsText(d.Base), claimsText(d.Head))
	}
	b.WriteString("\n")
	if len(d.Regressions) > 0 {
		b.WriteString("### Regressions\n\n")
		for i, s := range d.Regressions {
			if i == 25 {
				fmt.Fprintf(b, "- … and %d more (see the tables below)\n", len(d.Regressions)-i)
				break
			}
			fmt.Fprintf(b, "- %s\n", mdText(s))
		}
		b.WriteString("\n")
	}
	if len(d.Improvements) > 0 {
		b.WriteString("### Improvements\n\n")
		for i, s := range d.Improvements {
			if i == 25 {
				fmt.Fprintf(b, "- … and %d more\n", len(d.Improvements)-i)
				break
			}
			fmt.Fprintf(b, "- %s\n", mdText(s))
		}
		b.WriteString("\n")
	}
	if len(d.Hypotheses) > 0 {
		b.WriteString("### Objectives\n\n| objective | base | head |\n|---|---|---|\n")
		for _, h := range d.Hypotheses {
			mark := ""
			if h.NewlyFailing {
				mark = " ❌"
			}
			fmt.Fprintf(b, "| %s%s | %s | %s |\n", mdCell(strings.TrimPrefix(h.ID+": ", ": ")+h.Text), mark, holdText(h.BaseHolds, h.BaseMeasured, h.OnlyIn == "head"), holdText(h.HeadHolds, h.HeadMeasured, h.OnlyIn == "base"))
		}
		b.WriteString("\n")
	}
	if len(d.Fidelity) > 0 {
		b.WriteString("### Fidelity: the source's claims\n\n")
		if d.FidelityGated {
			b.WriteString("Both runs gate on fidelity: a claim no longer reproduced is a regression.\n\n")
		} else {
			b.WriteString("Listed, not gated: fidelity changes gate the diff only when both runs used --fidelity-gate.\n\n")
		}
		b.WriteString("| phase | the source says | grade | base | head |\n|---|---|---|---|---|\n")
		for _, f := range d.Fidelity {
			mark := ""
			switch {
			case f.Regressed:
				mark = " ❌"
			case f.Changed:
				mark = " ⚠️"
			}
			fmt.Fprintf(b, "| %s | %s%s | %s | %s | %s |\n", mdCell(f.Phase), mdCell(f.Claim), mark, mdCell(gradeText(f.Grade)),
				fidelityCell(f.BaseOutcome, f.BaseMeasured), fidelityCell(f.HeadOutcome, f.HeadMeasured))
		}
		b.WriteString("\n")
	}
	b.WriteString("### Journeys\n\n| journey | region | window | success base → head | p99 base → head |\n|---|---|---|---:|---:|\n")
	for _, j := range d.Journeys {
		mark := ""
		if j.SuccessRegressed || j.P99Regressed {
			mark = " ❌"
		}
		fmt.Fprintf(b, "| %s%s | %s | %s | %s | %s |\n", mdCell(j.Journey), mark, mdCell(j.Region), mdCell(windowLabel(j.Window)),
			arrow(fmtPct(j.BaseSuccess), fmtPct(j.HeadSuccess)), arrow(fmtP99(j.BaseP99Ms), fmtP99(j.HeadP99Ms)))
	}
	b.WriteString("\n### Components\n\n| component | worst base → head | slowest recovery base → head |\n|---|---|---:|\n")
	for _, c := range d.Components {
		mark := ""
		if c.WorstRegressed || c.RecoveryRegressed {
			mark = " ❌"
		}
		fmt.Fprintf(b, "| %s%s | %s | %s |\n", mdCell(c.Component), mark, arrow(orDash(c.BaseWorst), orDash(c.HeadWorst)), arrow(recoveryText(c.BaseRecoveryMs), recoveryText(c.HeadRecoveryMs)))
	}
	t := d.Thresholds
	fmt.Fprintf(b, "\nThresholds: success −%.1f points, p99 +%.0f%% (and > %.0f ms), recovery +%.0f%%, score −%.1f points; an objective that held and now fails always regresses.\n",
		t.MaxSuccessDrop*100, t.MaxP99Increase*100, t.MinP99DeltaMs, t.MaxRecoveryIncrease*100, t.MaxScoreDrop)
	return b.Flush()
}

// partDelta is a score part's head value with its change in points.
func partDelta(p ScorePartDelta) string {
	if math.IsNaN(p.Head) {
		return "–"
	}
	if math.IsNaN(p.Base) {
		return pctStr(p.Head)
	}
	return fmt.Sprintf("%s (%+.1f)", pctStr(p.Head), (p.Head-p.Base)*100)
}

func claimsText(r DiffRun) string {
	if r.Claims == 0 {
		return "–"
	}
	s := fmt.Sprintf("%d/%d", r.ClaimsReproduced, r.Claims)
	if r.FidelityGate {
		s += " (gating)"
	}
	return s
}

// fidelityCell is one run's outcome of a claim, with what it measured.
func fidelityCell(outcome, measured string) string {
	var s string
	switch outcome {
	case "":
		return "–"
	case "match":
		s = "✅ match"
	case "mismatch":
		s = "❌ mismatch"
	default:
		s = "➖ " + outcome
	}
	if measured != "" {
		s += " (" + mdText(measured) + ")"
	}
	return s
}

func holdText(holds bool, measured string, absent bool) string {
	if absent {
		return "–"
	}
	s := "✅ held"
	if !holds {
		s = "❌ failed"
	}
	if measured != "" {
		s += " (" + mdText(measured) + ")"
	}
	return s
}

func arrow(a, b string) string {
	if a == b {
		return a
	}
	return a + " → " + b
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func fmtPct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return pctStr(v)
}

func fmtP99(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f ms", v)
}

var diffTmpl = template.Must(template.New("diff").Funcs(template.FuncMap{
	"css":    func() template.CSS { return template.CSS(styleCSS) },
	"pct":    fmtPct,
	"p99":    fmtP99,
	"rec":    recoveryText,
	"window": windowLabel,
	"dash":   orDash,
	"part":   partDelta,
	"claims": claimsText,
	"grade":  gradeText,
	"slice2": func(a, b string) []string { return []string{a, b} },
	"delta":  func(d DiffResult) string { return fmt.Sprintf("%+.1f", d.ScoreDelta) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark">
<title>Outage Lab diff · {{.Head.Scenario}}</title><style>{{css}}</style></head>
<body><header class="top {{if .Regressed}}v-fail{{else}}v-pass{{end}}"><div class="wrap head-grid"><div class="head-main">
<p class="kicker">Outage Lab run-to-run diff</p><h1>{{.Head.Scenario}}</h1>
<p class="sub">base <code>{{.Base.RunID}}</code> ({{dash .Base.Policy}}, {{.Base.Verdict}}) → head <code>{{.Head.RunID}}</code> ({{dash .Head.Policy}}, {{.Head.Verdict}})</p></div>
<div class="verdict" role="status"><div class="verdict-word">{{if .Regressed}}REGRESSED{{else}}OK{{end}}</div>{{if and .Base.Scored .Head.Scored}}<div class="score"><span class="score-num">{{delta .}}</span></div>{{end}}<div class="score-cap">score {{.Base.ScoreText}} → {{.Head.ScoreText}}</div></div></div></header>
<nav class="wrap toc" aria-label="sections"><a href="#score">Score</a>{{if .Hypotheses}}<a href="#objectives">Objectives</a>{{end}}{{if .Fidelity}}<a href="#fidelity">Fidelity</a>{{end}}<a href="#journeys">Journeys</a><a href="#components">Components</a></nav>
<main class="wrap">
{{if .Regressions}}<section><h2>Regressions</h2><ul>{{range .Regressions}}<li>{{.}}</li>{{end}}</ul></section>{{end}}
{{if .Improvements}}<section><h2>Improvements</h2><ul>{{range .Improvements}}<li>{{.}}</li>{{end}}</ul></section>{{end}}
<section id="score"><h2>Score</h2><div class="scroll"><table><thead><tr><th></th><th class="num">base</th><th class="num">head</th></tr></thead><tbody>
<tr{{if .ScoreRegressed}} class="bad"{{end}}><td><b>resilience score</b></td><td class="num">{{.Base.ScoreText}}</td><td class="num"><b>{{.Head.ScoreText}}</b>{{if and .Base.Scored .Head.Scored}} ({{delta .}}){{end}}</td></tr>
{{range .ScoreParts}}<tr><td>{{.Label}}</td><td class="num">{{pct .Base}}</td><td class="num">{{part .}}</td></tr>{{end}}
<tr><td>objectives held</td><td class="num">{{.Base.ObjectivesHeld}}/{{.Base.Objectives}}</td><td class="num">{{.Head.ObjectivesHeld}}/{{.Head.Objectives}}</td></tr>
{{if or .Base.Claims .Head.Claims}}<tr><td>claims reproduced</td><td class="num">{{claims .Base}}</td><td class="num">{{claims .Head}}</td></tr>{{end}}
</tbody></table></div></section>
{{if .Hypotheses}}<section id="objectives"><h2>Objectives</h2><div class="scroll"><table><thead><tr><th>objective</th><th>base</th><th>head</th></tr></thead><tbody>
{{range .Hypotheses}}<tr{{if .NewlyFailing}} class="bad"{{end}}><td><code>{{.ID}}</code> {{.Text}}</td><td>{{if eq .OnlyIn "head"}}–{{else if .BaseHolds}}<span class="ok-mark" aria-label="held">✓</span> {{.BaseMeasured}}{{else}}<span class="bad-mark" aria-label="failed">✗</span> {{.BaseMeasured}}{{end}}</td><td>{{if eq .OnlyIn "base"}}–{{else if .HeadHolds}}<span class="ok-mark" aria-label="held">✓</span> {{.HeadMeasured}}{{else}}<span class="bad-mark" aria-label="failed">✗</span> {{.HeadMeasured}}{{end}}</td></tr>{{end}}
</tbody></table></div></section>{{end}}
{{if .Fidelity}}<section id="fidelity"><h2>Fidelity: the source's claims</h2>
<p class="hint">{{if .FidelityGated}}Both runs gate on fidelity: a claim no longer reproduced is a regression.{{else}}Listed, not gated: fidelity changes gate the diff only when both runs used --fidelity-gate.{{end}}</p>
<div class="scroll"><table><thead><tr><th>phase</th><th>the source says</th><th>grade</th><th>base</th><th>head</th></tr></thead><tbody>
{{range .Fidelity}}<tr class="{{if .Regressed}}bad{{else if .Changed}}hot{{end}}"><td>{{.Phase}}</td><td class="wrapcell">{{.Claim}}{{if .Changed}} <span class="pill approx">changed</span>{{end}}</td><td><span class="pill grade g-{{grade .Grade}}">{{grade .Grade}}</span></td><td>{{template "fid" (slice2 .BaseOutcome .BaseMeasured)}}</td><td>{{template "fid" (slice2 .HeadOutcome .HeadMeasured)}}</td></tr>{{end}}
</tbody></table></div></section>{{end}}
<section id="journeys"><h2>Journeys</h2><div class="scroll"><table><thead><tr><th>journey</th><th>region</th><th>window</th><th class="num">success base</th><th class="num">success head</th><th class="num">p99 base</th><th class="num">p99 head</th></tr></thead><tbody>
{{range .Journeys}}<tr{{if or .SuccessRegressed .P99Regressed}} class="bad"{{end}}><td>{{.Journey}}</td><td>{{.Region}}</td><td>{{window .Window}}</td><td class="num">{{pct .BaseSuccess}}</td><td class="num">{{if .SuccessRegressed}}<b>{{pct .HeadSuccess}}</b>{{else}}{{pct .HeadSuccess}}{{end}}</td><td class="num">{{p99 .BaseP99Ms}}</td><td class="num">{{if .P99Regressed}}<b>{{p99 .HeadP99Ms}}</b>{{else}}{{p99 .HeadP99Ms}}{{end}}</td></tr>{{end}}
</tbody></table></div></section>
<section id="components"><h2>Components</h2><div class="scroll"><table><thead><tr><th>component</th><th>worst base</th><th>worst head</th><th class="num">recovery base</th><th class="num">recovery head</th></tr></thead><tbody>
{{range .Components}}<tr{{if or .WorstRegressed .RecoveryRegressed}} class="bad"{{end}}><td>{{.Component}}</td><td><span class="dot st-{{dash .BaseWorst}}"></span>{{dash .BaseWorst}}</td><td><span class="dot st-{{dash .HeadWorst}}"></span>{{dash .HeadWorst}}</td><td class="num">{{rec .BaseRecoveryMs}}</td><td class="num">{{rec .HeadRecoveryMs}}</td></tr>{{end}}
</tbody></table></div></section>
</main><footer class="wrap foot">Rendered by Outage Lab from two result.json files. Self-contained: no scripts, no external resources.</footer></body></html>
{{define "fid"}}{{$o := index . 0}}{{$m := index . 1}}{{if eq $o ""}}–{{else if eq $o "match"}}<span class="ok-mark" aria-hidden="true">✓</span> match{{else if eq $o "mismatch"}}<span class="bad-mark" aria-hidden="true">✗</span> mismatch{{else}}<span class="na-mark" aria-hidden="true">–</span> {{$o}}{{end}}{{if $m}} ({{$m}}){{end}}{{end}}
`))

// DiffHTML writes d as a self-contained HTML page.
func DiffHTML(w io.Writer, d DiffResult) error {
	if err := diffTmpl.Execute(w, &d); err != nil {
		return fmt.Errorf("render diff html: %w", err)
	}
	return nil
}
