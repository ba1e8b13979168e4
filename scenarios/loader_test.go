package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `name: tiny
title: Tiny
load:
  rate: {us-east-1: 10/s}
  mix: {browse: 1, checkout: 1}
phases:
  - name: a
    at: 0
    for: 1h
    faults:
      - {kind: latency, edges: {to: identity}, latency: 100ms, toxicity: 0.5, stream: upstream}
  - name: b
    at: 1h
    for: 30m
    faults:
      - {kind: pause, components: {names: [catalog-*]}}
hypotheses:
  - {during: a, journey: browse, region: us-east-1, success: ">= 95%", p99: "< 2s"}
abort:
  - {journey: browse, success: "< 10%", for: 30s}
`

func parse(t *testing.T, src string) (*Scenario, Errors) {
	t.Helper()
	s, err := Parse("f.yaml", []byte(src), Options{})
	if err == nil {
		return s, nil
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Parse returned %T %v, want Errors", err, err)
	}
	return s, es
}

func TestParseGood(t *testing.T) {
	s, es := parse(t, good)
	if es != nil {
		t.Fatalf("unexpected errors:\n%v", es)
	}
	if s.TimeScale != DefaultTimeScale || s.Policy.Preset != "fragile" || s.Topology != "storefront" {
		t.Errorf("defaults not applied: %+v", s)
	}
	if s.Duration() != 90*time.Minute {
		t.Errorf("Duration = %s, want 1h30m", s.Duration())
	}
	if got := s.WallDuration(0); got != DefaultWarmup+90*time.Second+DefaultRecovery {
		t.Errorf("WallDuration = %s", got)
	}
	f := s.Phases[0].Faults[0]
	if f.Kind != "latency" || f.Edges.To != "identity" || *f.Toxicity != 0.5 || f.Stream != "upstream" || f.Params["latency"] != "100ms" {
		t.Errorf("fault decoded wrong: %+v", f)
	}
	h := s.Objectives[0]
	if len(h.Checks) != 2 || h.Checks[0].Value != 0.95 && h.Checks[1].Value != 0.95 {
		t.Errorf("checks decoded wrong: %+v", h.Checks)
	}
	if s.Abort[0].For != 30*time.Second || s.Abort[0].Condition.Op != "<" {
		t.Errorf("guard decoded wrong: %+v", s.Abort[0])
	}
	if s.Load.Rate["us-east-1"] != 10 {
		t.Errorf("rate = %v", s.Load.Rate)
	}
}

