package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/record"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/reports/result"
)

// RunOptions tune one run. Zero values mean "the scenario's own".
type RunOptions struct {
	// Env reuses a running topology (a Ginkgo suite shares one across
	// specs). The engine removes its faults but never tears it down. Nil:
	// the engine brings one up with Harness and tears it down at the end.
	Env *harness.Env
	// Harness configures harness.Up when Env is nil (runtime, logs, ...).
	// Its Topology and Policy are set from the scenario unless given.
	Harness harness.Options
	// TimeScale overrides the scenario's (--time-scale).
	TimeScale float64
	// Seed overrides the scenario's (--seed).
	Seed int64
	// Policy overrides the scenario's preset (--policy fragile|hardened).
	Policy string
	// FidelityGate makes a missed expectation (what the outage's sources
	// say happened) fail the verdict, as objectives do (--fidelity-gate;
	// the library's own CI uses it). Off: expectations are reported only.
	FidelityGate bool
	// Out, when set, receives result.json — on every exit path.
	Out string
	// Progress receives live progress: one rewritten line on a terminal,
	// plain lines otherwise. Nil: silent.
	Progress io.Writer
	// Bucket is the recorder's bucket width (default 1 s).
	Bucket time.Duration
	// Version is recorded in the result's environment.
	Version string
	// Logger for engine events (default: discard).
	Logger *slog.Logger
	// BeforeInvariants, when set, runs after the load stops and before the
	// invariants are checked, with what they will check; it may change it
	// (tests use it to tamper with a datastore, or point a check at a dead
	// address, and see the run fail). An error from it is an infrastructure
	// error.
	BeforeInvariants func(ctx context.Context, cfg *InvariantConfig) error
}

// ErrAborted is returned (wrapped) when an abort guard stopped the run.
var ErrAborted = errors.New("aborted by guard")

// Run plays s and returns its result. The result is never nil: a run that
// fails, aborts or is interrupted still returns (and writes to o.Out) what
// was recorded, with Status saying why it stopped. The error is non-nil only
// for infrastructure failures and interruptions (exit code 2); a hypothesis
// that did not hold is a Verdict, not an error.
//
//	warm-up ─► steady state ─► phases (faults on/off, guards, storms) ─► recovery ─► steady state ─► invariants
func Run(ctx context.Context, s *Scenario, o RunOptions) (res *result.Result, err error) {
	r := &runner{s: s, o: o, log: o.Logger}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.o.Bucket <= 0 {
		r.o.Bucket = time.Second
	}
	r.res = r.skeleton()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("engine panic: %v\n%s", p, debug.Stack())
			r.setStatus("failed", fmt.Sprintf("panic: %v", p))
		}
		if cerr := r.cleanup(ctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
		r.finish()
		if o.Out != "" {
			if _, werr := r.res.Write(o.Out); werr != nil {
				err = errors.Join(err, werr)
			}
		}
		res = r.res
	}()
	return r.res, r.run(ctx)
}

type runner struct {
	s    *Scenario
	o    RunOptions
	log  *slog.Logger
	res  *result.Result
	plan *Plan

	env    *harness.Env
	ownEnv bool
	gen    *load.Generator
	rec    *record.Recorder
	epoch  time.Time
	// paymentLedger is the payment ledger's id read before the load
	// (no_double_charge is unknown when it changed by the check).
	paymentLedger string

	mu       sync.Mutex
	applied  map[string]*faults.Applied
	storms   map[string]*stormState
	aborted  string
	stage    string // for progress between phases: warm-up, recovery
	progress *progress
}

type stormState struct {
	PlannedStorm
	applied  *faults.Applied
	edges    []*topology.Edge
	prev     map[string]float64 // caller/dep → counter
	latency  []int64            // latency in effect (ms) per bucket
	rateSeen []float64
	// cur is the latency (ms) the toxic holds now, set at updated.
	cur     int64
	updated time.Time
}

// Toxiproxy restarts a latency toxic when it is updated, and the restart
// lets the chunk it holds through at once ("exit fast without applying
// latency"): a storm updated every bucket can never delay a response by
// more than about a bucket. So a storm's toxic changes only when the new
// latency differs from the one in effect by at least stormMinChange (or
// stormMinChangeShare of it), and no sooner than that latency after the
// last change, so what it holds has been let through on time.
const (
	stormMinChange      = 50 * time.Millisecond
	stormMinChangeShare = 0.1
)

