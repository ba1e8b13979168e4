// Package result is the canonical record of one Outage Lab run.
//
// Every report (JSON, Markdown, HTML, JUnit, diff) is rendered from a Result
// and from nothing else. The engine (scenarios) fills it, the harness supplies
// the measured series, and reports/ reads it:
//
//	scenarios ──► harness (faults, load, recorder) ──► Result ──► reports/{md,html,junit,diff}
//
// The JSON field names are an interface: users and CI checks read result.json.
// Add fields freely; rename or remove one only with a SchemaVersion bump.
// Fields are documented in reports/RESULT.md and reports/result.schema.json.
package result

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// SchemaVersion is the version of the result document written by this code.
const SchemaVersion = "1.0"

// Result is one run: what was asked, what was done, what was measured, what held.
type Result struct {
	SchemaVersion string      `json:"schema_version"`
	RunID         string      `json:"run_id"`
	Scenario      Scenario    `json:"scenario"`
	Status        Status      `json:"status"`
	Verdict       Verdict     `json:"verdict"`
	Topology      Topology    `json:"topology"`
	StartedAt     time.Time   `json:"started_at"`
	EndedAt       time.Time   `json:"ended_at"`
	BucketMillis  int64       `json:"bucket_ms"` // width of one series bucket
	Components    []Component `json:"components"`
	Edges         []EdgeStats `json:"edges"`
	Phases        []Phase     `json:"phases"`
	Journeys      []Journey   `json:"journeys"`
	// Hypotheses are the judged objectives (steady state, during phases,
	// recovery after them): with the invariants they decide the verdict.
	// (The key predates objectives and is kept for readers of result.json.)
	Hypotheses []Hypothesis `json:"hypotheses"`
	// Expectations are the judged replay claims (what the sources say
	// happened): fidelity, which decides the verdict only when FidelityGate.
	Expectations []Hypothesis `json:"expectations,omitempty"`
	// FidelityGate: the run was asked to fail when an expectation missed.
	FidelityGate bool        `json:"fidelity_gate,omitempty"`
	Invariants   []Invariant `json:"invariants"`
	// Findings are what the run's own figures say to fix, per edge.
	Findings   []Finding     `json:"findings,omitempty"`
	Monitoring *Monitoring   `json:"monitoring,omitempty"`
	Cascade    []CascadeStep `json:"cascade"`
	// BlastRadius: per fault, which journeys/regions and components it hurt.
	BlastRadius []BlastRadius `json:"blast_radius,omitempty"`
	// Load describes the load generator's own behaviour (schedule error,
	// arrivals it dropped), so a reader can tell its limits from the system's.
	Load        *LoadStats  `json:"load,omitempty"`
	Events      []Event     `json:"events"`          // everything that happened, in time order
	Notes       []Note      `json:"notes,omitempty"` // game-day facilitator/observer notes
	Environment Environment `json:"environment"`
	Score       *Score      `json:"score,omitempty"`
}

