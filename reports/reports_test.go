package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/outagelab/outagelab/reports/result"
)

func TestMarkdownGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *result.Result
	}{
		{"summary-fragile.md", synthetic(t, result.SyntheticOptions{})},
		{"summary-partial.md", partial(synthetic(t, result.SyntheticOptions{Policy: "hardened", FailInvariant: true}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Markdown(&b, tc.r, MarkdownOptions{HTMLLink: FileHTML}); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".golden", b.Bytes())
			// Every failed objective is named with its measured value.
			for _, h := range failedHypotheses(tc.r) {
				if !strings.Contains(b.String(), mdText(objectiveMeasured(h))) {
					t.Errorf("failed objective %s (measured %s) missing from the summary", h.ID, objectiveMeasured(h))
				}
			}
			for _, want := range []string{"objectives ", "### Fidelity", "source grade", "### Score", "### Findings"} {
				if want == "### Findings" && len(tc.r.Findings) == 0 {
					continue
				}
				if !strings.Contains(b.String(), want) {
					t.Errorf("summary lacks %q", want)
				}
			}
		})
	}
}

// junitDoc mirrors the common JUnit schema for reading our output back.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    *int     `xml:"tests,attr"`
	Failures *int     `xml:"failures,attr"`
	Errors   *int     `xml:"errors,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []struct {
		Name      string  `xml:"name,attr"`
		Tests     *int    `xml:"tests,attr"`
		Failures  *int    `xml:"failures,attr"`
		Errors    *int    `xml:"errors,attr"`
		Skipped   *int    `xml:"skipped,attr"`
		Time      *string `xml:"time,attr"`
		Timestamp string  `xml:"timestamp,attr"`
		Cases     []struct {
			Name      string  `xml:"name,attr"`
			Classname string  `xml:"classname,attr"`
			Time      *string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnitGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *result.Result
	}{
		{"junit-fragile.xml", synthetic(t, result.SyntheticOptions{})},
		{"junit-partial.xml", partial(synthetic(t, result.SyntheticOptions{Policy: "hardened", FailInvariant: true}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := JUnit(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".golden", b.Bytes())

			var doc junitDoc
			if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
				t.Fatalf("junit does not parse: %v", err)
			}
			// One testsuite for the scenario, one for its claims (fidelity).
			if len(doc.Suites) != 2 || doc.Suites[1].Name != "fidelity" {
				t.Fatalf("%d testsuites, want the scenario's and fidelity", len(doc.Suites))
			}
			s := doc.Suites[0]
			if doc.Tests == nil || doc.Failures == nil || doc.Errors == nil || s.Tests == nil || s.Failures == nil || s.Errors == nil || s.Time == nil {
				t.Fatal("missing required attributes tests/failures/errors/time")
			}
			if _, err := time.Parse("2006-01-02T15:04:05", s.Timestamp); err != nil {
				t.Errorf("timestamp %q is not the schema's xs:dateTime without zone: %v", s.Timestamp, err)
			}
			wantCases := len(tc.r.Hypotheses) + len(tc.r.Invariants)
			if tc.r.Status.State != "completed" {
				wantCases++
			}
			if len(s.Cases) != wantCases || *s.Tests != wantCases {
				t.Errorf("cases=%d tests=%d, want %d (one per objective and invariant)", len(s.Cases), *s.Tests, wantCases)
			}
			fs := doc.Suites[1]
			if len(fs.Cases) != len(tc.r.Scenario.Fidelity) || *doc.Tests != wantCases+len(fs.Cases) {
				t.Errorf("fidelity cases=%d, want %d (one per claim); total tests %d", len(fs.Cases), len(tc.r.Scenario.Fidelity), *doc.Tests)
			}
			fails, errs := 0, 0
			for _, c := range s.Cases {
				if c.Name == "" || c.Classname == "" || c.Time == nil {
					t.Errorf("testcase %+v lacks name/classname/time", c)
				}
				if c.Failure != nil {
					fails++
					if !strings.Contains(c.Failure.Message, "measured") && !strings.Contains(c.Failure.Message, "checked") {
						t.Errorf("failure message %q carries no measured value", c.Failure.Message)
					}
				}
				if c.Error != nil {
					errs++
				}
			}
			if fails != *s.Failures || errs != *s.Errors {
				t.Errorf("counted %d failures %d errors; attributes say %d/%d", fails, errs, *s.Failures, *s.Errors)
			}
			wantFails := len(failedHypotheses(tc.r))
			for _, in := range tc.r.Invariants {
				if !in.Passed() {
					wantFails++
				}
			}
			if fails != wantFails {
				t.Errorf("%d failures, want %d", fails, wantFails)
			}
			// Without --fidelity-gate a mismatch is skipped, not failed;
			// a claim whose phase never ran is skipped as not judged.
			skipped := 0
			for _, c := range fs.Cases {
				if c.Failure != nil {
					t.Errorf("fidelity case %q failed in a run that does not gate on fidelity", c.Name)
				}
				if c.Skipped != nil {
					skipped++
				}
			}
			wantSkipped := 0
			for _, f := range tc.r.Scenario.Fidelity {
				if !f.Judged || !f.Matches {
					wantSkipped++
				}
			}
			if skipped != wantSkipped || fs.Skipped == nil || *fs.Skipped != skipped || *fs.Failures != 0 || *doc.Failures != fails {
				t.Errorf("fidelity: %d skipped (attribute %v), want %d; totals failures %d", skipped, fs.Skipped, wantSkipped, *doc.Failures)
			}
		})
	}
}

// With --fidelity-gate a claim the replay missed is a failure in the
// fidelity testsuite.
func TestJUnitFidelityGate(t *testing.T) {
	r := synthetic(t, result.SyntheticOptions{FidelityGate: true})
	var b bytes.Buffer
	if err := JUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	fs := doc.Suites[len(doc.Suites)-1]
	want := 0
	for _, f := range r.Scenario.Fidelity {
		if f.Judged && !f.Matches {
			want++
		}
	}
	if want == 0 || fs.Name != "fidelity" || *fs.Failures != want || *fs.Skipped != 0 {
		t.Errorf("gated fidelity suite %q: %d failures %d skipped, want %d failures", fs.Name, *fs.Failures, *fs.Skipped, want)
	}
	if *doc.Failures != *doc.Suites[0].Failures+want {
		t.Errorf("testsuites failures %d do not add up", *doc.Failures)
	}
}

func TestJUnitDropsCharactersXMLCannotCarry(t *testing.T) {
	r := synthetic(t, result.SyntheticOptions{})
	r.Hypotheses[0].Description = "bad \x00\x1b byte"
	r.Hypotheses[0].Holds = false
	var b bytes.Buffer
	if err := JUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("junit with control characters does not parse: %v", err)
	}
}

// TestHTMLStructure parses the page: one document, the charts present as
// inline SVG, no scripts, no external resources; the only outside links are
// the scenario's sources.
func TestHTMLStructure(t *testing.T) {
	r := synthetic(t, result.SyntheticOptions{})
	r.Scenario.Sources = append(r.Scenario.Sources, "javascript:alert(1)")
	r.Scenario.Summary = `<script src="https://evil.example/x.js"></script>`
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	sources := map[string]bool{}
	for _, s := range r.Scenario.Sources {
		sources[s] = true
	}
	ids := map[string]int{}
	var svgs, scripts, paths, rects int
	var titles []string
	inTitle := false
	z := html.NewTokenizer(bytes.NewReader(b.Bytes()))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		tok := z.Token()
		if tt == html.TextToken && inTitle {
			titles = append(titles, tok.Data)
		}
		inTitle = false
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		attrs := map[string]string{}
		for _, a := range tok.Attr {
			attrs[a.Key] = a.Val
		}
		switch tok.Data {
		case "svg":
			svgs++
			if attrs["viewbox"] == "" && attrs["viewBox"] == "" {
				t.Errorf("svg %q has no viewBox: it will not scale", attrs["aria-labelledby"])
			}
			if attrs["role"] != "img" || attrs["aria-labelledby"] == "" {
				t.Errorf("svg lacks role=img/aria-labelledby: %v", attrs)
			}
		case "script", "iframe", "object", "embed", "img", "link":
			scripts++
			t.Errorf("<%s> in a self-contained report: %v", tok.Data, attrs)
		case "path":
			paths++
		case "rect":
			rects++
		case "title":
			inTitle = true
		}
		if id := attrs["id"]; id != "" {
			ids[id]++
		}
		for _, k := range []string{"href", "src", "xlink:href", "action", "data"} {
			v, ok := attrs[k]
			if !ok || strings.HasPrefix(v, "#") {
				continue
			}
			if k == "href" && tok.Data == "a" && sources[v] && (strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://")) {
				continue
			}
			t.Errorf("<%s %s=%q>: only the scenario's http(s) sources may leave the page", tok.Data, k, v)
		}
		if st := attrs["style"]; strings.Contains(st, "url(") {
			t.Errorf("style with url(): %q", st)
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %q used %d times", id, n)
		}
	}
	// Heatmap, event timeline, 6 journeys × 2 charts, 2 regions × 2 charts, graph, monitoring.
	if want := 1 + 1 + 12 + 4 + 1 + 1; svgs != want {
		t.Errorf("%d SVG charts, want %d", svgs, want)
	}
	if paths < 50 || rects < 100 {
		t.Errorf("charts look empty: %d paths, %d rects", paths, rects)
	}
	page := b.String()
	for _, want := range []string{"FAIL", "Component health over time", "gateway-us-east-1", "retry_storm", "07:30 PST", "approximate",
		"acknowledged_orders_durable", "the source says", "objectives held", "source: primary", "Findings: what the figures say to fix", "Error budget per journey", "monitoring was dark", "Retry amplification", `@media (prefers-color-scheme: dark)`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "url(") && strings.Contains(page, "url(http") {
		t.Error("CSS fetches a url()")
	}
	if strings.Contains(page, "javascript:alert") && strings.Contains(page, `href="javascript`) {
		t.Error("a javascript: source became a link")
	}
	if int(b.Len()) > 1_500_000 {
		t.Errorf("page is %d bytes; a 10-minute run should stay well under 1.5 MB", b.Len())
	}
	t.Logf("10-minute report: %d bytes, %d svgs, %d paths, %d rects", b.Len(), svgs, paths, rects)
}

