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
// hypothesis and per invariant. A run that did not complete adds a "run"
// testcase with an <error> saying why.

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
	SystemOut string        `xml:"system-out,omitempty"`
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
	classHyp := "outagelab." + name + ".hypotheses"
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
			id = "hypothesis"
		}
		c := junitCase{Name: xmlSafe(id + ": " + hypothesisText(h)), Classname: xmlSafe(classHyp), Time: secs(phaseDur[h.Phase])}
		detail := fmt.Sprintf("expected %s %s %s, measured %s over %d samples", h.Metric, h.Op, h.Expected, h.Measured, h.Samples)
		if h.Holds {
			c.SystemOut = xmlSafe(detail)
		} else {
			c.Failure = &junitProblem{Type: "HypothesisFailed", Message: xmlSafe(detail),
				Text: xmlSafe(fmt.Sprintf("%s\nkind: %s\nphase: %s\njourney: %s\nregion: %s\nmeasured_value: %g\n", hypothesisText(h), h.Kind, h.Phase, h.Journey, h.Region, h.MeasuredValue))}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	for _, in := range r.Invariants {
		c := junitCase{Name: xmlSafe(in.Name), Classname: xmlSafe(classInv), Time: "0.000"}
		detail := fmt.Sprintf("%s (%d checked)", in.Details, in.Checked)
		if in.Holds {
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
	doc := junitSuites{Name: "outagelab", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: suite.Time, Suites: []junitSuite{suite}}
	doc.Name = xmlSafe(doc.Name)
	suite.Name = xmlSafe(suite.Name)
	doc.Suites[0].Name = suite.Name
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