// Status says how the run ended.
type Status struct {
	// State: "completed", "aborted" (an abort guard fired), "interrupted"
	// (signal), "failed" (infrastructure error), "steady_state_failed".
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// Verdict is the overall outcome: "pass" when every hypothesis and invariant
// held, "fail" when one did not, "error" when the run could not judge.
type Verdict string

const (
	VerdictPass  Verdict = "pass"
	VerdictFail  Verdict = "fail"
	VerdictError Verdict = "error"
)

// Scenario is the scenario's metadata as played.
type Scenario struct {
	Name      string   `json:"name"`
	Title     string   `json:"title"`
	Date      string   `json:"date,omitempty"` // incident date, YYYY-MM-DD
	Summary   string   `json:"summary,omitempty"`
	Sources   []string `json:"sources,omitempty"`
	File      string   `json:"file,omitempty"`
	TimeScale float64  `json:"time_scale"` // incident seconds per wall second
	Seed      int64    `json:"seed"`
	// SeedReproduces and SeedDoesNotReproduce say what Seed determines in
	// this run and what it cannot (see SeedScope).
	SeedReproduces       []string `json:"seed_reproduces,omitempty"`
	SeedDoesNotReproduce []string `json:"seed_does_not_reproduce,omitempty"`
	Policy               string   `json:"policy"`  // storefront preset, e.g. fragile|hardened
	Runtime              string   `json:"runtime"` // docker|local
	// Fidelity compares what the source says stayed up / went down with what was measured.
	Fidelity []Fidelity `json:"fidelity,omitempty"`
}

// SeedScope is what a run's seed reproduces and what it does not, as
// recorded in Scenario.SeedReproduces / SeedDoesNotReproduce (and told in
// scenarios/README.md).
func SeedScope() (reproduces, doesNot []string) {
	return []string{
			"fault schedule: phase order and the faults applied in each phase",
			"load choices per arrival (journey, user, product, quantity, search term), per region in arrival order",
			"app-level fault decisions (http_error): per target, the n-th request it may fail gets the same decision",
		}, []string{
			"Toxiproxy draws: which connections a toxic with toxicity < 1 hits, and latency jitter, retry_storm's included (Toxiproxy's own unseeded source)",
			"timing: which request is the n-th to reach a component under concurrency, so the same positions fail but not always the same requests",
			"the storefront's retry backoff jitter, and payment --failure-rate draws unless the provider runs with --seed",
		}
}

// Fidelity is one row of "the report said X; the replay measured Y".
type Fidelity struct {
	Phase string `json:"phase"`
	// SourceTime is the source's time for the phase's start ("07:30 PST");
	// RunAt is when the phase started in this run, from the run's start.
	SourceTime string `json:"source_time,omitempty"`
	RunAt      string `json:"run_at,omitempty"`
	Claim      string `json:"claim"`    // what the source says
	Expected   string `json:"expected"` // the check that stands for the claim, e.g. "checkout in eu-west-1 success <= 20%"
	Measured   string `json:"measured"` // what this run saw
	Matches    bool   `json:"matches"`
	// Judged is false when the phase never ran (the run stopped before it).
	Judged bool `json:"judged"`
	// Grade is how far the check of the claim's source got: primary,
	// secondary or unverified ("" not graded). Approximate says the source
	// itself gives the time only roughly; the two are independent.
	Grade       string `json:"grade,omitempty"`
	Approximate bool   `json:"approximate,omitempty"`
}

// Finding is one thing the run's own figures say to fix, on one edge.
type Finding struct {
	// Kind: retry_amplification (the caller multiplied load on a failing
	// dependency), no_effective_timeout (the caller's latency followed the
	// fault's), stuck_after_fault (the edge kept failing after the fault
	// was removed: a breaker or pool that did not recover).
	Kind  string `json:"kind"`
	Edge  string `json:"edge"`
	Phase string `json:"phase,omitempty"`
	// AtMs is when the evidence was seen, from the run's start.
	AtMs int64 `json:"at_ms"`
	// Evidence says what was measured, with the figures in Figures.
	Evidence string             `json:"evidence"`
	Figures  map[string]float64 `json:"figures,omitempty"`
	// Threshold is the documented rule that made this a finding.
	Threshold string `json:"threshold"`
	// Fix is the policy change that addresses it.
	Fix string `json:"fix"`
}

// Topology is the shape of the system that ran.
type Topology struct {
	Name       string          `json:"name"`
	Regions    []string        `json:"regions"`
	Components []TopoComponent `json:"components"`
	Edges      []TopoEdge      `json:"edges"`
}

type TopoComponent struct {
	Name   string            `json:"name"`
	Kind   string            `json:"kind"` // service|datastore|monitoring|user
	Region string            `json:"region"`
	Labels map[string]string `json:"labels,omitempty"`
}

type TopoEdge struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Series is a fixed-bucket time series aligned with Result.StartedAt:
// bucket i covers [StartedAt + i*bucket_ms, StartedAt + (i+1)*bucket_ms).
// Missing values are encoded as null in JSON (nil pointer) where a slice of
// pointers is used; counters use 0.

// Component is one component's measured behaviour.
type Component struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Region string `json:"region"`
	// Per-bucket series.
	Requests []int64            `json:"requests"`
	Errors   map[string][]int64 `json:"errors"` // by class: timeout, refused, reset, 5xx, breaker_open, fallback, other
	P50Ms    []float64          `json:"p50_ms"`
	P95Ms    []float64          `json:"p95_ms"`
	P99Ms    []float64          `json:"p99_ms"`
	Breaker  []string           `json:"breaker,omitempty"` // closed|half_open|open per bucket ("" unknown)
	State    []string           `json:"state"`             // healthy|degraded|down|unknown per bucket
	// Derived.
	StateRule    string        `json:"state_rule"` // the rule used to derive State
	Degradations []Degradation `json:"degradations,omitempty"`
	WorstState   string        `json:"worst_state"`
}

