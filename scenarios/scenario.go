// Package scenarios reads, validates and plays Outage Lab scenarios.
//
// A scenario replays an outage as timed fault phases against a topology while
// load runs, and judges the system by its objectives (what it must hold),
// reporting beside them how faithfully the replay reproduced what its
// sources say happened (expectations, fidelity):
//
//	file.yaml ──Load──► Scenario ──Play──► harness (topology, faults, load, recorder) ──► result.Result
//
// Times on a phase (`at`, `for`) are incident time: what the post-incident
// report says. The engine divides them by the time scale (60 = one incident
// hour plays as one wall minute). Warm-up, recovery window and abort guards'
// `for` are wall-clock time: they are about the test, not the incident.
package scenarios

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Scenario is one validated scenario file.
type Scenario struct {
	Name    string   `json:"name"`
	Title   string   `json:"title"`
	Date    string   `json:"date,omitempty"` // incident date, YYYY-MM-DD
	Summary string   `json:"summary,omitempty"`
	Sources []string `json:"sources,omitempty"`
	// Topology is "storefront" (the built-in one) or a topology file path,
	// relative to the scenario file.
	Topology string `json:"topology"`
	// TimeScale is incident seconds per wall second (60: an incident hour plays in a minute).
	TimeScale float64     `json:"time_scale"`
	Policy    Policy      `json:"policy"`
	Seed      int64       `json:"seed"`
	Load      LoadProfile `json:"load"`
	// Warmup runs load before the first steady-state check (wall time).
	Warmup time.Duration `json:"warmup"`
	// Recovery is the window after the last phase before steady state is checked again (wall time).
	Recovery    time.Duration `json:"recovery"`
	SteadyState []Hypothesis  `json:"steady_state,omitempty"`
	Phases      []Phase       `json:"phases"`
	// Objectives are what the system under test must hold (SLOs per journey
	// and region during phases, and recovery after them): with the steady
	// state and the invariants they decide the verdict. Files written before
	// objectives existed call them `hypotheses` (still read, with a warning).
	Objectives []Hypothesis `json:"objectives,omitempty"`
	// Expectations are what the outage's sources say happened (replay
	// fidelity): judged and reported, but they decide the verdict only when
	// the run is asked to gate on fidelity.
	Expectations []Hypothesis `json:"expectations,omitempty"`
	Abort        []Guard      `json:"abort,omitempty"`
	// Warnings are things the loader accepted but the author should change
	// (deprecated keys), each with its position.
	Warnings []Warning `json:"-"`
	// objectivesKey is the key the objectives were written under:
	// "objectives", or the deprecated "hypotheses" (error paths use it).
	objectivesKey string

	// File is where the scenario was read from ("library/NAME.yaml" for the library).
	File string `json:"file,omitempty"`
	Pos  Pos    `json:"-"`
}

// Policy picks the storefront's resilience preset, with per-edge overrides.
type Policy struct {
	Preset string            `json:"preset"`          // fragile|hardened
	Edges  map[string]string `json:"edges,omitempty"` // edge name → preset
}

// LoadProfile is the open-model load profile.
type LoadProfile struct {
	// Rate is arrivals per second per region.
	Rate map[string]float64 `json:"rate"`
	// Mix is the journey weights (relative).
	Mix map[string]int `json:"mix"`
}

// Phase is a span of incident time with the faults active in it.
type Phase struct {
	Name string        `json:"name"`
	At   time.Duration `json:"at"`  // offset from incident start, incident time
	For  time.Duration `json:"for"` // duration, incident time
	Note string        `json:"note,omitempty"`
	// SourceTime is the source's own time for the phase's start, as the
	// source writes it (e.g. "07:30 PST"), for the fidelity table.
	SourceTime string `json:"source_time,omitempty"`
	// SourceGrade is how far our check of the source for this phase got:
	// primary (the company's own text read), secondary (write-ups that
	// agree), unverified (no retrievable source states it). It says nothing
	// about the source's precision: that is Approximate.
	SourceGrade string `json:"source_grade,omitempty"`
	// Approximate: the source itself gives this time only roughly ("~15:40").
	Approximate bool    `json:"approximate,omitempty"`
	Faults      []Fault `json:"faults,omitempty"`
	Pos         Pos     `json:"-"`
	atPos       Pos
}