// stormUpdateDue says whether a storm whose toxic holds cur (ms), changed
// at updated, should change to next (ms) at now, with buckets of width.
func stormUpdateDue(cur, next int64, updated, now time.Time, width time.Duration) bool {
	diff := next - cur
	if diff < 0 {
		diff = -diff
	}
	if time.Duration(diff)*time.Millisecond < stormMinChange || float64(diff) < stormMinChangeShare*float64(cur) {
		return false
	}
	return now.Sub(updated) >= max(width, time.Duration(cur)*time.Millisecond)
}

func (r *runner) skeleton() *result.Result {
	scale := r.o.TimeScale
	if scale <= 0 {
		scale = r.s.TimeScale
	}
	seed := r.o.Seed
	if seed == 0 {
		seed = r.s.Seed
	}
	policy := r.o.Policy
	if policy == "" {
		policy = r.s.Policy.Preset
	}
	host, _ := os.Hostname()
	reproduces, doesNot := result.SeedScope()
	res := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Scenario: result.Scenario{Name: r.s.Name, Title: r.s.Title, Date: r.s.Date, Summary: r.s.Summary,
			Sources: r.s.Sources, File: r.s.File, TimeScale: scale, Seed: seed, Policy: policy,
			SeedReproduces: reproduces, SeedDoesNotReproduce: doesNot},
		Status:      result.Status{State: "running"},
		Verdict:     result.VerdictError,
		StartedAt:   time.Now(),
		Components:  []result.Component{},
		Edges:       []result.EdgeStats{},
		Phases:      []result.Phase{},
		Journeys:    []result.Journey{},
		Hypotheses:  []result.Hypothesis{},
		Invariants:  []result.Invariant{},
		Cascade:     []result.CascadeStep{},
		Events:      []result.Event{},
		Environment: result.Environment{OutageLab: r.o.Version, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Hostname: host},
	}
	res.FidelityGate = r.o.FidelityGate
	for _, h := range r.s.Expectations {
		ph, _ := r.s.Phase(h.During)
		claim := h.Claim
		if claim == "" {
			claim = h.Description
		}
		grade := h.Grade
		if grade == "" {
			grade = ph.SourceGrade
		}
		res.Scenario.Fidelity = append(res.Scenario.Fidelity, result.Fidelity{Phase: h.During, SourceTime: ph.SourceTime,
			Claim: claim, Expected: checkText(h), Grade: grade, Approximate: ph.Approximate})
	}
	return res
}

// checkText is a hypothesis's checks as one line: "checkout in eu-west-1 success <= 20%".
func checkText(h Hypothesis) string {
	var cs []string
	for _, c := range h.Checks {
		cs = append(cs, c.String())
	}
	return orAll(h.Journey) + regionText(h.Region) + " " + strings.Join(cs, ", ")
}

func (r *runner) event(kind, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.mu.Lock()
	r.res.Events = append(r.res.Events, result.Event{At: time.Now(), Kind: kind, Message: msg, Actor: "engine"})
	r.mu.Unlock()
	r.log.Info(msg, "kind", kind)
	r.progress.line(kind + ": " + msg)
}

func (r *runner) setStage(s string) {
	r.mu.Lock()
	r.stage = s
	r.mu.Unlock()
}

func (r *runner) setStatus(state, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The first terminal reason wins: an abort followed by a teardown error stays an abort.
	if r.res.Status.State == "running" || state == "failed" && r.res.Status.State == "completed" {
		r.res.Status = result.Status{State: state, Reason: reason}
	}
}

