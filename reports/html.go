package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

//go:embed html.tmpl
var htmlTemplate string

//go:embed style.css
var styleCSS string

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"css": func() template.CSS { return template.CSS(styleCSS) },
}).Parse(htmlTemplate))

// chartPoints caps the points of one line in a chart: more would not show
// at 1280 px and would only make the file larger.
const chartPoints = 240

type kv struct{ K, V string }

type link struct {
	URL  template.URL
	Text string
}

type page struct {
	Title, Name, Date, Summary string
	Sources                    []link
	Verdict, VerdictClass      string
	Score                      string
	Scored                     bool
	ScoreParts                 []scorePart
	Budget                     []budgetRow
	ScoreFormula               string
	Status, StatusReason       string
	Incomplete                 bool
	Meta                       []kv
	HypHeld, HypTotal          int
	InvHeld, InvTotal          int
	ExpHeld, ExpTotal          int
	WorstCount                 int
	Phases                     []phaseView
	Heatmap                    template.HTML
	HeatmapRows                []heatRow
	JourneyCards               []chartCard
	RegionCards                []chartCard
	Graph                      template.HTML
	Cascade                    []cascadeView
	Lags                       []lagView
	Edges                      []edgeView
	EdgePhases                 []string
	Hypotheses                 []hypView
	Invariants                 []invView
	Fidelity                   []fidView
	FidelityGate               bool
	FidelityGateText           string
	Expectations               []hypView
	Findings                   []findingView
	Monitoring                 *monView
	Environment                []kv
	Blast                      []result.BlastRadius
	Load                       []kv
	Events                     []eventView
	Timeline                   template.HTML
	Notes                      []noteView
}

type phaseView struct {
	Name, Note, IncidentAt, IncidentFor, From, To, Skew string
	SourceTime, Grade, GradeHint                        string
	Approximate                                         bool
	Faults                                              []faultView
}

type faultView struct {
	ID, Kind, Targets, Params, Applied, Removed, Error string
}

type heatRow struct {
	Name, Region, Worst, Healthy, Degraded, Down string
}

type chartCard struct {
	Title           string
	Success, P99    template.HTML
	Rows            []windowRow
	SuccessRun, Att string
}

type windowRow struct {
	Window, Success, P50, P99, Attempts string
}

type cascadeView struct {
	N                          int
	Component, At, Cause, Edge string
}

type lagView struct {
	Component, Region, Worst, Detection, Recovery, Faults string
	DetPct, RecPct                                        float64
	NotRecovered                                          bool
}

type edgeView struct {
	Name, From, To, Amp string
	Pct                 float64
	Hot                 bool
	ByPhase             []string
}

type hypView struct {
	ID, Text, Kind, Phase, Expected, Measured string
	Samples                                   int64
	Holds                                     bool
}

// fidView is one fidelity row: a claim of the source vs the replay.
type fidView struct {
	Phase, SourceTime, RunAt, Claim, Expected, Measured string
	Outcome, Class                                      string // match|mismatch|not judged; good|bad|na
	Grade, GradeHint                                    string
	Approximate                                         bool
	Checks                                              []hypView // the expectations judged for it
}

type findingView struct {
	Kind, KindText, Edge, Phase, At, Evidence, Figures, Threshold, Fix string
}

type invView struct {
	Name, Details, Violations string
	Checked                   int64
	Holds                     bool
}

type monView struct {
	Chart                    template.HTML
	Summary, Component, Dark string
}

type eventView struct{ At, Kind, Message, Actor, Class string }

type noteView struct{ At, Author, Role, Text string }

// HTML writes r as one self-contained HTML page: inline CSS and SVG, no
// scripts, no fetches; the only outside links are the scenario's sources.
func HTML(w io.Writer, r *result.Result) error {
	p := buildPage(r)
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	return nil
}