// End is At+For.
func (p Phase) End() time.Duration { return p.At + p.For }

// Fault is one fault of a phase: a kind from the harness fault registry, a
// selector and the kind's parameters.
type Fault struct {
	Kind       string             `json:"kind"`
	Edges      *EdgeSelector      `json:"edges,omitempty"`
	Components *ComponentSelector `json:"components,omitempty"`
	// Toxicity is the probability (0..1] a connection is affected; nil: 1.
	Toxicity *float64 `json:"toxicity,omitempty"`
	// Stream is upstream|downstream (Toxiproxy's names); "" = the kind's default.
	Stream string `json:"stream,omitempty"`
	// Params are the kind's own attributes, as written (durations as strings).
	Params map[string]any `json:"params,omitempty"`
	Pos    Pos            `json:"-"`

	kindPos  Pos
	paramPos map[string]Pos
}

// EdgeSelector picks edges. Every set field must match (AND); globs use path.Match.
type EdgeSelector struct {
	Names  []string `json:"names,omitempty"`  // edge names, globs allowed
	From   string   `json:"from,omitempty"`   // caller component glob
	To     string   `json:"to,omitempty"`     // callee component glob
	Region string   `json:"region,omitempty"` // caller's region
	// Crossing [A, B]: edges between region/plane A and B (either direction).
	Crossing []string          `json:"crossing,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"` // callee labels
}