func (r *runner) run(ctx context.Context) error {
	r.progress = newProgress(r.o.Progress)
	plan, err := PlanRun(r.s, r.res.Scenario.TimeScale, r.res.Scenario.Seed)
	if err != nil {
		r.setStatus("failed", err.Error())
		return err
	}
	r.plan = plan
	if err := r.up(ctx); err != nil {
		return r.stop(ctx, err)
	}
	if err := r.startLoad(ctx); err != nil {
		return r.stop(ctx, err)
	}

	// Warm-up, then steady state.
	r.setStage("warm-up")
	r.event("warmup", "warm-up %s", r.s.Warmup)
	if err := r.wait(ctx, r.epoch.Add(r.s.Warmup), -1); err != nil {
		return r.stop(ctx, err)
	}
	warmFrom := r.epoch.Add(min(2*time.Second, r.s.Warmup/2))
	// A system still settling (a busy machine, cold caches) is given a
	// bounded extra wait, said on screen, judged over the latest window of
	// the warm-up's length; only then is a miss a steady-state failure.
	if deadline := time.Now().Add(steadyGrace(r.s.Warmup)); !r.steadyNow(warmFrom, time.Now()) {
		r.event("steady_state", "not steady yet after the warm-up (%s); waiting up to %s more before judging", r.missedSteady(warmFrom, time.Now()), steadyGrace(r.s.Warmup))
		r.setStage("waiting for the steady state")
		for time.Now().Before(deadline) {
			if err := r.wait(ctx, time.Now().Add(r.o.Bucket), -1); err != nil {
				return r.stop(ctx, err)
			}
			warmFrom = time.Now().Add(-(r.s.Warmup - min(2*time.Second, r.s.Warmup/2)))
			if r.steadyNow(warmFrom, time.Now()) {
				r.event("steady_state", "steady after %s more", (steadyGrace(r.s.Warmup) - time.Until(deadline)).Round(time.Second))
				break
			}
		}
	}
	if ok := r.judge("steady_state_before", r.s.SteadyState, "", warmFrom, time.Now()); !ok {
		r.setStatus("steady_state_failed", "the steady state did not hold before any fault: "+r.failedText("steady_state_before"))
		r.event("steady_state", "steady state failed before the first phase; no fault injected")
		return nil
	}

	// Phases on the scaled clock.
	r.setStage("between phases")
	start := time.Now()
	r.event("phases", "%d phase(s) over %s (incident time %s at %gx)", len(plan.Phases), plan.Total.Round(time.Second), r.s.Duration(), plan.Scale)
	for i := range plan.Phases {
		pp := &plan.Phases[i]
		if err := r.wait(ctx, start.Add(pp.Start), -1); err != nil {
			return r.stop(ctx, err)
		}
		if err := r.playPhase(ctx, start, pp); err != nil {
			return r.stop(ctx, err)
		}
	}

	// Recovery, then steady state again.
	r.setStage("recovery")
	r.event("recovery", "recovery window %s", r.s.Recovery)
	recStart := time.Now()
	if err := r.wait(ctx, recStart.Add(r.s.Recovery), -1); err != nil {
		return r.stop(ctx, err)
	}
	r.judge("steady_state_after", r.s.SteadyState, "", recStart.Add(r.s.Recovery/2), time.Now())
	r.setStatus("completed", "")
	return nil
}

// stop classifies why the run stopped early.
func (r *runner) stop(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, ErrAborted):
		r.setStatus("aborted", r.aborted)
		return nil
	case ctx.Err() != nil:
		r.setStatus("interrupted", "interrupted: "+context.Cause(ctx).Error())
		return fmt.Errorf("run interrupted: %w", context.Cause(ctx))
	default:
		r.setStatus("failed", err.Error())
		return err
	}
}

func (r *runner) up(ctx context.Context) error {
	if r.o.Env != nil {
		r.env = r.o.Env
		r.event("topology", "reusing running topology %s (%s, run %s); its policy is whatever it was started with", r.env.Topology().Name, r.env.RuntimeName(), r.env.RunID())
	} else {
		ho := r.o.Harness
		if ho.Topology == nil {
			t, err := ResolveTopology(r.s.Topology, r.s.File, Policy{Preset: r.res.Scenario.Policy, Edges: r.s.Policy.Edges})
			if err != nil {
				return fmt.Errorf("topology: %w", err)
			}
			ho.Topology = t
		}
		if ho.Logger == nil {
			ho.Logger = r.log
		}
		r.event("topology", "bringing up %s (%d components, %d edges)", ho.Topology.Name, len(ho.Topology.Components), len(ho.Topology.Edges))
		env, err := harness.Up(ctx, ho)
		if err != nil {
			return fmt.Errorf("bring up topology: %w", err)
		}
		r.env, r.ownEnv = env, true
	}
	t := r.env.Topology()
	r.res.RunID = r.env.RunID()
	r.res.Scenario.Runtime = r.env.RuntimeName()
	r.res.Environment.Runtime = r.env.RuntimeName()
	if v, err := r.env.Proxy.Version(ctx); err == nil {
		r.res.Environment.ToxiproxyVersion = v
	}
	r.res.Topology = result.Topology{Name: t.Name, Regions: slices.Clone(t.Regions)}
	for _, c := range t.Components {
		r.res.Topology.Components = append(r.res.Topology.Components, result.TopoComponent{Name: c.Name, Kind: string(c.Kind), Region: c.Region, Labels: c.Labels})
	}
	for _, e := range t.Edges {
		r.res.Topology.Edges = append(r.res.Topology.Edges, result.TopoEdge{Name: e.Name, From: e.From, To: e.To})
	}
	// A reused topology may hold faults of an earlier run: start clean.
	if _, err := r.env.Faults.RemoveAll(ctx); err != nil {
		return fmt.Errorf("clear earlier faults: %w", err)
	}
	// App-level fault draws (http_error) derive their seeds from the run's.
	r.env.Faults.Env().SetSeed(r.res.Scenario.Seed)
	return nil
}