// Each case: a file with one problem and the error expected at line:col.
func TestParseErrorsWithPositions(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"unknown key", strings.Replace(good, "title: Tiny", "title: Tiny\ntitel: x", 1), "f.yaml:3:1: titel: unknown field \"titel\" (did you mean \"title\"?)"},
		{"wrong type", strings.Replace(good, "title: Tiny", "title: [a]", 1), "f.yaml:2:8: title: expected a string, got a list"},
		{"bad duration", strings.Replace(good, "for: 1h\n", "for: 1hour\n", 1), "f.yaml:9:10: phases[0].for: bad duration \"1hour\""},
		{"negative duration", strings.Replace(good, "for: 1h\n", "for: -1h\n", 1), "f.yaml:9:10: phases[0].for: negative duration"},
		{"unknown fault kind", strings.Replace(good, "kind: latency", "kind: latncy", 1), "f.yaml:11:16: phases[0].faults[0].kind: unknown fault kind \"latncy\" (did you mean \"latency\"?)"},
		{"unknown fault attribute", strings.Replace(good, "latency: 100ms", "latency: 100ms, jiter: 5ms", 1), "f.yaml:11:64: phases[0].faults[0].jiter: unknown attribute \"jiter\" (did you mean \"jitter\"?)"},
		{"selector matches nothing", strings.Replace(good, "to: identity", "to: idenity", 1), "f.yaml:11:9: phases[0].faults[0].edges: selector {to=idenity} matches no edge"},
		{"component selector matches nothing", strings.Replace(good, "catalog-*", "katalog", 1), "f.yaml:16:9: phases[1].faults[0].components: selector {components=[katalog]} matches no component"},
		{"overlapping phases", strings.Replace(good, "at: 1h\n", "at: 59m\n", 1), "f.yaml:13:9: phases[1].at: phase \"b\" (at 59m0s) overlaps phase \"a\" (0–1h0m0s)"},
		{"unknown phase", strings.Replace(good, "during: a,", "during: c,", 1), "f.yaml:18:5: hypotheses[0].during: unknown phase \"c\""},
		{"unknown journey", strings.Replace(good, "journey: browse, region", "journey: brwose, region", 1), "hypotheses[0].journey: unknown journey \"brwose\" (did you mean \"browse\"?)"},
		{"unknown region", strings.Replace(good, "region: us-east-1", "region: eu-west-1", 1), "hypotheses[0].region: region \"eu-west-1\" gets no load"},
		{"bad condition", strings.Replace(good, `">= 95%"`, `"95%"`, 1), "f.yaml:18:62: hypotheses[0].success: condition \"95%\" has no comparison"},
		{"bad rate", strings.Replace(good, "10/s", "10/fortnight", 1), "f.yaml:4:21: load.rate.us-east-1: rate \"10/fortnight\" has unknown unit"},
		{"duplicate key", strings.Replace(good, "title: Tiny", "title: Tiny\ntitle: Again", 1), "f.yaml:3:1: title: duplicate key \"title\" (first defined at 2:1)"},
		{"kind on wrong target", strings.Replace(good, "{kind: pause, components: {names: [catalog-*]}}", "{kind: pause, edges: {to: identity}}", 1), "phases[1].faults[0].edges: fault kind \"pause\" acts on components, not edges"},
		{"toxicity range", strings.Replace(good, "toxicity: 0.5", "toxicity: 1.5", 1), "phases[0].faults[0].toxicity: toxicity 1.5 out of range"},
		{"missing required", strings.Replace(good, "title: Tiny\n", "", 1), "f.yaml:1:1: missing required field \"title\""},
		{"syntax", "name: [a\n", "f.yaml:1:"},
		{"unknown alias", strings.Replace(good, "title: Tiny", "title: *nope", 1), "f.yaml:2:8: title: unknown alias *nope"},
		{"empty", "", "empty scenario file"},
		{"two documents", good + "---\nname: x\n", "file holds 2 YAML documents"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, es := parse(t, c.src)
			if es == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(es.Error(), c.want) {
				t.Fatalf("errors:\n%v\nwant one containing %q", es, c.want)
			}
		})
	}
}

func TestParseReportsEveryErrorAtOnce(t *testing.T) {
	src := `name: Bad Name
title: 7
colour: blue
time_scale: -1
load:
  rate: {us-east-1: 10/s, mars-1: 5/s}
  mix: {browse: 1, teleport: 2}
phases:
  - name: a
    at: 0
    for: 1h
    faults:
      - {kind: nope, edges: {to: x}}
      - {kind: latency, edges: {to: nothing-here}, latency: fast}
  - name: b
    at: 30m
    for: 10m
hypotheses:
  - {during: zzz, journey: browse, success: ">= 95%"}
abort:
  - {journey: browse, for: 10s}
`
	_, es := parse(t, src)
	wants := []string{
		"1:7: name: bad name",
		"2:8: title: expected a string, got an integer",
		"3:1: colour: unknown field",
		"4:13: time_scale: time_scale must be > 0",
		"6:27: load.rate.mars-1: unknown region",
		"7:20: load.mix.teleport: unknown journey",
		"13:16: phases[0].faults[0].kind: unknown fault kind \"nope\"",
		"14:52: phases[0].faults[1].latency: invalid duration \"fast\"",
		"14:9: phases[0].faults[1].edges: selector {to=nothing-here} matches no edge",
		"16:9: phases[1].at: phase \"b\" (at 30m0s) overlaps phase \"a\"",
		"19:5: hypotheses[0].during: unknown phase \"zzz\"",
		"21:5: abort[0]: an abort guard needs exactly one condition, got 0",
	}
	text := es.Error()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
	// File order.
	for i := 1; i < len(es); i++ {
		if es[i].Pos.Line < es[i-1].Pos.Line {
			t.Errorf("errors not in file order: %v before %v", es[i-1], es[i])
		}
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: bomb\ntitle: t\nload: {rate: {us-east-1: 1/s}}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("a" + itoa(i) + ": &a" + itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]\n")
	}
	b.WriteString("phases:\n  - name: p\n    at: 0\n    for: 1m\n    faults:\n      - {kind: latency, edges: {to: identity}, latency: 1ms, payload: *a11}\n")
	start := time.Now()
	_, es := parse(t, b.String())
	if es == nil || !strings.Contains(es.Error(), "expands to more than") && !strings.Contains(es.Error(), "nested too deeply") {
		t.Fatalf("alias bomb not refused: %v", es)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("alias bomb took %s", el)
	}
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i/10)) + string(rune('0'+i%10)))
}

func TestHugeFileRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, []byte("name: x\nsummary: "+strings.Repeat("a", MaxFileSize)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), "the limit is") {
		t.Fatalf("Load(huge) = %v", err)
	}
	if _, err := Parse("big.yaml", []byte(strings.Repeat("[", 100)), Options{}); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Fatalf("deep nesting = %v", err)
	}
}

func TestConditions(t *testing.T) {
	for _, c := range []struct {
		m       Metric
		s       string
		v       float64
		in, out float64
	}{
		{MetricSuccess, ">= 99%", 0.99, 0.995, 0.98},
		{MetricSuccess, "<= 0.2", 0.2, 0.1, 0.3},
		{MetricP99, "< 300ms", 300, 299, 300},
		{MetricP50, "> 1s", 1000, 1001, 1000},
	} {
		got, err := ParseCondition(c.m, c.s)
		if err != nil || got.Value != c.v {
			t.Errorf("ParseCondition(%s, %q) = %+v, %v", c.m, c.s, got, err)
			continue
		}
		if !got.Holds(c.in) || got.Holds(c.out) {
			t.Errorf("%q: Holds(%v)=%v Holds(%v)=%v", c.s, c.in, got.Holds(c.in), c.out, got.Holds(c.out))
		}
	}
	for _, bad := range []string{"99%", ">= 101%", ">= x", "=< 5"} {
		if _, err := ParseCondition(MetricSuccess, bad); err == nil {
			t.Errorf("ParseCondition(%q) accepted", bad)
		}
	}
}

func TestParseDurationAndRate(t *testing.T) {
	if d, err := ParseDuration("3d1h"); err != nil || d != 73*time.Hour {
		t.Errorf("3d1h = %v %v", d, err)
	}
	if d, err := ParseDuration("0"); err != nil || d != 0 {
		t.Errorf("0 = %v %v", d, err)
	}
	if _, err := ParseDuration("soon"); err == nil {
		t.Error("soon accepted")
	}
	if r, err := ParseRate("2400/m"); err != nil || r != 40 {
		t.Errorf("2400/m = %v %v", r, err)
	}
	if _, err := ParseRate("-1/s"); err == nil {
		t.Error("negative rate accepted")
	}
}