func TestRenderWritesEveryFormat(t *testing.T) {
	dir := t.TempDir()
	r := synthetic(t, result.SyntheticOptions{})
	paths, err := Render(r, []string{"html,md", "junit", "json", "markdown"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{FileHTML, FileMarkdown, FileJUnit, FileJSON}
	if len(paths) != len(want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("path %d = %s, want %s", i, p, want[i])
		}
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, FileMarkdown))
	if !strings.Contains(string(md), "](report.html)") {
		t.Error("summary.md does not link the HTML report")
	}
	back, err := Load(filepath.Join(dir, FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	if back.Score == nil || back.Score.Value != ScoreOf(r).Value {
		t.Errorf("result.json score = %+v, want %v", back.Score, ScoreOf(r).Value)
	}
	if r.Score != nil {
		t.Error("Render changed its input")
	}
	if _, err := Render(r, []string{"pdf"}, dir); err == nil || !strings.Contains(err.Error(), "unknown report format") {
		t.Errorf("pdf: err = %v", err)
	}
	if _, err := Render(r, nil, dir); err == nil {
		t.Error("no formats: no error")
	}
}

func TestValidateRejectsWhatCannotBeRendered(t *testing.T) {
	r := synthetic(t, result.SyntheticOptions{})
	r.BucketMillis = 0
	r.Verdict = "maybe"
	err := Validate(r)
	if err == nil || !strings.Contains(err.Error(), "bucket_ms") || !strings.Contains(err.Error(), "maybe") {
		t.Fatalf("err = %v, want both problems", err)
	}
	if _, err := Render(r, []string{"html"}, t.TempDir()); err == nil {
		t.Error("Render accepted an invalid result")
	}
}

// Partial and empty results render without panics and say what happened.
func TestRenderPartialAndEmpty(t *testing.T) {
	empty := &result.Result{SchemaVersion: result.SchemaVersion, Status: result.Status{State: "failed", Reason: "docker: no engine"}}
	ragged := synthetic(t, result.SyntheticOptions{Duration: time.Minute})
	ragged.Components[0].State = ragged.Components[0].State[:3]
	ragged.Components[1].Errors = nil
	ragged.Journeys[0].OKSeries = nil
	ragged.Journeys[1].ByPhase = nil
	ragged.Edges[0].AmplificationByPhase = nil
	ragged.Monitoring.SawUnhealthy = []int{-1}
	ragged.Phases[0].Faults[0].AppliedAt = nil
	ragged.Cascade = append(ragged.Cascade, result.CascadeStep{Component: "ghost", Edge: "nowhere"})
	for name, r := range map[string]*result.Result{"empty": empty, "ragged": ragged, "partial": partial(synthetic(t, result.SyntheticOptions{}))} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Render(r, Formats, dir); err != nil {
				t.Fatal(err)
			}
			page, _ := os.ReadFile(filepath.Join(dir, FileHTML))
			if r.Status.State != "completed" && !strings.Contains(string(page), "did not complete") {
				t.Error("HTML does not say the run did not complete")
			}
		})
	}
}