// ComponentSelector picks components.
type ComponentSelector struct {
	Names  []string          `json:"names,omitempty"`
	Region string            `json:"region,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Source grades (Phase.SourceGrade, Hypothesis.Grade).
const (
	GradePrimary    = "primary"
	GradeSecondary  = "secondary"
	GradeUnverified = "unverified"
)

// Grades lists the source grades.
var Grades = []string{GradePrimary, GradeSecondary, GradeUnverified}

// EveryPhase as an objective's During judges it in every phase that has faults.
const EveryPhase = "*"

// Hypothesis is a checked claim about a journey in a window: an objective
// (steady state, during a phase, recovery after one) or an expectation.
type Hypothesis struct {
	During      string      `json:"during,omitempty"`  // phase name, or "*" (objectives: every phase with faults); "" for steady state
	Journey     string      `json:"journey,omitempty"` // "" = all journeys
	Region      string      `json:"region,omitempty"`  // "" = all regions
	Checks      []Condition `json:"checks"`
	Description string      `json:"description,omitempty"`
	// After and RecoverWithin make a recovery objective: once phase After
	// ends, the journey's success must be back at its target (the success
	// check of this objective, else the steady state's, else 95%) for three
	// buckets in a row within RecoverWithin (wall time).
	After         string        `json:"after,omitempty"`
	RecoverWithin time.Duration `json:"recover_within,omitempty"`
	// Claim is what the source says about this (for the fidelity table).
	Claim string `json:"claim,omitempty"`
	// Grade is how far our check of the claim's source got (see Grades).
	Grade string `json:"grade,omitempty"`
	Pos   Pos    `json:"-"`

	index int // position in Scenario.Expectations, for the fidelity row
}

// Warning is something the loader accepted that the author should change.
type Warning struct {
	File    string
	Pos     Pos
	Path    string
	Message string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: warning: %s", w.File, w.Pos.Line, w.Pos.Col, w.Path, w.Message)
}

// RecoveryTarget is the success a recovery objective waits for.
func (s *Scenario) RecoveryTarget(h Hypothesis) float64 {
	for _, c := range h.Checks {
		if c.Metric == MetricSuccess {
			return c.Value
		}
	}
	for _, ss := range s.SteadyState {
		if ss.Journey != h.Journey && ss.Journey != "" {
			continue
		}
		for _, c := range ss.Checks {
			if c.Metric == MetricSuccess {
				return c.Value
			}
		}
	}
	return 0.95
}

// Guard stops the run early (rolling faults back) when its condition holds for For.
type Guard struct {
	Journey   string        `json:"journey,omitempty"`
	Region    string        `json:"region,omitempty"`
	Condition Condition     `json:"condition"`
	For       time.Duration `json:"for"` // wall time the breach must last
	Pos       Pos           `json:"-"`
}

// Metric is what a condition measures.
type Metric string

const (
	MetricSuccess Metric = "success" // (ok+fallback)/attempts, 0..1
	MetricP50     Metric = "p50"
	MetricP95     Metric = "p95"
	MetricP99     Metric = "p99"
)

// Condition is `metric op value`, e.g. success >= 0.99 or p99 < 300ms.
type Condition struct {
	Metric Metric  `json:"metric"`
	Op     string  `json:"op"`    // >=, <=, >, <
	Value  float64 `json:"value"` // success: 0..1; latency: milliseconds
	Text   string  `json:"text"`  // as written, e.g. ">= 99%"
}

// Holds reports whether measured satisfies the condition.
func (c Condition) Holds(measured float64) bool {
	switch c.Op {
	case ">=":
		return measured >= c.Value
	case "<=":
		return measured <= c.Value
	case ">":
		return measured > c.Value
	case "<":
		return measured < c.Value
	}
	return false
}

func (c Condition) String() string { return string(c.Metric) + " " + c.Text }

// Duration is the scenario's length in incident time (end of the last phase).
func (s *Scenario) Duration() time.Duration {
	var d time.Duration
	for _, p := range s.Phases {
		d = max(d, p.End())
	}
	return d
}

// WallDuration is how long a run takes at scale (0: the scenario's own):
// warm-up + phases scaled + recovery.
func (s *Scenario) WallDuration(scale float64) time.Duration {
	if scale <= 0 {
		scale = s.TimeScale
	}
	return s.Warmup + Scale(s.Duration(), scale) + s.Recovery
}

// Phase returns the named phase.
func (s *Scenario) Phase(name string) (Phase, bool) {
	for _, p := range s.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return Phase{}, false
}

// Scale converts incident time to wall time at scale (incident seconds per wall second).
func Scale(d time.Duration, scale float64) time.Duration {
	if scale <= 0 {
		return d
	}
	return time.Duration(float64(d) / scale)
}

// ParseRate parses "40/s", "2400/m", "1.5/s" or a bare number (per second).
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	num, unit, hasUnit := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q is not a number per unit", s)
	}
	per := 1.0
	if hasUnit {
		switch strings.TrimSpace(unit) {
		case "s":
		case "m", "min":
			per = 60
		case "h":
			per = 3600
		default:
			return 0, fmt.Errorf("rate %q has unknown unit %q", s, unit)
		}
	}
	if v < 0 || v != v {
		return 0, fmt.Errorf("rate %q is negative", s)
	}
	return v / per, nil
}

// ParseDuration parses Go durations ("1h58m", "500ms") plus "0" and a "d" day unit ("3d1h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 365 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return days + d, nil
}

// ParseCondition parses `>= 99%`, `<= 0.2`, `< 300ms` for metric m.
func ParseCondition(m Metric, s string) (Condition, error) {
	t := strings.TrimSpace(s)
	c := Condition{Metric: m, Text: t}
	for _, op := range []string{">=", "<=", ">", "<"} {
		if strings.HasPrefix(t, op) {
			c.Op = op
			t = strings.TrimSpace(t[len(op):])
			break
		}
	}
	if c.Op == "" {
		return c, fmt.Errorf("condition %q has no comparison (write e.g. \">= 99%%\" or \"< 300ms\")", s)
	}
	switch m {
	case MetricSuccess:
		pct := strings.HasSuffix(t, "%")
		v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
		if err != nil {
			return c, fmt.Errorf("success %q is not a percentage (write e.g. \">= 95%%\")", s)
		}
		if pct {
			v /= 100
		}
		if v < 0 || v > 1 || v != v {
			return c, fmt.Errorf("success %q is outside 0%%..100%%", s)
		}
		c.Value = v
	case MetricP50, MetricP95, MetricP99:
		d, err := time.ParseDuration(t)
		if err != nil {
			return c, fmt.Errorf("latency %q is not a duration (write e.g. \"< 300ms\")", s)
		}
		if d < 0 {
			return c, fmt.Errorf("latency %q is negative", s)
		}
		c.Value = float64(d) / float64(time.Millisecond)
	default:
		return c, fmt.Errorf("unknown metric %q", m)
	}
	return c, nil
}