func (r *runner) startLoad(ctx context.Context) error {
	if len(r.s.Load.Rate) == 0 {
		return fmt.Errorf("load generator: scenario %s gives no region a load rate", r.s.Name)
	}
	mix := load.Mix{}
	for j, w := range r.s.Load.Mix {
		mix[load.Journey(j)] = float64(w)
	}
	r.notePaymentLedger(ctx)
	r.epoch = time.Now().Truncate(r.o.Bucket).Add(r.o.Bucket)
	gen, rec, err := startObservation(ctx, r.env, ObservationOptions{
		Rates: r.s.Load.Rate, Mix: mix, Seed: r.res.Scenario.Seed, RunID: r.res.RunID, Epoch: r.epoch, Bucket: r.o.Bucket,
	})
	if err != nil {
		return err
	}
	r.gen, r.rec = gen, rec
	r.event("load", "load on: %s", rateText(r.s.Load.Rate))
	return nil
}

// startObservation is StartObservation; tests replace it to inject failures
// into the load and recorder goroutines.
var startObservation = StartObservation

func rateText(m map[string]float64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %g/s", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// playPhase applies a phase's faults together, keeps it until its end
// (guards and storms every bucket) and removes its faults.
func (r *runner) playPhase(ctx context.Context, start time.Time, pp *PlannedPhase) (err error) {
	sp, _ := r.s.Phase(pp.Name)
	rp := result.Phase{Name: pp.Name, Note: pp.Note, Approximate: pp.Approximate, SourceTime: sp.SourceTime, SourceGrade: sp.SourceGrade,
		IncidentAt: pp.At.String(), IncidentFor: pp.For.String(), StartedAt: time.Now(), Faults: []result.Fault{}}
	r.mu.Lock()
	r.res.Phases = append(r.res.Phases, rp)
	idx := len(r.res.Phases) - 1
	r.mu.Unlock()
	r.event("phase_start", "%s (incident %s+%s)%s", pp.Name, pp.At, pp.For, approx(pp.Approximate))

	specs := slices.Clone(pp.Specs)
	stormOf := map[string]PlannedStorm{}
	for _, st := range pp.Storms {
		specs = append(specs, faults.Spec{ID: st.ID, Kind: "latency", Selector: st.Selector,
			Params: &faults.Latency{Latency: faults.Duration(st.Next(0)), Jitter: faults.Duration(st.RetryStorm.Jitter), ToxicParams: faults.DefaultToxic()},
			Labels: map[string]string{"phase": pp.Name, "engine_kind": "retry_storm"}})
		stormOf[st.ID] = st
	}
	ids := make([]string, 0, len(specs))
	for _, sp := range specs {
		ids = append(ids, sp.ID)
	}
	defer func() {
		// Roll back on every path: phase end, abort, ctx cancel, panic.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		// Order matters to Toxiproxy: a latency toxic stacked before a
		// black hole cannot drain, and removing it then hangs the API. So:
		// the phase's other faults first, then the storms, each drained to
		// 0 ms before removal.
		var plain, storms []string
		for _, id := range ids {
			if _, ok := stormOf[id]; ok {
				storms = append(storms, id)
			} else {
				plain = append(plain, id)
			}
		}
		removed, rerr := r.env.Faults.Remove(rctx, plain...)
		r.recordFaults(idx, removed)
		if len(storms) > 0 {
			r.drainStorms(rctx, storms)
			removed, serr := r.env.Faults.Remove(rctx, storms...)
			r.recordFaults(idx, removed)
			rerr = errors.Join(rerr, serr)
		}
		r.mu.Lock()
		r.res.Phases[idx].EndedAt = time.Now()
		for _, id := range ids {
			delete(r.storms, id)
		}
		r.mu.Unlock()
		if rerr != nil {
			r.event("error", "remove faults of %s: %v", pp.Name, rerr)
			err = errors.Join(err, fmt.Errorf("remove faults of phase %s: %w", pp.Name, rerr))
		}
		r.event("phase_end", "%s", pp.Name)
	}()
	applied, aerr := r.env.Faults.Apply(ctx, specs...)
	r.recordFaults(idx, applied)
	for _, ap := range applied {
		if st, ok := stormOf[ap.ID]; ok {
			r.addStorm(st, ap)
		}
	}
	if aerr != nil {
		return fmt.Errorf("apply faults of phase %s: %w", pp.Name, aerr)
	}
	return r.wait(ctx, start.Add(pp.End), idx)
}

func approx(b bool) string {
	if b {
		return " [approximate times]"
	}
	return ""
}

// recordFaults copies applied faults' times into the result phase.
func (r *runner) recordFaults(idx int, aps []*faults.Applied) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applied == nil {
		r.applied = map[string]*faults.Applied{}
	}
	ph := &r.res.Phases[idx]
	for _, ap := range aps {
		r.applied[ap.ID] = ap
		f := ap.Result()
		if ap.Labels["engine_kind"] == "retry_storm" {
			f.Kind = "retry_storm"
			if st := r.storms[ap.ID]; st != nil {
				f.Params = map[string]any{"latency": st.Latency.String(), "per_request_per_second": st.PerRequestPerSecond.String(),
					"max": st.max().String(), "jitter": st.RetryStorm.Jitter.String(),
					"applied_latency_ms": slices.Clone(st.latency), "observed_rate": slices.Clone(st.rateSeen)}
			}
		}
		replaced := false
		for i := range ph.Faults {
			if ph.Faults[i].ID == f.ID {
				ph.Faults[i], replaced = f, true
			}
		}
		if !replaced {
			ph.Faults = append(ph.Faults, f)
		}
	}
	var first, last time.Time
	for _, f := range ph.Faults {
		if f.AppliedAt == nil {
			continue
		}
		if first.IsZero() || f.AppliedAt.Before(first) {
			first = *f.AppliedAt
		}
		if f.AppliedAt.After(last) {
			last = *f.AppliedAt
		}
	}
	ph.ApplySkewMs = float64(last.Sub(first).Microseconds()) / 1000
}