func TestScore(t *testing.T) {
	r := synthetic(t, result.SyntheticOptions{})
	s := ScoreOf(r)
	if s == nil || s.Value <= 0 || s.Value >= 100 || s.Formula != ScoreFormula || s.Version != 2 {
		t.Fatalf("score %+v", s)
	}
	// By hand from the parts: 0.5 E + 0.2 R + 0.2 B + 0.1 D.
	want := 100 * (0.5*s.Parts["error_budget"] + 0.2*s.Parts["recovery"] + 0.2*s.Parts["blast_radius"] + 0.1*s.Parts["detection"])
	if math.Abs(want-s.Value) > 0.06 {
		t.Errorf("score %.2f, parts give %.2f (%v)", s.Value, want, s.Parts)
	}
	// E is the JourneyWeight-weighted mean of min(1, success/target).
	var sum, w float64
	for _, j := range s.Journeys {
		if v := math.Min(1, j.Success/j.Target); math.Abs(v-j.Value) > 1e-3 {
			t.Errorf("%s/%s: value %v, want min(1, %v/%v)", j.Journey, j.Region, j.Value, j.Success, j.Target)
		}
		sum += j.Weight * j.Value
		w += j.Weight
	}
	if len(s.Journeys) == 0 || math.Abs(sum/w-s.Parts["error_budget"]) > 1e-3 {
		t.Errorf("E = %v, journeys give %v", s.Parts["error_budget"], sum/w)
	}

	// Objectives met during the faults raise the score; a journey that lost
	// everything lowers it: the score follows what users got, not whether
	// the replay looked like history.
	better := synthetic(t, result.SyntheticOptions{})
	for i := range better.Journeys {
		copy(better.Journeys[i].OKSeries, better.Journeys[i].AttemptsSeries)
	}
	if ScoreOf(better).Value <= s.Value {
		t.Errorf("every journey succeeding did not raise the score (%.1f → %.1f)", s.Value, ScoreOf(better).Value)
	}
	worse := synthetic(t, result.SyntheticOptions{})
	for i := range worse.Journeys {
		if worse.Journeys[i].Name == "checkout" {
			for b := range worse.Journeys[i].OKSeries {
				worse.Journeys[i].OKSeries[b] = 0
			}
		}
	}
	if ScoreOf(worse).Value >= s.Value {
		t.Errorf("losing every checkout did not lower the score (%.1f → %.1f)", s.Value, ScoreOf(worse).Value)
	}
	lost := synthetic(t, result.SyntheticOptions{FailInvariant: true})
	if v := ScoreOf(lost).Value; v > 50 {
		t.Errorf("a lost order scores %.1f, want ≤ 50", v)
	}
	unknown := synthetic(t, result.SyntheticOptions{})
	unknown.Invariants[0].State = result.InvariantUnknown
	if v := ScoreOf(unknown).Value; v > 50 {
		t.Errorf("an unknown invariant scores %.1f, want ≤ 50", v)
	}
	if v := ScoreOf(&result.Result{Verdict: result.VerdictPass}); v == nil || v.Value != 0 {
		t.Errorf("empty result scores %+v", v)
	}
	errored := synthetic(t, result.SyntheticOptions{})
	errored.Verdict = result.VerdictError
	if ScoreOf(errored) != nil || ScoreOf(nil) != nil {
		t.Error("a run that could not judge has a score")
	}
	// Stable: the same result scores the same.
	if ScoreOf(synthetic(t, result.SyntheticOptions{})).Value != s.Value {
		t.Error("score not deterministic")
	}
}