// BenchmarkParseFlagship: cost of loading and validating the largest library file.
func BenchmarkParseFlagship(b *testing.B) {
	src, err := library.ReadFile("library/aws-us-east-1-2021-12-07.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("f.yaml", src, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// Objectives decide the verdict, expectations are fidelity, and the old
// `hypotheses` key still loads (as objectives) with a warning naming it.
func TestObjectivesExpectationsAndTheDeprecatedKey(t *testing.T) {
	base := `name: f
title: t
load: {rate: {us-east-1: 10/s}, mix: {browse: 1, checkout: 1}}
steady_state:
  - {journey: checkout, success: ">= 97%"}
phases:
  - {name: a, at: 0, for: 1m, source_time: "07:30 PST", source_grade: primary, faults: [{kind: latency, edges: {to: identity}, latency: 100ms}]}
  - {name: b, at: 1m, for: 1m, approximate: true, faults: [{kind: latency, edges: {to: identity}, latency: 50ms}]}
`
	s, err := Parse("f.yaml", []byte(base+`objectives:
  - {during: "*", journey: browse, success: ">= 95%"}
  - {after: b, journey: checkout, recover_within: 30s}
expectations:
  - {during: a, journey: checkout, success: "<= 20%", claim: "checkout failed", grade: secondary}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Objectives) != 2 || len(s.Expectations) != 1 || len(s.Warnings) != 0 {
		t.Fatalf("objectives %d, expectations %d, warnings %v", len(s.Objectives), len(s.Expectations), s.Warnings)
	}
	if s.Objectives[0].During != EveryPhase || s.Objectives[1].After != "b" || s.Objectives[1].RecoverWithin != 30*time.Second {
		t.Errorf("objectives decoded wrong: %+v", s.Objectives)
	}
	if got := s.RecoveryTarget(s.Objectives[1]); got != 0.97 {
		t.Errorf("recovery target %v, want the steady state's 0.97", got)
	}
	if e := s.Expectations[0]; e.Grade != GradeSecondary || e.Claim != "checkout failed" {
		t.Errorf("expectation decoded wrong: %+v", e)
	}
	if p := s.Phases[0]; p.SourceTime != "07:30 PST" || p.SourceGrade != GradePrimary || p.Approximate || !s.Phases[1].Approximate {
		t.Errorf("phase source fields: %+v / %+v", s.Phases[0], s.Phases[1])
	}

	old, err := Parse("f.yaml", []byte(base+`hypotheses:
  - {during: a, journey: browse, success: ">= 95%"}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(old.Objectives) != 1 || len(old.Warnings) != 1 || !strings.Contains(old.Warnings[0].String(), "f.yaml:10:3: hypotheses: warning: `hypotheses` is now `objectives`") {
		t.Errorf("deprecated key: objectives %d, warnings %v", len(old.Objectives), old.Warnings)
	}

	for name, tc := range map[string]struct{ yaml, want string }{
		"recovery without after":   {"objectives:\n  - {journey: checkout, recover_within: 30s}\n", "a recovery objective needs `after`"},
		"after without recovery":   {"objectives:\n  - {after: a, journey: checkout, success: \">= 90%\"}\n", "`after` makes a recovery objective: it needs recover_within"},
		"during and recovery":      {"objectives:\n  - {during: a, after: a, journey: checkout, recover_within: 1m}\n", "not both"},
		"recovery on latency":      {"objectives:\n  - {after: a, journey: checkout, recover_within: 1m, p99: \"< 1s\"}\n", "cannot check p99"},
		"unknown after":            {"objectives:\n  - {after: zz, journey: checkout, recover_within: 1m}\n", `objectives[0].after: unknown phase "zz"`},
		"no phase":                 {"objectives:\n  - {journey: checkout, success: \">= 9%\"}\n", "an objective needs `during` or `after`"},
		"expectation every phase":  {"expectations:\n  - {during: \"*\", journey: checkout, success: \"<= 9%\"}\n", `"*" is for objectives only`},
		"bad grade":                {"expectations:\n  - {during: a, journey: checkout, success: \"<= 9%\", grade: gospel}\n", `unknown source grade "gospel"`},
		"grade on an objective":    {"objectives:\n  - {during: a, journey: checkout, success: \">= 9%\", grade: primary}\n", `unknown field "grade"`},
		"both keys":                {"objectives:\n  - {during: a, success: \">= 9%\"}\nhypotheses:\n  - {during: a, success: \">= 9%\"}\n", "not both"},
		"expectation without when": {"expectations:\n  - {journey: checkout, success: \"<= 9%\"}\n", `missing required field "during"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(base+tc.yaml), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