// wait sleeps until t, doing the per-bucket work: abort guards, retry
// storms, progress. phase is the result phase index or -1.
func (r *runner) wait(ctx context.Context, until time.Time, phase int) error {
	tick := time.NewTicker(r.o.Bucket)
	defer tick.Stop()
	for {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-r.gen.Failed(): // a panic recovered in the load's goroutines
			timer.Stop()
			return fmt.Errorf("load generator failed; the run cannot measure any more: %w", r.gen.Err())
		case <-r.rec.Failed():
			timer.Stop()
			return fmt.Errorf("recorder failed; the run cannot measure any more: %w", r.rec.Err())
		case <-timer.C:
			return nil
		case <-tick.C:
			timer.Stop()
			r.updateStorms(ctx)
			if err := r.checkGuards(); err != nil {
				return err
			}
			r.showProgress(phase, until)
		}
	}
}

func (r *runner) checkGuards() error {
	if r.rec == nil {
		return nil
	}
	now := time.Now()
	if now.Sub(r.epoch) < r.s.Warmup {
		return nil // guards protect against faults, not a cold start
	}
	for i, g := range r.s.Abort {
		n := int((g.For + r.o.Bucket - 1) / r.o.Bucket)
		to := r.gen.Stats().BucketOf(now)
		from := to - n
		if from < 0 {
			continue
		}
		v, samples := r.measure(g.Journey, g.Region, g.Condition.Metric, from, to)
		if samples < int64(n) || !g.Condition.Holds(v) {
			continue
		}
		desc := fmt.Sprintf("abort guard %d: %s%s %s for %s (measured %s over %d samples)", i, orAll(g.Journey), regionText(g.Region), g.Condition, g.For, fmtMeasured(g.Condition.Metric, v), samples)
		r.mu.Lock()
		r.aborted = desc
		r.res.Hypotheses = append(r.res.Hypotheses, result.Hypothesis{ID: fmt.Sprintf("abort/%d", i), Kind: "abort",
			Journey: g.Journey, Region: g.Region, Metric: string(g.Condition.Metric), Op: negate(g.Condition.Op),
			Expected: strings.TrimSpace(strings.TrimLeft(g.Condition.Text, "<>=")), Measured: fmtMeasured(g.Condition.Metric, v),
			MeasuredValue: v, Samples: samples, Holds: false, Description: desc})
		r.mu.Unlock()
		r.event("abort", "%s", desc)
		return fmt.Errorf("%w: %s", ErrAborted, desc)
	}
	return nil
}

func negate(op string) string {
	return map[string]string{">=": "<", "<=": ">", ">": "<=", "<": ">="}[op]
}

func orAll(j string) string {
	if j == "" {
		return "all journeys"
	}
	return j
}

func regionText(r string) string {
	if r == "" {
		return ""
	}
	return " in " + r
}