// The worked example of SCORE.md, by hand: two journeys, one phase of four
// buckets with faults, two buckets after it.
func TestScoreWorkedExample(t *testing.T) {
	t0 := time.Date(2021, 12, 7, 15, 30, 0, 0, time.UTC)
	r := &result.Result{Verdict: result.VerdictFail, StartedAt: t0, BucketMillis: 1000,
		Phases: []result.Phase{{Name: "congestion", StartedAt: t0, EndedAt: t0.Add(4 * time.Second), Faults: []result.Fault{{ID: "congestion/0"}}}},
		Hypotheses: []result.Hypothesis{
			{Kind: "during", Journey: "checkout", Metric: "success", Op: ">=", Expected: "90%"},
			{Kind: "steady_state_before", Journey: "browse", Metric: "success", Op: ">=", Expected: "99%"},
		},
		Journeys: []result.Journey{
			// checkout: 10 a bucket, 3 ok during the phase → 12/40 = 30%; back at 90% from the first bucket after it.
			{Name: "checkout", Region: "eu-west-1", AttemptsSeries: []int64{10, 10, 10, 10, 10, 10, 10}, OKSeries: []int64{3, 3, 3, 3, 10, 10, 10}},
			// browse: 100 a bucket, 99 ok during, all ok after.
			{Name: "browse", Region: "eu-west-1", AttemptsSeries: []int64{100, 100, 100, 100, 100, 100, 100}, OKSeries: []int64{99, 99, 99, 99, 100, 100, 100}},
		},
		Components: []result.Component{{Name: "checkout", State: []string{"down", "down", "down", "down", "healthy", "healthy", "healthy"}},
			{Name: "catalog-eu-west-1", State: []string{"healthy", "healthy", "healthy", "healthy", "healthy", "healthy", "healthy"}}},
		Invariants: []result.Invariant{{Name: "acknowledged_orders_durable", Holds: true, State: result.InvariantHolds}},
	}
	s := ScoreOf(r)
	// E = (3·min(1, 0.30/0.90) + 1·min(1, 0.99/0.99)) / 4 = (3·0.3333 + 1) / 4 = 0.5
	// R = both journeys back at target in the first bucket after the phase: 1
	// B = 1 − (½·1/1 region hurt + ½·1/2 components down) = 0.25
	// D: no monitoring: left out. Score = 100·(0.5·0.5 + 0.2·1 + 0.2·0.25)/0.9 = 55.6
	if s.Parts["error_budget"] != 0.5 || s.Parts["recovery"] != 1 || s.Parts["blast_radius"] != 0.25 || s.Value != 55.6 {
		t.Errorf("worked example: %+v", s)
	}
}

