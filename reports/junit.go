package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

// JUnit XML in the common (Jenkins/Ant) shape CI systems read:
//
//	<testsuites name tests failures errors time>
//	  <testsuite name tests failures errors skipped time timestamp hostname>
//	    <properties><property name value/>...</properties>
//	    <testcase name classname time><failure message type>detail</failure></testcase>
//
// One testsuite per scenario (a result holds one), one testcase per
// objective and per invariant. A run that did not complete adds a "run"
// testcase with an <error> saying why.
//
// A replay's claims go in a second testsuite named "fidelity", one testcase
// per claim of the source (fidelity row). A claim the replay reproduced
// passes. A mismatch is a <failure> only when the run gates on fidelity
// (fidelity_gate); otherwise it is <skipped> with the mismatch in its
// message: CI dashboards (Jenkins, GitLab, GitHub test reporters) show
// skipped tests apart, with their message, without turning the build red,
// whereas a property or system-out would hide the mismatch and a failure
// would fail a verdict that fidelity does not decide. A claim whose phase
// never ran is <skipped> as not judged.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit writes r as JUnit XML.
func JUnit(w io.Writer, r *result.Result) error {
	name := scenarioName(r)
	suite := junitSuite{
		Name:      name,
		Time:      secs(runDuration(r)),
		Timestamp: "1970-01-01T00:00:00",
		Hostname:  r.Environment.Hostname,
	}
	if suite.Hostname == "" {
		suite.Hostname = "localhost"
	}
	if !r.StartedAt.IsZero() {
		suite.Timestamp = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	sc, scored := scoreOf(r)
	scoreText := "none"
	if scored {
		scoreText = fmt.Sprintf("%.1f", sc.Value)
	}
	props := [][2]string{
		{"run_id", r.RunID}, {"scenario", name}, {"title", r.Scenario.Title}, {"verdict", string(verdictOf(r))},
		{"resilience_score", scoreText}, {"status", r.Status.State}, {"policy", r.Scenario.Policy},
		{"runtime", r.Scenario.Runtime}, {"seed", fmt.Sprint(r.Scenario.Seed)}, {"time_scale", fmt.Sprint(r.Scenario.TimeScale)},
		{"schema_version", r.SchemaVersion},
	}
	for _, p := range props {
		if p[1] != "" {
			suite.Properties = append(suite.Properties, junitProperty{Name: p[0], Value: xmlSafe(p[1])})
		}
	}
	classHyp := "outagelab." + name + ".objectives"
	classInv := "outagelab." + name + ".invariants"
	phaseDur := map[string]time.Duration{}
	for _, p := range r.Phases {
		if d := p.EndedAt.Sub(p.StartedAt); d > 0 {
			phaseDur[p.Name] = d
		}
	}
	for _, h := range r.Hypotheses {
		id := h.ID
		if id == "" {
			id = "objective"
		}
		c := junitCase{Name: xmlSafe(id + ": " + hypothesisText(h)), Classname: xmlSafe(classHyp), Time: secs(phaseDur[h.Phase])}
		detail := fmt.Sprintf("expected %s %s %s, measured %s over %d samples", h.Metric, h.Op, h.Expected, h.Measured, h.Samples)
		if isRecovery(h) {
			detail = fmt.Sprintf("expected back within %s, measured %s over %d samples", h.Expected, objectiveMeasured(h), h.Samples)
		}
		if h.Holds {
			c.SystemOut = xmlSafe(detail)
		} else {
			c.Failure = &junitProblem{Type: "ObjectiveFailed", Message: xmlSafe(detail),
				Text: xmlSafe(fmt.Sprintf("%s\nkind: %s\nphase: %s\njourney: %s\nregion: %s\nmeasured_value: %g\n", hypothesisText(h), h.Kind, h.Phase, h.Journey, h.Region, h.MeasuredValue))}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	for _, in := range r.Invariants {
		c := junitCase{Name: xmlSafe(in.Name), Classname: xmlSafe(classInv), Time: "0.000"}
		detail := fmt.Sprintf("%s (%d checked)", in.Details, in.Checked)
		if in.Outcome() == result.InvariantUnknown {
			detail = "unknown: " + detail
		}
		if in.Passed() {
			c.SystemOut = xmlSafe(detail)
		} else {
			text := detail
			if len(in.Violations) > 0 {
				text += "\nviolations:\n  " + strings.Join(in.Violations, "\n  ")
			}
			c.Failure = &junitProblem{Type: "InvariantViolated", Message: xmlSafe(detail), Text: xmlSafe(text + "\n")}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	if st := r.Status.State; (st != "" && st != "completed") || verdictOf(r) == result.VerdictError {
		msg := "run ended " + st
		if st == "" {
			msg = "run could not be judged"
		}
		if r.Status.Reason != "" {
			msg += ": " + r.Status.Reason
		}
		suite.Cases = append(suite.Cases, junitCase{Name: "run", Classname: xmlSafe("outagelab." + name), Time: suite.Time,
			Error: &junitProblem{Type: "RunIncomplete", Message: xmlSafe(msg), Text: xmlSafe(msg + "\n")}})
		suite.Errors++
	}
	suite.Tests = len(suite.Cases)
	suite.Name = xmlSafe(suite.Name)
	doc := junitSuites{Name: "outagelab", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: suite.Time, Suites: []junitSuite{suite}}
	if fs, ok := junitFidelity(r, suite, phaseDur); ok {
		doc.Suites = append(doc.Suites, fs)
		doc.Tests += fs.Tests
		doc.Failures += fs.Failures
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitFidelity is the "fidelity" testsuite: one testcase per claim of the
// source; ok false when the result makes no claims.
func junitFidelity(r *result.Result, main junitSuite, phaseDur map[string]time.Duration) (junitSuite, bool) {
	if len(r.Scenario.Fidelity) == 0 && len(r.Expectations) == 0 {
		return junitSuite{}, false
	}
	held, total := expectationCount(r)
	s := junitSuite{Name: "fidelity", Time: "0.000", Timestamp: main.Timestamp, Hostname: main.Hostname,
		Properties: []junitProperty{{Name: "scenario", Value: xmlSafe(scenarioName(r))}, {Name: "fidelity_gate", Value: fmt.Sprint(r.FidelityGate)},
			{Name: "claims_reproduced", Value: fmt.Sprintf("%d/%d", held, total)}}}
	class := xmlSafe("outagelab." + scenarioName(r) + ".fidelity")
	var sum time.Duration
	add := func(name, phase, detail, text string, judged, matches bool) {
		c := junitCase{Name: xmlSafe(name), Classname: class, Time: secs(phaseDur[phase])}
		sum += phaseDur[phase]
		switch {
		case !judged:
			c.Skipped = &junitSkipped{Message: xmlSafe("not judged: the run stopped before phase " + phase + " was judged")}
			s.Skipped++
		case matches:
			c.SystemOut = xmlSafe(text)
		case r.FidelityGate:
			c.Failure = &junitProblem{Type: "FidelityMismatch", Message: xmlSafe(detail), Text: xmlSafe(text)}
			s.Failures++
		default:
			c.Skipped = &junitSkipped{Message: xmlSafe("fidelity mismatch (not gating; --fidelity-gate makes it a failure): " + detail)}
			c.SystemOut = xmlSafe(text)
			s.Skipped++
		}
		s.Cases = append(s.Cases, c)
	}
	if len(r.Scenario.Fidelity) > 0 {
		for _, f := range r.Scenario.Fidelity {
			detail := fmt.Sprintf("the source says %q; expected %s, measured %s", f.Claim, f.Expected, orDash(f.Measured))
			text := fmt.Sprintf("claim: %s\nphase: %s\nsource time: %s\nrun at: %s\ncheck: %s\nmeasured: %s\nresult: %s\nsource grade: %s (%s)\n",
				f.Claim, f.Phase, sourceTimeText(f.SourceTime, f.Approximate), runAtText(f.RunAt), f.Expected, orDash(f.Measured),
				fidelityOutcome(f), gradeText(f.Grade), gradeHint(f.Grade))
			if f.Approximate {
				text += "approximate: the source itself gives this phase's time only roughly\n"
			}
			add(f.Phase+": "+f.Claim, f.Phase, detail, text, f.Judged, f.Matches)
		}
	} else {
		for _, h := range r.Expectations {
			detail := fmt.Sprintf("expected %s %s %s, measured %s over %d samples", h.Metric, h.Op, h.Expected, h.Measured, h.Samples)
			add(h.ID+": "+hypothesisText(h), h.Phase, detail, hypothesisText(h)+"\n"+detail+"\n", true, h.Holds)
		}
	}
	s.Tests = len(s.Cases)
	s.Time = secs(sum)
	return s, true
}

func runDuration(r *result.Result) time.Duration {
	if r.StartedAt.IsZero() || r.EndedAt.IsZero() || r.EndedAt.Before(r.StartedAt) {
		return 0
	}
	return r.EndedAt.Sub(r.StartedAt)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// xmlSafe drops characters XML 1.0 cannot carry (encoding/xml would write
// them as U+FFFD or fail); CI parsers reject such documents.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return -1
		}
		return r
	}, s)
}