// measure computes a metric over buckets [from, to) of the load stats for a
// journey/region ("" = all). Success merges counts exactly; a latency
// percentile over several series is the worst series' (an upper bound).
func (r *runner) measure(journey, region string, m Metric, from, to int) (float64, int64) {
	st := r.gen.Stats()
	var ok, total int64
	var worst float64
	for _, id := range st.Series() {
		if journey != "" && string(id.Journey) != journey || region != "" && id.Region != region {
			continue
		}
		w := st.Window(id, from, to)
		total += w.Attempts()
		ok += w.Counts[load.OK] + w.Counts[load.Fallback]
		switch m {
		case MetricP50:
			worst = max(worst, w.P50Ms)
		case MetricP95:
			worst = max(worst, w.P95Ms)
		case MetricP99:
			worst = max(worst, w.P99Ms)
		}
	}
	if m == MetricSuccess {
		if total == 0 {
			return 0, 0
		}
		return float64(ok) / float64(total), total
	}
	return worst, total
}

func fmtMeasured(m Metric, v float64) string {
	if m == MetricSuccess {
		return fmt.Sprintf("%.1f%%", v*100)
	}
	return fmt.Sprintf("%.0fms", v)
}

// judge evaluates hypotheses over [from, to) and appends them to the result.
func (r *runner) judge(kind string, hs []Hypothesis, phase string, from, to time.Time) bool {
	if r.gen == nil {
		return false
	}
	st := r.gen.Stats()
	bf, bt := st.BucketOf(from), st.BucketOf(to)
	all := true
	for i, h := range hs {
		for _, c := range h.Checks {
			v, n := r.measure(h.Journey, h.Region, c.Metric, bf, bt)
			holds := n > 0 && c.Holds(v)
			measured := fmtMeasured(c.Metric, v)
			if n == 0 {
				measured = "no requests"
			}
			desc := h.Description
			if desc == "" {
				desc = fmt.Sprintf("%s%s %s", orAll(h.Journey), regionText(h.Region), c)
				if phase != "" {
					desc += " during " + phase
				}
			}
			rh := result.Hypothesis{
				ID: fmt.Sprintf("%s/%d/%s", kind, i, c.Metric), Kind: kind, Phase: phase, Journey: h.Journey, Region: h.Region,
				Metric: string(c.Metric), Op: c.Op, Expected: strings.TrimSpace(strings.TrimLeft(c.Text, "<>=")),
				Measured: measured, MeasuredValue: v, Samples: n, Holds: holds, Description: desc}
			r.mu.Lock()
			if kind == kindExpectationResult {
				rh.ID = fmt.Sprintf("%s/%d/%s", kind, h.index, c.Metric)
				r.res.Expectations = append(r.res.Expectations, rh)
				if fd := r.fidelityRow(h.index); fd != nil {
					m := fmt.Sprintf("%s %s", c.Metric, measured)
					if !fd.Judged || fd.Measured == "" {
						fd.Measured, fd.Matches = m, holds
					} else {
						fd.Measured += ", " + m
						fd.Matches = fd.Matches && holds
					}
					fd.Judged = true
					if st, ok := r.phaseStart(phase); ok {
						fd.RunAt = st
					}
				}
			} else {
				r.res.Hypotheses = append(r.res.Hypotheses, rh)
			}
			r.mu.Unlock()
			all = all && holds
		}
	}
	return all
}

// steadyGrace bounds the extra wait for a steady state after the warm-up:
// twice the warm-up, at least 20 s, at most 2 minutes.
func steadyGrace(warmup time.Duration) time.Duration {
	return min(max(2*warmup, 20*time.Second), 2*time.Minute)
}

// steadyNow reports whether every steady-state check holds over [from, to)
// without recording anything.
func (r *runner) steadyNow(from, to time.Time) bool {
	return r.missedSteady(from, to) == ""
}

// missedSteady lists the steady-state checks that do not hold over
// [from, to) ("" when all hold).
func (r *runner) missedSteady(from, to time.Time) string {
	if r.gen == nil {
		return "no load"
	}
	st := r.gen.Stats()
	bf, bt := st.BucketOf(from), st.BucketOf(to)
	var miss []string
	for _, h := range r.s.SteadyState {
		for _, c := range h.Checks {
			v, n := r.measure(h.Journey, h.Region, c.Metric, bf, bt)
			if n == 0 || !c.Holds(v) {
				miss = append(miss, fmt.Sprintf("%s%s %s measured %s", orAll(h.Journey), regionText(h.Region), c, fmtMeasured(c.Metric, v)))
			}
		}
	}
	return strings.Join(miss, "; ")
}

func (r *runner) failedText(kind string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, h := range r.res.Hypotheses {
		if h.Kind == kind && !h.Holds {
			out = append(out, fmt.Sprintf("%s (measured %s)", h.Description, h.Measured))
		}
	}
	return strings.Join(out, "; ")
}