func TestDiff(t *testing.T) {
	fragile := synthetic(t, result.SyntheticOptions{})
	hardened := synthetic(t, result.SyntheticOptions{Policy: "hardened"})

	same := Diff(fragile, synthetic(t, result.SyntheticOptions{}), DefaultThresholds)
	if same.Regressed() || len(same.Improvements) != 0 {
		t.Errorf("identical runs: regressions %v improvements %v", same.Regressions, same.Improvements)
	}
	worse := Diff(hardened, fragile, DefaultThresholds)
	if !worse.Regressed() {
		t.Fatal("hardened → fragile shows no regression")
	}
	var loginRegressed, identityWorse bool
	for _, j := range worse.Journeys {
		if j.Journey == "login" && j.Region == "us-east-1" && j.Window == "congestion" && j.SuccessRegressed {
			loginRegressed = true
		}
	}
	for _, c := range worse.Components {
		if c.Component == "identity" && (c.WorstRegressed || c.RecoveryRegressed) {
			identityWorse = true
		}
	}
	if !loginRegressed || !identityWorse {
		t.Errorf("login regressed=%v identity worse=%v", loginRegressed, identityWorse)
	}
	better := Diff(fragile, hardened, Thresholds{MaxSuccessDrop: 1, MaxP99Increase: 10, MinP99DeltaMs: 1e9, MaxRecoveryIncrease: 10, MaxScoreDrop: 100})
	if len(better.Improvements) == 0 {
		t.Error("fragile → hardened shows no improvement")
	}

	// A hypothesis that held and now fails is a regression at any threshold.
	head := synthetic(t, result.SyntheticOptions{})
	head.Hypotheses[0].Holds = false
	head.Hypotheses[0].Measured = "97.00%"
	d := Diff(fragile, head, ThresholdsFromPercent(100))
	if !d.Regressed() || !strings.Contains(strings.Join(d.Regressions, "\n"), "h1 now fails") {
		t.Errorf("newly failing hypothesis not a regression: %v", d.Regressions)
	}

	var md, page bytes.Buffer
	if err := DiffMarkdown(&md, worse); err != nil {
		t.Fatal(err)
	}
	if err := DiffHTML(&page, worse); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff-hardened-to-fragile.md.golden", md.Bytes())
	if !strings.Contains(page.String(), "REGRESSED") || strings.Contains(page.String(), "<script") {
		t.Error("diff HTML: no REGRESSED verdict or has a script")
	}
}