// Degradation ties a component's degradation to a fault.
type Degradation struct {
	Fault string `json:"fault"` // Fault.ID
	// DetectionLagMs: first bucket after the fault took effect in which the
	// component was not healthy, minus the apply time. Nil: never degraded.
	DetectionLagMs *int64 `json:"detection_lag_ms"`
	// RecoveryMs: time from the fault's removal until the component was
	// healthy again for 3 consecutive buckets. Nil: did not recover in the run.
	RecoveryMs *int64 `json:"recovery_ms"`
}

// EdgeStats are per-edge measurements (from Toxiproxy and the caller's metrics).
type EdgeStats struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
	// Requests the caller's own callers sent it (per bucket) and requests that
	// reached the callee over this edge, including retries.
	CallerRequests []int64 `json:"caller_requests"`
	CalleeRequests []int64 `json:"callee_requests"`
	// RetryAmplification = sum(callee_requests) / sum(caller_requests) over the
	// run and per phase; 0 when the caller received nothing.
	RetryAmplification float64 `json:"retry_amplification"`
	// LogicalCalls: calls the caller made on this edge before retries (per
	// bucket). AmplificationBasis says which denominator was used:
	// "logical_calls" (attempts ÷ logical calls) or "caller_requests".
	LogicalCalls         []int64            `json:"logical_calls,omitempty"`
	AmplificationBasis   string             `json:"amplification_basis,omitempty"`
	AmplificationByPhase map[string]float64 `json:"amplification_by_phase,omitempty"`
	BytesUp              []int64            `json:"bytes_up,omitempty"`
	BytesDown            []int64            `json:"bytes_down,omitempty"`
}

// Phase is a scenario phase as played.
type Phase struct {
	Name        string    `json:"name"`
	Note        string    `json:"note,omitempty"`
	Approximate bool      `json:"approximate,omitempty"`  // the source gives this phase's time only roughly
	SourceTime  string    `json:"source_time,omitempty"`  // the source's own time for the phase's start
	SourceGrade string    `json:"source_grade,omitempty"` // primary|secondary|unverified: how far the check of the source got
	IncidentAt  string    `json:"incident_at"`            // offset in incident time, e.g. "1h58m0s"
	IncidentFor string    `json:"incident_for"`           // duration in incident time
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at"`
	Faults      []Fault   `json:"faults"`
	// ApplySkewMs: max(applied_at) - min(applied_at) over the phase's faults.
	ApplySkewMs float64 `json:"apply_skew_ms"`
}