// cleanup runs on every exit path: faults off, load and recorder stopped,
// measurements filled in, topology torn down when the engine owns it.
func (r *runner) cleanup(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var errs []error
	if r.env != nil {
		if _, err := r.env.Faults.RemoveAll(cctx); err != nil {
			errs = append(errs, fmt.Errorf("remove faults: %w", err))
			r.event("error", "remove faults at end of run: %v", err)
		}
	}
	if r.gen != nil {
		r.gen.Stop()
	}
	if r.rec != nil {
		r.rec.Stop()
	}
	if r.gen != nil {
		// Judge the phases with everything recorded (in-flight journeys are finished now).
		for _, ph := range r.res.Phases {
			if ph.EndedAt.IsZero() {
				continue
			}
			var objs, exps []Hypothesis
			for _, h := range r.s.Objectives {
				if h.During == ph.Name || h.During == EveryPhase && len(ph.Faults) > 0 {
					objs = append(objs, h)
				}
			}
			for i, h := range r.s.Expectations {
				if h.During == ph.Name {
					h.index = i
					exps = append(exps, h)
				}
			}
			r.judge("during", objs, ph.Name, ph.StartedAt, ph.EndedAt)
			r.judge(kindExpectationResult, exps, ph.Name, ph.StartedAt, ph.EndedAt)
		}
		r.judgeRecovery()
		if err := r.checkInvariants(cctx); err != nil {
			errs = append(errs, err)
		}
	}
	if r.rec != nil {
		r.rec.Fill(r.res)
	}
	if r.env != nil && r.ownEnv {
		// Write what we have first: a teardown that hangs must not lose the run.
		if r.o.Out != "" {
			snap := *r.res
			r.finishInto(&snap)
			_, _ = snap.Write(r.o.Out)
		}
		done := make(chan error, 1)
		go func() { done <- r.env.Close(cctx) }()
		// A teardown problem is reported loudly (event, status reason,
		// log) but does not overturn what the run measured; a fault that
		// could not be removed does (above), since it taints the system.
		var terr error
		select {
		case terr = <-done:
		case <-time.After(3 * time.Minute):
			terr = errors.New("teardown did not finish within 3 minutes; run `outagelab cleanup`")
		}
		if terr != nil {
			r.event("error", "teardown: %v", terr)
			r.log.Error("teardown problem", "err", terr)
			r.mu.Lock()
			if r.res.Status.Reason != "" {
				r.res.Status.Reason += "; "
			}
			r.res.Status.Reason += "teardown: " + terr.Error()
			r.mu.Unlock()
		}
	}
	r.progress.done()
	if len(errs) > 0 {
		r.setStatus("failed", errors.Join(errs...).Error())
	}
	return errors.Join(errs...)
}

// finish sets the verdict from hypotheses, invariants and status.
func (r *runner) finish() { r.finishInto(r.res) }

func (r *runner) finishInto(res *result.Result) {
	res.EndedAt = time.Now()
	if res.Status.State == "running" {
		res.Status = result.Status{State: "failed", Reason: "the run ended without reaching a verdict"}
	}
	switch res.Status.State {
	case "failed", "interrupted":
		res.Verdict = result.VerdictError
		res.Score = nil // a run that could not judge has no score
		return
	}
	v := result.VerdictPass
	for _, h := range res.Hypotheses {
		if !h.Holds {
			v = result.VerdictFail
		}
	}
	if res.FidelityGate {
		for _, h := range res.Expectations {
			if !h.Holds {
				v = result.VerdictFail
			}
		}
	}
	for i, iv := range res.Invariants {
		if iv.State == "" {
			res.Invariants[i].State = iv.Outcome()
		}
		if !iv.Passed() { // violated or unknown
			v = result.VerdictFail
		}
	}
	if res.Status.State != "completed" {
		v = result.VerdictFail
	}
	res.Verdict = v
	res.Findings = result.FindingsOf(res)
	res.Score = result.ScoreOf(res)
}

func (r *runner) showProgress(phase int, until time.Time) {
	if r.progress == nil || r.rec == nil {
		return
	}
	r.mu.Lock()
	name := r.stage
	if phase >= 0 {
		name = "phase " + r.res.Phases[phase].Name
	}
	r.mu.Unlock()
	live := r.rec.Live()
	agg := map[string][2]int64{}
	for _, j := range live.Journeys {
		a := agg[j.Journey]
		agg[j.Journey] = [2]int64{a[0] + j.Successes, a[1] + j.Attempts}
	}
	var parts []string
	for _, j := range Journeys {
		if a, ok := agg[j]; ok && a[1] > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", j, 100*float64(a[0])/float64(a[1])))
		}
	}
	r.progress.status(fmt.Sprintf("[%s, %s left] %s", name, time.Until(until).Round(time.Second), strings.Join(parts, " ")))
}