// The result document and the schema describe the same keys.
func TestSchemaMatchesResultModel(t *testing.T) {
	gen, err := json.MarshalIndent(generateSchema(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	gen = append(gen, '\n')
	if *update {
		if err := os.WriteFile("result.schema.json", gen, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("result.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, gen) {
		t.Fatal("result.schema.json is out of date with reports/result (run `go test ./reports -run TestSchemaMatchesResultModel -update` and describe the new fields in RESULT.md)")
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	r := synthetic(t, result.SyntheticOptions{})
	r.Score = ScoreOf(r)
	doc, _ := json.Marshal(r)
	var v any
	json.Unmarshal(doc, &v)
	for _, p := range validateSchema(schema, schema, v, "$") {
		t.Error(p)
	}
	// Every key in the schema is described in RESULT.md.
	prose, err := os.ReadFile("RESULT.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range schemaKeys(schema) {
		if !strings.Contains(string(prose), "`"+k+"`") {
			t.Errorf("RESULT.md does not describe `%s`", k)
		}
	}
}

func FuzzLoad(f *testing.F) {
	r := synthetic(f, result.SyntheticOptions{Duration: 20 * time.Second})
	b, _ := json.Marshal(r)
	f.Add(b)
	f.Add([]byte(`{"schema_version":"1.0","bucket_ms":1000,"components":[{"name":"a","state":["down","healthy"]}],"journeys":[{"name":"j","attempts_series":[1,2],"ok_series":[5]}]}`))
	f.Add([]byte(`{"schema_version":"1.0","phases":[{"name":"p","started_at":"2026-01-01T00:00:00Z","ended_at":"2025-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"schema_version":"9"}`))
	f.Add([]byte(`not json`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "result.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Load(p)
		if err != nil {
			return
		}
		var w bytes.Buffer
		if err := HTML(&w, r); err != nil {
			t.Fatal(err)
		}
		if err := Markdown(&w, r, MarkdownOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := JUnit(&w, r); err != nil {
			t.Fatal(err)
		}
		Diff(r, r, DefaultThresholds)
	})
}

func BenchmarkRenderHTML10Min(b *testing.B) {
	r := synthetic(b, result.SyntheticOptions{})
	var w bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		if err := HTML(&w, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.Len()), "bytes/page")
}

func BenchmarkRenderAll10Min(b *testing.B) {
	r := synthetic(b, result.SyntheticOptions{})
	dir := b.TempDir()
	for b.Loop() {
		if _, err := Render(r, Formats, dir); err != nil {
			b.Fatal(err)
		}
	}
}

// Fidelity changes are listed; they gate the diff only when both runs gate
// on fidelity. Score parts and objectives are compared side by side.
func TestDiffFidelityAndScore(t *testing.T) {
	fragile := synthetic(t, result.SyntheticOptions{})
	hardened := synthetic(t, result.SyntheticOptions{Policy: "hardened"})
	fidelityRegressions := func(d DiffResult) (n int) {
		for _, r := range d.Regressions {
			if strings.HasPrefix(r, "fidelity ") {
				n++
			}
		}
		return n
	}
	d := Diff(fragile, hardened, ThresholdsFromPercent(100))
	if len(d.Fidelity) != len(fragile.Scenario.Fidelity) || len(d.FidelityChanges) == 0 {
		t.Fatalf("fidelity rows %d, changes %v", len(d.Fidelity), d.FidelityChanges)
	}
	if n := fidelityRegressions(d); n != 0 || d.FidelityGated {
		t.Errorf("ungated runs: %d fidelity regressions %v", n, d.Regressions)
	}
	gatedBase := synthetic(t, result.SyntheticOptions{FidelityGate: true})
	gatedHead := synthetic(t, result.SyntheticOptions{Policy: "hardened", FidelityGate: true})
	g := Diff(gatedBase, gatedHead, ThresholdsFromPercent(100))
	lost := 0
	for _, f := range g.Fidelity {
		if f.BaseOutcome == "match" && f.HeadOutcome == "mismatch" {
			lost++
			if !f.Regressed {
				t.Errorf("claim %q lost under a gate but not a regression", f.Claim)
			}
		}
	}
	if lost == 0 || fidelityRegressions(g) != lost || !g.Regressed() {
		t.Errorf("gated: %d claims lost, regressions %v", lost, g.Regressions)
	}
	if len(d.ScoreParts) != 4 || d.ScoreParts[0].Part != "error_budget" || math.IsNaN(d.ScoreParts[0].Base) {
		t.Errorf("score parts %+v", d.ScoreParts)
	}
	var md, page bytes.Buffer
	if err := DiffMarkdown(&md, d); err != nil {
		t.Fatal(err)
	}
	if err := DiffHTML(&page, d); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"· error budget", "### Objectives", "recovery/1/success", "### Fidelity", "Listed, not gated", "⚠️"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("diff markdown lacks %q", want)
		}
	}
	for _, want := range []string{`id="score"`, `id="objectives"`, `id="fidelity"`, "error budget", "changed"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("diff html lacks %q", want)
		}
	}
	// A run that could not judge has no score: the diff says so.
	errored := partial(synthetic(t, result.SyntheticOptions{Policy: "hardened"}))
	e := Diff(fragile, errored, DefaultThresholds)
	md.Reset()
	DiffMarkdown(&md, e)
	if e.Head.Scored || !strings.Contains(md.String(), "| score | 51.6 | no score |") {
		t.Errorf("unscored head: %s", md.String()[:min(600, md.Len())])
	}
}