// Fault is one fault as applied.
type Fault struct {
	ID        string            `json:"id"` // unique in the run, e.g. "congestion/0"
	Kind      string            `json:"kind"`
	Params    map[string]any    `json:"params,omitempty"`
	Targets   []string          `json:"targets"` // edge or component names it hit
	AppliedAt *time.Time        `json:"applied_at"`
	RemovedAt *time.Time        `json:"removed_at"`
	Error     string            `json:"error,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Journey is one journey in one region.
type Journey struct {
	Name   string `json:"name"`   // browse|search|product|login|add_to_cart|checkout
	Region string `json:"region"` // region the users arrived in
	// Totals over the run.
	Attempts int64            `json:"attempts"`
	Outcomes map[string]int64 `json:"outcomes"` // ok, fallback, timeout, refused, reset, 4xx, 5xx, other
	// Per-bucket series.
	AttemptsSeries []int64   `json:"attempts_series"`
	OKSeries       []int64   `json:"ok_series"`       // ok + fallback
	FallbackSeries []int64   `json:"fallback_series"` // fallback only
	P50Ms          []float64 `json:"p50_ms"`
	P99Ms          []float64 `json:"p99_ms"`
	// Per-phase success and latency.
	ByPhase map[string]JourneyWindow `json:"by_phase,omitempty"`
	// Dropped: arrivals the load generator could not send (in-flight cap or no
	// idle user); not attempts. Late: attempts sent later than the lateness
	// threshold after their intended start (still measured from it).
	Dropped int64 `json:"dropped"`
	Late    int64 `json:"late"`
	// Steps: each request of the journey over the run.
	Steps []JourneyStep `json:"steps,omitempty"`
}

// JourneyStep is one request kind inside a journey (e.g. checkout's login).
type JourneyStep struct {
	Name     string           `json:"name"`
	Attempts int64            `json:"attempts"`
	Outcomes map[string]int64 `json:"outcomes"`
	// Errors counts failed answers by HTTP status and the storefront's error
	// code, e.g. {"409 out_of_stock": 12, "503 checkout_unavailable": 40}.
	Errors map[string]int64 `json:"errors,omitempty"`
	P50Ms  float64          `json:"p50_ms"`
	P99Ms  float64          `json:"p99_ms"`
}

// BlastRadius is what one fault hurt.
type BlastRadius struct {
	Fault      string   `json:"fault"`
	Journeys   []string `json:"journeys"`   // "journey/region" whose success fell while it was active
	Components []string `json:"components"` // components not healthy while it was active
	Rule       string   `json:"rule"`
}

// LoadStats is the load generator's schedule and limits over the run.
type LoadStats struct {
	Rates              map[string]float64 `json:"rates"` // arrivals/s per region
	Sent               int64              `json:"sent"`
	Late               int64              `json:"late"`
	Dropped            int64              `json:"dropped"`
	ScheduleErrP50Ms   float64            `json:"schedule_err_p50_ms"`
	ScheduleErrP99Ms   float64            `json:"schedule_err_p99_ms"`
	ScheduleErrMaxMs   float64            `json:"schedule_err_max_ms"`
	MaxInFlight        int64              `json:"max_in_flight"`
	AcknowledgedOrders int64              `json:"acknowledged_orders"`
}

// JourneyWindow is a journey's summary over a time window.
type JourneyWindow struct {
	Attempts    int64   `json:"attempts"`
	SuccessRate float64 `json:"success_rate"` // (ok+fallback)/attempts, 0..1
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
}

// Hypothesis is one checked expectation and its verdict.
type Hypothesis struct {
	ID            string  `json:"id"`
	Kind          string  `json:"kind"` // steady_state_before|steady_state_after|during|recovery|abort|expectation
	Phase         string  `json:"phase,omitempty"`
	Journey       string  `json:"journey,omitempty"`
	Region        string  `json:"region,omitempty"`
	Metric        string  `json:"metric"`         // success|p50|p95|p99
	Op            string  `json:"op"`             // >=, <=, >, <
	Expected      string  `json:"expected"`       // as written: "99%", "300ms"
	Measured      string  `json:"measured"`       // formatted measured value
	MeasuredValue float64 `json:"measured_value"` // success in 0..1, latency in ms
	Samples       int64   `json:"samples"`
	Holds         bool    `json:"holds"`
	Description   string  `json:"description"`
}

// Invariant states (Invariant.State).
const (
	InvariantHolds    = "holds"
	InvariantViolated = "violated"
	// InvariantUnknown: the evidence needed was lost (e.g. the payment
	// ledger restarted during the run): neither holds nor violated, and the
	// run does not pass.
	InvariantUnknown = "unknown"
)

// Invariant is a data property checked after the run.
type Invariant struct {
	Name string `json:"name"`
	// Holds is true only when State is "holds".
	Holds bool `json:"holds"`
	// State is "holds", "violated" or "unknown" (absent in results written
	// before it existed: see Outcome).
	State   string `json:"state,omitempty"`
	Details string `json:"details"`
	// Violations names the orders/keys involved when Holds is false.
	Violations []string `json:"violations,omitempty"`
	Checked    int64    `json:"checked"`
}

// Outcome is State, or for an invariant recorded without one, "holds" or
// "violated" as Holds says.
func (iv Invariant) Outcome() string {
	if iv.State != "" {
		return iv.State
	}
	if iv.Holds {
		return InvariantHolds
	}
	return InvariantViolated
}

// Passed reports whether the invariant counts for a passing verdict: it
// held, and no state says otherwise (an unknown invariant never passes).
func (iv Invariant) Passed() bool { return iv.Holds && iv.Outcome() == InvariantHolds }

// Monitoring compares what the storefront's in-band monitoring saw with what
// the recorder measured out of band.
type Monitoring struct {
	Component string `json:"component"`
	// Per bucket: how many components monitoring reported unhealthy, and how
	// many the recorder found unhealthy; -1 when monitoring could not answer.
	SawUnhealthy  []int  `json:"saw_unhealthy"`
	TrueUnhealthy []int  `json:"true_unhealthy"`
	DarkBuckets   int    `json:"dark_buckets"`
	Summary       string `json:"summary"`
	Rule          string `json:"rule,omitempty"` // how saw/true were counted
}

// CascadeStep: Component degraded at AtMs (from run start), after Cause, along Edge.
type CascadeStep struct {
	Component string `json:"component"`
	AtMs      int64  `json:"at_ms"`
	Cause     string `json:"cause,omitempty"` // upstream component or fault id
	Edge      string `json:"edge,omitempty"`
}

// Event is a timestamped entry in the run's log.
type Event struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"` // phase_start, phase_end, fault_applied, fault_removed, abort, note, error, ...
	Message string    `json:"message"`
	Actor   string    `json:"actor,omitempty"`
}