func buildPage(r *result.Result) *page {
	p := &page{Name: scenarioName(r), Title: r.Scenario.Title, Date: r.Scenario.Date, Summary: r.Scenario.Summary}
	if p.Title == "" {
		p.Title = p.Name
	}
	for _, s := range r.Scenario.Sources {
		if u, err := url.Parse(s); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
			p.Sources = append(p.Sources, link{URL: template.URL(u.String()), Text: s})
		} else {
			p.Sources = append(p.Sources, link{Text: s})
		}
	}
	v := verdictOf(r)
	p.Verdict, p.VerdictClass = strings.ToUpper(string(v)), "v-"+string(v)
	sc, scored := scoreOf(r)
	p.Score, p.Scored = "–", scored
	if scored {
		p.Score = fmt.Sprintf("%.1f", sc.Value)
		p.ScoreParts = scoreParts(sc)
		p.Budget = budgetRows(sc)
	}
	p.ScoreFormula = sc.Formula
	p.Status, p.StatusReason = r.Status.State, r.Status.Reason
	p.Incomplete = p.Status != "" && p.Status != "completed"
	p.HypHeld, p.HypTotal = countHeld(r.Hypotheses)
	p.ExpHeld, p.ExpTotal = expectationCount(r)
	for _, in := range r.Invariants {
		if in.Passed() {
			p.InvHeld++
		}
	}
	p.InvTotal = len(r.Invariants)
	p.WorstCount = len(worstComponents(r, math.MaxInt))
	add := func(k, v string) {
		if v != "" {
			p.Meta = append(p.Meta, kv{k, v})
		}
	}
	add("run", r.RunID)
	add("policy", r.Scenario.Policy)
	add("runtime", r.Scenario.Runtime)
	if r.Scenario.TimeScale > 0 {
		add("time scale", fmt.Sprintf("%g× (one incident hour plays in %s)", r.Scenario.TimeScale, fmtDur(time.Duration(float64(time.Hour)/r.Scenario.TimeScale))))
	}
	add("seed", fmt.Sprint(r.Scenario.Seed))
	if !r.StartedAt.IsZero() {
		add("started", r.StartedAt.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	if d := runDuration(r); d > 0 {
		add("duration", fmtDur(d))
	}
	add("buckets", fmt.Sprintf("%d × %s", seriesLen(r), bucketDur(r)))
	add("scenario file", r.Scenario.File)

	n := seriesLen(r)
	tl := timeline{n: n, bucket: bucketDur(r), start: r.StartedAt, phases: r.Phases}
	if n == 0 && runDuration(r) > 0 {
		tl.n = int(runDuration(r) / tl.bucket)
	}
	for _, ph := range r.Phases {
		pv := phaseView{Name: ph.Name, Note: ph.Note, IncidentAt: ph.IncidentAt, IncidentFor: ph.IncidentFor, Approximate: ph.Approximate,
			SourceTime: ph.SourceTime, Grade: ph.SourceGrade}
		if pv.Grade != "" {
			pv.GradeHint = gradeHint(pv.Grade)
		}
		if !ph.StartedAt.IsZero() {
			pv.From = fmtOffset(ph.StartedAt.Sub(r.StartedAt))
		}
		if !ph.EndedAt.IsZero() {
			pv.To = fmtOffset(ph.EndedAt.Sub(r.StartedAt))
		}
		if len(ph.Faults) > 1 {
			pv.Skew = fmt.Sprintf("%.1f ms", ph.ApplySkewMs)
		}
		for _, f := range ph.Faults {
			fv := faultView{ID: f.ID, Kind: f.Kind, Targets: strings.Join(f.Targets, ", "), Params: fmtParams(f.Params), Error: f.Error}
			if f.AppliedAt != nil {
				fv.Applied = fmtOffsetMs(f.AppliedAt.Sub(r.StartedAt))
			} else {
				fv.Applied = "never"
			}
			if f.RemovedAt != nil {
				fv.Removed = fmtOffsetMs(f.RemovedAt.Sub(r.StartedAt))
			} else {
				fv.Removed = "not removed"
			}
			pv.Faults = append(pv.Faults, fv)
		}
		p.Phases = append(p.Phases, pv)
	}

	comps := orderedComponents(r)
	if len(comps) > 0 && tl.n > 0 {
		p.Heatmap = heatmap("heatmap", comps, tl)
	}
	for _, c := range comps {
		dg, dn := unhealthyBuckets(c)
		healthy := 0
		for _, s := range c.State {
			if s == "healthy" {
				healthy++
			}
		}
		p.HeatmapRows = append(p.HeatmapRows, heatRow{Name: c.Name, Region: c.Region, Worst: worstState(c),
			Healthy: fmtOffset(tl.bucket * time.Duration(healthy)), Degraded: fmtOffset(tl.bucket * time.Duration(dg)), Down: fmtOffset(tl.bucket * time.Duration(dn))})
	}

	buildJourneyCharts(p, r, tl)
	p.Graph = depGraph("depgraph", r)
	for k, s := range r.Cascade {
		cause := s.Cause
		p.Cascade = append(p.Cascade, cascadeView{N: k + 1, Component: s.Component, At: fmtOffsetMs(time.Duration(s.AtMs) * time.Millisecond), Cause: cause, Edge: s.Edge})
	}
	buildLags(p, r)
	buildEdges(p, r)
	for _, h := range r.Hypotheses {
		p.Hypotheses = append(p.Hypotheses, hypViewOf(h))
	}
	for _, h := range r.Expectations {
		p.Expectations = append(p.Expectations, hypViewOf(h))
	}
	for _, in := range r.Invariants {
		iv := invView{Name: in.Name, Details: in.Details, Checked: in.Checked, Holds: in.Holds}
		vs := in.Violations
		if len(vs) > 20 {
			iv.Violations = strings.Join(vs[:20], ", ") + fmt.Sprintf(" and %d more", len(vs)-20)
		} else {
			iv.Violations = strings.Join(vs, ", ")
		}
		p.Invariants = append(p.Invariants, iv)
	}
	p.FidelityGate, p.FidelityGateText = r.FidelityGate, fidelityGateText(r)
	for i, f := range r.Scenario.Fidelity {
		fv := fidView{Phase: f.Phase, SourceTime: sourceTimeText(f.SourceTime, f.Approximate), RunAt: runAtText(f.RunAt), Claim: f.Claim,
			Expected: f.Expected, Measured: f.Measured, Outcome: fidelityOutcome(f), Grade: gradeText(f.Grade), GradeHint: gradeHint(f.Grade),
			Approximate: f.Approximate}
		switch fv.Outcome {
		case "match":
			fv.Class = "good"
		case "mismatch":
			fv.Class = "bad"
		default:
			fv.Class = "na"
		}
		if fv.Measured == "" {
			fv.Measured = "–"
		}
		for _, h := range expectationsOf(r, i) {
			fv.Checks = append(fv.Checks, hypViewOf(h))
		}
		p.Fidelity = append(p.Fidelity, fv)
	}
	for _, f := range findingsSorted(r.Findings) {
		p.Findings = append(p.Findings, findingView{Kind: f.Kind, KindText: findingKindText(f.Kind), Edge: f.Edge, Phase: f.Phase,
			At: fmtOffsetMs(time.Duration(f.AtMs) * time.Millisecond), Evidence: f.Evidence, Figures: findingFigures(f), Threshold: f.Threshold, Fix: f.Fix})
	}
	if m := r.Monitoring; m != nil {
		mv := &monView{Summary: m.Summary, Component: m.Component, Dark: fmt.Sprintf("%d buckets (%s)", m.DarkBuckets, fmtDur(bucketDur(r)*time.Duration(m.DarkBuckets)))}
		if tl.n > 0 && (len(m.SawUnhealthy) > 0 || len(m.TrueUnhealthy) > 0) {
			g := groupSize(tl.n, chartPoints)
			mv.Chart = lineChart("monitoring", "Unhealthy components: monitoring vs truth",
				"Per bucket, how many components the in-band monitoring reported unhealthy (gaps: monitoring could not answer) and how many the recorder measured unhealthy out of band.",
				[]line{{name: "monitoring saw", class: "s-saw", vals: intSeries(m.SawUnhealthy, tl.n, g)}, {name: "measured (truth)", class: "s-truth", vals: intSeries(m.TrueUnhealthy, tl.n, g)}},
				tl, 0, "", darkBuckets(m.SawUnhealthy, tl.n, g)...)
		}
		p.Monitoring = mv
	}
	p.Blast = r.BlastRadius
	if l := r.Load; l != nil {
		var rates []string
		for _, reg := range sortedKeys(l.Rates) {
			rates = append(rates, fmt.Sprintf("%s %.0f/s", reg, l.Rates[reg]))
		}
		p.Load = []kv{{"arrival rates", strings.Join(rates, ", ")}, {"sent", fmt.Sprint(l.Sent)}, {"late", fmt.Sprint(l.Late)}, {"dropped", fmt.Sprint(l.Dropped)},
			{"schedule error p50 / p99 / max", fmt.Sprintf("%.2f / %.2f / %.2f ms", l.ScheduleErrP50Ms, l.ScheduleErrP99Ms, l.ScheduleErrMaxMs)},
			{"max in flight", fmt.Sprint(l.MaxInFlight)}, {"acknowledged orders", fmt.Sprint(l.AcknowledgedOrders)}}
	}
	e := r.Environment
	for _, item := range []kv{{"runtime", e.Runtime}, {"outagelab", e.OutageLab}, {"go", e.GoVersion}, {"os/arch", strings.Trim(e.OS+"/"+e.Arch, "/")},
		{"cpus", nonZero(e.CPUs)}, {"hostname", e.Hostname}, {"docker", e.DockerVersion}, {"toxiproxy", e.ToxiproxyVersion}, {"schema", r.SchemaVersion}} {
		if item.V != "" {
			p.Environment = append(p.Environment, item)
		}
	}
	imgs := make([]string, 0, len(e.Images))
	for k := range e.Images {
		imgs = append(imgs, k)
	}
	sort.Strings(imgs)
	for _, k := range imgs {
		p.Environment = append(p.Environment, kv{"image " + k, e.Images[k]})
	}
	for _, ev := range r.Events {
		p.Events = append(p.Events, eventView{At: fmtOffsetMs(ev.At.Sub(r.StartedAt)), Kind: ev.Kind, Message: ev.Message, Actor: ev.Actor, Class: eventClass(ev)})
	}
	p.Timeline = eventTimeline("timeline", r.Events, tl)
	for _, nt := range r.Notes {
		p.Notes = append(p.Notes, noteView{At: fmtOffset(nt.At.Sub(r.StartedAt)), Author: nt.Author, Role: nt.Role, Text: nt.Text})
	}
	return p
}

func hypViewOf(h result.Hypothesis) hypView {
	return hypView{ID: h.ID, Text: hypothesisText(h), Kind: strings.ReplaceAll(h.Kind, "_", " "), Phase: h.Phase,
		Expected: objectiveExpected(h), Measured: objectiveMeasured(h), Samples: h.Samples, Holds: h.Holds}
}

// orderedComponents sorts components by region (topology order), then
// plane/kind group, then the topology's own order.
func orderedComponents(r *result.Result) []result.Component {
	regionIdx := map[string]int{}
	for i, reg := range r.Topology.Regions {
		regionIdx[reg] = i
	}
	topoIdx := map[string]int{}
	for i, c := range r.Topology.Components {
		topoIdx[c.Name] = i
	}
	cs := append([]result.Component(nil), r.Components...)
	key := func(c result.Component) (int, string, int) {
		ri, ok := regionIdx[c.Region]
		if !ok {
			ri = len(regionIdx)
		}
		ti, ok := topoIdx[c.Name]
		if !ok {
			ti = len(topoIdx)
		}
		return ri, c.Region, ti
	}
	sort.SliceStable(cs, func(i, j int) bool {
		ai, ar, at := key(cs[i])
		bi, br, bt := key(cs[j])
		if ai != bi {
			return ai < bi
		}
		if ar != br {
			return ar < br
		}
		return at < bt
	})
	return cs
}

func buildJourneyCharts(p *page, r *result.Result, tl timeline) {
	if tl.n == 0 || len(r.Journeys) == 0 {
		return
	}
	g := groupSize(tl.n, chartPoints)
	var names, regions []string
	byName := map[string][]result.Journey{}
	byRegion := map[string][]result.Journey{}
	for _, j := range r.Journeys {
		if _, ok := byName[j.Name]; !ok {
			names = append(names, j.Name)
		}
		if _, ok := byRegion[j.Region]; !ok {
			regions = append(regions, j.Region)
		}
		byName[j.Name] = append(byName[j.Name], j)
		byRegion[j.Region] = append(byRegion[j.Region], j)
	}
	// One colour per region and per journey on every chart, so a colour
	// means the same thing from card to card.
	regionCls, nameCls := map[string]string{}, map[string]string{}
	for _, reg := range r.Topology.Regions {
		if _, ok := byRegion[reg]; ok {
			regionCls[reg] = fmt.Sprintf("s%d", len(regionCls)%8)
		}
	}
	for _, reg := range regions {
		if _, ok := regionCls[reg]; !ok {
			regionCls[reg] = fmt.Sprintf("s%d", len(regionCls)%8)
		}
	}
	for i, name := range names {
		nameCls[name] = fmt.Sprintf("s%d", i%8)
	}
	windows := windowNames(r)
	per := fmt.Sprintf("%s buckets", bucketDur(r)*time.Duration(g))
	for k, name := range names {
		js := append([]result.Journey(nil), byName[name]...)
		sort.SliceStable(js, func(a, b int) bool { return regionCls[js[a].Region] < regionCls[js[b].Region] })
		var succ, p99 []line
		for _, j := range js {
			cls := regionCls[j.Region]
			succ = append(succ, line{name: j.Region, class: cls, vals: ratioSeries(j.OKSeries, j.AttemptsSeries, tl.n, g)})
			p99 = append(p99, line{name: j.Region, class: cls, vals: maxSeries(j.P99Ms, j.AttemptsSeries, tl.n, g)})
		}
		c := chartCard{Title: name,
			Success: lineChart(fmt.Sprintf("j%d-success", k), name+": success rate by region", "Share of "+name+" journeys that succeeded (ok or fallback) per "+per+", one line per region; shaded bands are fault phases.", succ, tl, 1, "%"),
			P99:     lineChart(fmt.Sprintf("j%d-p99", k), name+": p99 latency by region", "Highest per-bucket p99 latency of "+name+" per "+per+", one line per region.", p99, tl, 0, "ms"),
		}
		for _, j := range js {
			c.Rows = append(c.Rows, journeyWindows(j, windows)...)
		}
		p.JourneyCards = append(p.JourneyCards, c)
	}
	for k, reg := range regions {
		js := byRegion[reg]
		var succ, p99 []line
		var okAll, attAll []int64
		for _, j := range js {
			cls := nameCls[j.Name]
			succ = append(succ, line{name: j.Name, class: cls, vals: ratioSeries(j.OKSeries, j.AttemptsSeries, tl.n, g)})
			p99 = append(p99, line{name: j.Name, class: cls, vals: maxSeries(j.P99Ms, j.AttemptsSeries, tl.n, g)})
			okAll = addInts(okAll, j.OKSeries, tl.n)
			attAll = addInts(attAll, j.AttemptsSeries, tl.n)
		}
		succ = append(succ, line{name: "all journeys", class: "s-all", vals: ratioSeries(okAll, attAll, tl.n, g)})
		c := chartCard{Title: reg,
			Success: lineChart(fmt.Sprintf("r%d-success", k), reg+": success rate by journey", "Share of journeys by users arriving in "+reg+" that succeeded, per "+per+"; the thick line is all journeys together.", succ, tl, 1, "%"),
			P99:     lineChart(fmt.Sprintf("r%d-p99", k), reg+": p99 latency by journey", "Highest per-bucket p99 latency per journey in "+reg+" per "+per+".", p99, tl, 0, "ms"),
		}
		var ok, att int64
		for _, j := range js {
			att += j.Attempts
			ok += j.Outcomes["ok"] + j.Outcomes["fallback"]
		}
		if att > 0 {
			c.SuccessRun = pctStr(float64(ok) / float64(att))
			c.Att = fmt.Sprint(att)
		}
		p.RegionCards = append(p.RegionCards, c)
	}
}

func addInts(acc, v []int64, n int) []int64 {
	if acc == nil {
		acc = make([]int64, n)
	}
	for i := 0; i < n && i < len(v); i++ {
		acc[i] += v[i]
	}
	return acc
}

// windowNames lists the windows a journey may carry, phases first in their
// order, then any other windows (steady state) by name.
func windowNames(r *result.Result) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range r.Phases {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, p.Name)
		}
	}
	var extra []string
	for _, j := range r.Journeys {
		for k := range j.ByPhase {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	return append(extra, out...)
}

func journeyWindows(j result.Journey, windows []string) []windowRow {
	var rows []windowRow
	if s, ok := journeySuccess(j); ok {
		rows = append(rows, windowRow{Window: j.Region + " · whole run", Success: pctStr(s), P50: "–", P99: "–", Attempts: fmt.Sprint(j.Attempts)})
	}
	for _, wn := range windows {
		w, ok := j.ByPhase[wn]
		if !ok {
			continue
		}
		rows = append(rows, windowRow{Window: j.Region + " · " + strings.ReplaceAll(wn, "_", " "), Success: pctStr(w.SuccessRate),
			P50: fmt.Sprintf("%.0f ms", w.P50Ms), P99: fmt.Sprintf("%.0f ms", w.P99Ms), Attempts: fmt.Sprint(w.Attempts)})
	}
	return rows
}

func buildLags(p *page, r *result.Result) {
	var maxMs int64 = 1
	for _, c := range r.Components {
		if ms, ok := minDetection(c); ok {
			maxMs = max(maxMs, ms)
		}
		if ms, _, any := maxRecovery(c); any {
			maxMs = max(maxMs, ms)
		}
	}
	for _, c := range orderedComponents(r) {
		det, dok := firstDetection(r, c)
		if !dok {
			continue
		}
		lv := lagView{Component: c.Name, Region: c.Region, Worst: worstState(c), Detection: fmtMs(det), DetPct: 100 * float64(det) / float64(maxMs)}
		rec, recovered, _ := maxRecovery(c)
		if recovered {
			lv.Recovery = fmtMs(rec)
			lv.RecPct = 100 * float64(rec) / float64(maxMs)
		} else {
			lv.Recovery, lv.NotRecovered, lv.RecPct = "not recovered", true, 100
		}
		var fs []string
		for _, d := range c.Degradations {
			if d.DetectionLagMs == nil {
				continue
			}
			s := d.Fault + ": +" + fmtMs(*d.DetectionLagMs)
			if d.RecoveryMs != nil {
				s += ", back in " + fmtMs(*d.RecoveryMs)
			} else {
				s += ", not recovered"
			}
			fs = append(fs, s)
		}
		lv.Faults = strings.Join(fs, "; ")
		p.Lags = append(p.Lags, lv)
	}
}

func buildEdges(p *page, r *result.Result) {
	maxAmp := 1.0
	for _, e := range r.Edges {
		if !math.IsNaN(e.RetryAmplification) {
			maxAmp = math.Max(maxAmp, e.RetryAmplification)
		}
	}
	for _, ph := range r.Phases {
		for _, e := range r.Edges {
			if _, ok := e.AmplificationByPhase[ph.Name]; ok {
				p.EdgePhases = append(p.EdgePhases, ph.Name)
				break
			}
		}
	}
	es := append([]result.EdgeStats(nil), r.Edges...)
	sort.SliceStable(es, func(i, j int) bool { return peakAmp(es[i]) > peakAmp(es[j]) })
	for _, e := range es {
		// Bars show the excess over 1× (no retries), on one scale.
		ev := edgeView{Name: e.Name, From: e.From, To: e.To, Amp: fmt.Sprintf("%.2f×", e.RetryAmplification), Hot: peakAmp(e) >= 1.5}
		// The scale spans at least 1×–2×, so 1.02× draws a sliver, not a full bar.
		ev.Pct = 100 * clamp01((e.RetryAmplification-1)/math.Max(maxAmp-1, 1))
		if e.RetryAmplification == 0 {
			ev.Amp = "–"
		}
		for _, ph := range p.EdgePhases {
			if a, ok := e.AmplificationByPhase[ph]; ok {
				ev.ByPhase = append(ev.ByPhase, fmt.Sprintf("%.2f×", a))
			} else {
				ev.ByPhase = append(ev.ByPhase, "–")
			}
		}
		p.Edges = append(p.Edges, ev)
	}
}

func peakAmp(e result.EdgeStats) float64 {
	m := e.RetryAmplification
	for _, a := range e.AmplificationByPhase {
		m = math.Max(m, a)
	}
	if math.IsNaN(m) {
		return 0
	}
	return m
}

func fmtParams(m map[string]any) string {
	if len(m) == 0 {
		return ""
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", k, fmtParam(m[k]))
	}
	return b.String()
}

// fmtParam formats one fault parameter for people: floats to 4 significant
// digits, long lists summarised (a retry storm's per-request schedule has
// dozens of entries), nil as "–".
func fmtParam(v any) string {
	switch x := v.(type) {
	case nil:
		return "–"
	case float64:
		return fmtNum(x)
	case float32:
		return fmtNum(float64(x))
	case []any:
		if len(x) <= 6 {
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmtParam(e)
			}
			return "[" + strings.Join(parts, " ") + "]"
		}
		lo, hi, nums := math.Inf(1), math.Inf(-1), 0
		for _, e := range x {
			if f, ok := e.(float64); ok && !math.IsNaN(f) {
				lo, hi, nums = math.Min(lo, f), math.Max(hi, f), nums+1
			}
		}
		if nums == len(x) {
			return fmt.Sprintf("[%d values, %s…%s]", len(x), fmtParam(lo), fmtParam(hi))
		}
		return fmt.Sprintf("[%s %s %s … %d values]", fmtParam(x[0]), fmtParam(x[1]), fmtParam(x[2]), len(x))
	case map[string]any:
		return "{" + fmtParams(x) + "}"
	case string, bool, time.Duration, int, int64:
		return fmt.Sprint(v)
	}
	// Typed slices (a Result built in memory rather than read from JSON).
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		xs := make([]any, rv.Len())
		for i := range xs {
			e := rv.Index(i).Interface()
			if f, ok := toFloat(e); ok {
				e = f
			}
			xs[i] = e
		}
		return fmtParam(xs)
	}
	return fmt.Sprint(v)
}

func fmtNum(x float64) string {
	switch {
	case x == math.Trunc(x) && math.Abs(x) < 1e15:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case math.Abs(x) >= 100:
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strconv.FormatFloat(x, 'g', 4, 64)
}

func toFloat(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, isDur := v.(time.Duration); isDur {
			return 0, false
		}
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	}
	return 0, false
}

func fmtOffsetMs(d time.Duration) string {
	ms := d.Milliseconds() % 1000
	if ms < 0 {
		ms = -ms
	}
	return fmt.Sprintf("%s.%03d", fmtOffset(d), ms)
}

func fmtDur(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Second).String()
}

func nonZero(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