// updateStorms is the retry_storm controller: measure each storm's edges'
// request rate over the last bucket and set their latency toxics.
func (r *runner) updateStorms(ctx context.Context) {
	r.mu.Lock()
	storms := make([]*stormState, 0, len(r.storms))
	for _, st := range r.storms {
		storms = append(storms, st)
	}
	r.mu.Unlock()
	for _, st := range storms {
		rate := r.edgeRate(ctx, st)
		ms := st.Next(rate).Milliseconds()
		// Jitter is Toxiproxy's own (set at apply time), so the toxic's
		// attributes change only with the latency (see stormMinChange).
		jitter := min(st.RetryStorm.Jitter.Milliseconds(), ms)
		r.mu.Lock()
		cur, updated := st.cur, st.updated
		r.mu.Unlock()
		if now := time.Now(); stormUpdateDue(cur, ms, updated, now, r.o.Bucket) {
			for _, e := range st.edges {
				tx := proxy.Toxic{Name: faults.ToxicName(st.ID, faults.StreamDownstream), Type: "latency", Stream: faults.StreamDownstream,
					Toxicity: 1, Attributes: proxy.Attributes{"latency": ms, "jitter": jitter}}
				uctx, cancel := context.WithTimeout(ctx, time.Second)
				if err := r.env.Proxy.UpdateToxic(uctx, e.Name, tx); err != nil {
					r.log.Warn("retry_storm update failed", "fault", st.ID, "edge", e.Name, "err", err)
				}
				cancel()
			}
			cur = ms
			r.mu.Lock()
			st.cur, st.updated = ms, now
			r.mu.Unlock()
		}
		r.mu.Lock()
		st.latency = append(st.latency, cur)
		st.rateSeen = append(st.rateSeen, rate)
		r.mu.Unlock()
	}
}

// drainStorms sets the storms' latency toxics to 0 so buffered data flows
// before the toxics are removed.
func (r *runner) drainStorms(ctx context.Context, ids []string) {
	r.mu.Lock()
	var sts []*stormState
	for _, id := range ids {
		if st := r.storms[id]; st != nil {
			sts = append(sts, st)
		}
	}
	r.mu.Unlock()
	for _, st := range sts {
		for _, e := range st.edges {
			tx := proxy.Toxic{Name: faults.ToxicName(st.ID, faults.StreamDownstream), Type: "latency", Stream: faults.StreamDownstream,
				Toxicity: 1, Attributes: proxy.Attributes{"latency": 0, "jitter": 0}}
			uctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = r.env.Proxy.UpdateToxic(uctx, e.Name, tx)
			cancel()
		}
	}
}

func (r *runner) addStorm(p PlannedStorm, ap *faults.Applied) {
	st := &stormState{PlannedStorm: p, applied: ap, prev: map[string]float64{}, cur: p.Next(0).Milliseconds(), updated: time.Now()}
	t := r.env.Topology()
	for _, name := range ap.Targets {
		if e := t.Edge(name); e != nil {
			st.edges = append(st.edges, e)
		}
	}
	r.mu.Lock()
	if r.storms == nil {
		r.storms = map[string]*stormState{}
	}
	r.storms[p.ID] = st
	r.mu.Unlock()
}

// edgeRate is the storm edges' attempts per second (retries included) since
// the last call, from each caller's storefront_dependency_requests_total.
func (r *runner) edgeRate(ctx context.Context, st *stormState) float64 {
	byCaller := map[string][]*topology.Edge{}
	for _, e := range st.edges {
		byCaller[e.From] = append(byCaller[e.From], e)
	}
	now := time.Now()
	total := 0.0
	for caller, edges := range byCaller {
		base, err := r.env.Endpoint(caller, topology.PortHTTP)
		if err != nil {
			continue
		}
		counts, err := scrapeDependencyRequests(ctx, base+"/metrics")
		if err != nil {
			continue
		}
		for _, e := range edges {
			key := caller + "/" + e.DepName
			cur := counts[e.DepName]
			if prev, ok := st.prev[key]; ok && cur >= prev {
				total += cur - prev
			}
			st.prev[key] = cur
		}
	}
	secs := r.o.Bucket.Seconds()
	if last, ok := st.prev["@t"]; ok {
		secs = now.Sub(time.Unix(0, int64(last))).Seconds()
	}
	st.prev["@t"] = float64(now.UnixNano())
	if secs <= 0 {
		return 0
	}
	return total / secs
}