// Note is a game-day note.
type Note struct {
	At     time.Time `json:"at"`
	Author string    `json:"author"`
	Role   string    `json:"role"` // facilitator|observer
	Text   string    `json:"text"`
}

// Environment describes where the run happened.
type Environment struct {
	Runtime          string            `json:"runtime"`
	OutageLab        string            `json:"outagelab_version"`
	GoVersion        string            `json:"go_version"`
	OS               string            `json:"os"`
	Arch             string            `json:"arch"`
	CPUs             int               `json:"cpus"`
	Hostname         string            `json:"hostname,omitempty"`
	DockerVersion    string            `json:"docker_version,omitempty"`
	ToxiproxyVersion string            `json:"toxiproxy_version,omitempty"`
	Images           map[string]string `json:"images,omitempty"`
}

// Score is the resilience score (see reports/SCORE.md for the formula).
type Score struct {
	Value   float64            `json:"value"` // 0..100
	Formula string             `json:"formula"`
	Parts   map[string]float64 `json:"parts,omitempty"`
	// Version is the formula's version (2 since objectives); 0 in results
	// scored by v1.
	Version int `json:"version,omitempty"`
	// Journeys is each journey's error-budget part (v2), for the reader.
	Journeys []JourneyScore `json:"journeys,omitempty"`
}

// JourneyScore is one journey/region's share of the score (v2).
type JourneyScore struct {
	Journey string  `json:"journey"`
	Region  string  `json:"region"`
	Weight  float64 `json:"weight"`
	Target  float64 `json:"target"`  // success the objectives ask for, 0..1
	Success float64 `json:"success"` // measured over the phases with faults, 0..1
	// Budget is the failures the target allows over those attempts; Burned
	// is the share of it that was used (1 = all of it; above 1 = overspent).
	Budget float64 `json:"budget"`
	Burned float64 `json:"burned"`
	Value  float64 `json:"value"` // this journey's part, 0..1
}

// Write writes r as indented JSON to dir/result.json (creating dir) and returns the path.
func (r *Result) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create result dir: %w", err)
	}
	p := filepath.Join(dir, "result.json")
	tmp := p + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", fmt.Errorf("create result: %w", err)
	}
	if err := r.Encode(f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close result: %w", err)
	}
	return p, os.Rename(tmp, p)
}

// Encode writes r as indented JSON.
func (r *Result) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	return nil
}

// Read loads a result document, rejecting unknown major schema versions.
func Read(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a result document: %w", path, err)
	}
	if r.SchemaVersion == "" {
		return nil, fmt.Errorf("%s: no schema_version: not an Outage Lab result (write one with `outagelab run`)", path)
	}
	if r.SchemaVersion[0] != SchemaVersion[0] {
		return nil, fmt.Errorf("%s: schema_version %s is not readable by this outagelab (reads %s.x)", path, r.SchemaVersion, SchemaVersion[:1])
	}
	return &r, nil
}
