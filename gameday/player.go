package gameday

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/reports/result"
	"github.com/outagelab/outagelab/scenarios"
)

// The player plays a scenario's phases on the live system with its own
// clock, so a facilitator can pause it (the clock stops; active faults stay
// on while the room talks), resume it, or skip (end the current phase now
// and go on; between phases, start the next one now). The scenario's
// warm-up, steady-state checks and hypotheses are not played: the game day's
// own load is already running and the room is the judge.
//
//	play ─▶ wait start(phase 0) ─▶ apply ─▶ wait end ─▶ remove ─▶ wait start(phase 1) ─▶ …
//	           ▲ pause/resume stop and restart the clock; skip ends the current wait
//
// retry_storm (the engine's closed-loop fault) is played as a fixed latency
// at its base value: the closed loop lives in the scenarios engine.

// Scenario states.
const (
	ScenarioPlaying  = "playing"
	ScenarioPaused   = "paused"
	ScenarioFinished = "finished"
	ScenarioStopped  = "stopped"
	ScenarioFailed   = "failed"
)

type player struct {
	s      *scenarios.Scenario
	plan   *scenarios.Plan
	by     string
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu      sync.Mutex
	state   string
	reason  string
	base    time.Duration // clock value when last (re)started
	since   time.Time     // zero while paused
	phase   int           // index of the current or next phase
	inPhase bool
	skip    bool
}

func (p *player) elapsedLocked(now time.Time) time.Duration {
	if p.since.IsZero() {
		return p.base
	}
	return p.base + now.Sub(p.since)
}

func (p *player) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// waitUntil blocks until the clock reaches target, a skip, or ctx ends (false).
func (p *player) waitUntil(ctx context.Context, target time.Duration) bool {
	for {
		p.mu.Lock()
		now := time.Now()
		if p.skip {
			p.skip = false
			p.base = target
			if !p.since.IsZero() {
				p.since = now
			}
			p.mu.Unlock()
			return true
		}
		el := p.elapsedLocked(now)
		paused := p.since.IsZero()
		p.mu.Unlock()
		if el >= target {
			return true
		}
		var tc <-chan time.Time
		var timer *time.Timer
		if !paused {
			timer = time.NewTimer(target - el)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return false
		case <-tc:
		case <-p.wake:
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

// fits checks that every fault of s resolves on the console's topology.
func (c *Console) fits(s *scenarios.Scenario) error {
	plan, err := scenarios.PlanRun(s, c.opts.TimeScale, 0)
	if err != nil {
		return &RequestError{Err: fmt.Errorf("scenario %s: %w", s.Name, err)}
	}
	t := c.env.Topology()
	var errs []error
	for _, pp := range plan.Phases {
		for _, sp := range playSpecs(pp) {
			k, ok := faults.Lookup(sp.Kind)
			if !ok {
				errs = append(errs, fmt.Errorf("phase %s: unknown fault kind %q", pp.Name, sp.Kind))
				continue
			}
			if _, err := sp.Selector.Resolve(t, k.Scope); err != nil {
				errs = append(errs, fmt.Errorf("phase %s fault %s: %w", pp.Name, sp.ID, err))
			}
		}
	}
	if len(errs) > 0 {
		return &RequestError{Err: fmt.Errorf("scenario %s does not fit topology %s: %w", s.Name, t.Name, errors.Join(errs...))}
	}
	return nil
}

// playSpecs is a phase's faults as the console plays them (storms as
// latency at their base value).
func playSpecs(pp scenarios.PlannedPhase) []faults.Spec {
	specs := slices.Clone(pp.Specs)
	for _, st := range pp.Storms {
		specs = append(specs, faults.Spec{ID: st.ID, Kind: "latency", Selector: st.Selector,
			Params: &faults.Latency{Latency: faults.Duration(st.Next(0)), ToxicParams: faults.DefaultToxic()},
			Labels: map[string]string{"phase": pp.Name, "played_as": "retry_storm at its base latency"}})
	}
	return specs
}

// PlayRequest asks the console to play a scenario.
type PlayRequest struct {
	// Name is a library scenario (or a file path when the console allows it).
	Name string `json:"name"`
	// TimeScale overrides the scenario's (0: the console's default, else the scenario's).
	TimeScale float64 `json:"time_scale,omitempty"`
	Who       string  `json:"who,omitempty"`
}

// Play starts playing a scenario. Only one plays at a time.
func (c *Console) Play(ctx context.Context, req PlayRequest) (*ScenarioView, error) {
	who := c.actor(req.Who)
	name := strings.TrimSpace(req.Name)
	if name == "" {
		c.mu.Lock()
		name = c.selected
		c.mu.Unlock()
	}
	if name == "" {
		return nil, &RequestError{Err: errors.New("name: which scenario? (GET /api/scenarios lists the library)")}
	}
	s, err := c.opts.Resolve(name)
	if err != nil {
		return nil, &RequestError{Err: err}
	}
	if err := c.fits(s); err != nil {
		return nil, err
	}
	scale := req.TimeScale
	if scale < 0 || scale != scale || scale > 1e6 {
		return nil, &RequestError{Err: fmt.Errorf("time_scale: %v out of range (0 < scale ≤ 1000000)", req.TimeScale)}
	}
	if scale == 0 {
		scale = c.opts.TimeScale
	}
	plan, err := scenarios.PlanRun(s, scale, 0)
	if err != nil {
		return nil, &RequestError{Err: err}
	}
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return nil, ErrFinished
	}
	if p := c.player; p != nil {
		p.mu.Lock()
		st := p.state
		p.mu.Unlock()
		if st == ScenarioPlaying || st == ScenarioPaused {
			c.mu.Unlock()
			return nil, &ConflictError{What: fmt.Sprintf("scenario %s is %s: HALT it or let it finish first", p.s.Name, st)}
		}
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &player{s: s, plan: plan, by: who, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1),
		state: ScenarioPlaying, since: time.Now()}
	c.player = p
	c.mu.Unlock()
	policy := ""
	if pr := s.Policy.Preset; pr != "" && pr != c.opts.Policy && !(pr == "fragile" && c.opts.Policy == "") {
		policy = fmt.Sprintf("; the scenario asks for the %s policy but plays on the running topology as it is", pr)
	}
	c.record(AuditEntry{Who: who, Holder: c.opts.Holder, Action: "scenario_play", OK: true,
		Message: fmt.Sprintf("play scenario %s (%d phases, %s at %gx; its warm-up, steady state and hypotheses are not played%s)",
			s.Name, len(plan.Phases), plan.Total.Round(time.Second), plan.Scale, policy),
		Detail: map[string]any{"scenario": s.Name, "time_scale": plan.Scale, "phases": len(plan.Phases)}})
	go c.play(pctx, p)
	v := c.scenarioView()
	return v, nil
}

// ConflictError is an action that cannot happen in the current state (HTTP 409).
type ConflictError struct{ What string }

func (e *ConflictError) Error() string { return e.What }

func (c *Console) play(ctx context.Context, p *player) {
	defer close(p.done)
	for i := range p.plan.Phases {
		pp := p.plan.Phases[i]
		p.mu.Lock()
		p.phase, p.inPhase = i, false
		p.mu.Unlock()
		c.hub.poke()
		if !p.waitUntil(ctx, pp.Start) {
			return
		}
		ids, ok := c.playApply(ctx, p, pp)
		if !ok {
			return
		}
		p.mu.Lock()
		p.inPhase = true
		p.mu.Unlock()
		c.hub.poke()
		if !p.waitUntil(ctx, pp.End) {
			return
		}
		c.playRemove(ctx, p, pp, ids)
	}
	p.mu.Lock()
	if p.state == ScenarioPlaying || p.state == ScenarioPaused {
		p.state = ScenarioFinished
	}
	p.inPhase, p.phase = false, len(p.plan.Phases)
	p.mu.Unlock()
	c.record(AuditEntry{Who: "scenario " + p.s.Name, Holder: "console", Action: "scenario_end", OK: true,
		Message: fmt.Sprintf("scenario %s finished its %d phases", p.s.Name, len(p.plan.Phases))})
}

func (c *Console) playApply(ctx context.Context, p *player, pp scenarios.PlannedPhase) ([]string, bool) {
	specs := playSpecs(pp)
	for i := range specs {
		specs[i].ID = "sc-" + specs[i].ID
		specs[i].Labels = map[string]string{"phase": pp.Name, "source": "scenario " + p.s.Name, "by": p.by}
	}
	if !c.lockOps(ctx, 0) {
		return nil, false
	}
	defer c.unlockOps()
	if ctx.Err() != nil {
		return nil, false
	}
	rp := result.Phase{Name: pp.Name, Note: pp.Note, Approximate: pp.Approximate,
		IncidentAt: pp.At.String(), IncidentFor: pp.For.String(), StartedAt: time.Now(), Faults: []result.Fault{}}
	aps, err := c.env.Faults.Apply(ctx, specs...)
	c.mu.Lock()
	c.phases = append(c.phases, rp)
	idx := len(c.phases) - 1
	var ids []string
	for _, ap := range aps {
		ids = append(ids, ap.ID)
		c.phases[idx].Faults = append(c.phases[idx].Faults, ap.Result())
		c.faults[ap.ID] = &faultInfo{ID: ap.ID, By: p.by, Source: "scenario " + p.s.Name, applied: ap, phaseIdx: idx}
	}
	c.mu.Unlock()
	var parts []string
	for _, ap := range aps {
		parts = append(parts, fmt.Sprintf("%s %s on %s", ap.ID, ap.Kind, strings.Join(ap.Targets, ", ")))
	}
	c.record(AuditEntry{Who: "scenario " + p.s.Name, Holder: "console", Action: "phase_start", OK: err == nil, Error: errText(err),
		Message: fmt.Sprintf("%s phase %s: %s", p.s.Name, pp.Name, orNone(strings.Join(parts, "; "))),
		Detail:  map[string]any{"scenario": p.s.Name, "phase": pp.Name, "note": pp.Note, "faults": ids}})
	if err != nil && len(aps) == 0 {
		p.mu.Lock()
		p.state, p.reason = ScenarioFailed, err.Error()
		p.mu.Unlock()
		return nil, false
	}
	return ids, true
}

func orNone(s string) string {
	if s == "" {
		return "no faults"
	}
	return s
}

func (c *Console) playRemove(ctx context.Context, p *player, pp scenarios.PlannedPhase, ids []string) {
	if !c.lockOps(ctx, 0) {
		return
	}
	defer c.unlockOps()
	var still []string
	for _, id := range ids {
		if c.isActive(id) {
			still = append(still, id)
		}
	}
	var err error
	if len(still) > 0 {
		var rem []*faults.Applied
		rem, err = c.env.Faults.Remove(context.WithoutCancel(ctx), still...)
		c.noteRemoved(rem)
	}
	c.mu.Lock()
	for i := len(c.phases) - 1; i >= 0; i-- {
		if c.phases[i].Name == pp.Name && c.phases[i].EndedAt.IsZero() {
			c.phases[i].EndedAt = time.Now()
			break
		}
	}
	c.mu.Unlock()
	c.record(AuditEntry{Who: "scenario " + p.s.Name, Holder: "console", Action: "phase_end", OK: err == nil, Error: errText(err),
		Message: fmt.Sprintf("%s phase %s ended (%d fault(s) removed)", p.s.Name, pp.Name, len(still))})
}

// stopPlayer cancels a playing scenario and waits for it to let go (its
// faults stay for the caller to remove). It returns the scenario's name when
// one was playing or paused.
func (c *Console) stopPlayer(reason string) string {
	c.mu.Lock()
	p := c.player
	c.mu.Unlock()
	if p == nil {
		return ""
	}
	p.mu.Lock()
	st := p.state
	if st == ScenarioPlaying || st == ScenarioPaused {
		p.state, p.reason = ScenarioStopped, reason
		p.since = time.Time{}
	}
	p.mu.Unlock()
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		c.log.Warn("scenario player slow to stop", "scenario", p.s.Name)
	}
	if st == ScenarioPlaying || st == ScenarioPaused {
		return p.s.Name
	}
	return ""
}

// ScenarioControl pauses, resumes or skips the playing scenario; action is
// "pause", "resume" or "skip".
func (c *Console) ScenarioControl(action, who string) (*ScenarioView, error) {
	who = c.actor(who)
	c.mu.Lock()
	p := c.player
	c.mu.Unlock()
	if p == nil {
		return nil, &ConflictError{What: "no scenario is playing (POST /api/scenario/play first)"}
	}
	p.mu.Lock()
	st := p.state
	var msg string
	var err error
	now := time.Now()
	switch action {
	case "pause":
		if st != ScenarioPlaying {
			err = &ConflictError{What: fmt.Sprintf("scenario %s is %s, not playing", p.s.Name, st)}
			break
		}
		p.base = p.elapsedLocked(now)
		p.since = time.Time{}
		p.state = ScenarioPaused
		msg = fmt.Sprintf("paused scenario %s at %s (active faults stay on)", p.s.Name, p.base.Round(100*time.Millisecond))
	case "resume":
		if st != ScenarioPaused {
			err = &ConflictError{What: fmt.Sprintf("scenario %s is %s, not paused", p.s.Name, st)}
			break
		}
		p.since = now
		p.state = ScenarioPlaying
		msg = fmt.Sprintf("resumed scenario %s", p.s.Name)
	case "skip":
		if st != ScenarioPlaying && st != ScenarioPaused {
			err = &ConflictError{What: fmt.Sprintf("scenario %s is %s: nothing to skip", p.s.Name, st)}
			break
		}
		p.skip = true
		what := "the wait before phase "
		if p.inPhase {
			what = "phase "
		}
		if p.phase < len(p.plan.Phases) {
			what += p.plan.Phases[p.phase].Name
		}
		msg = fmt.Sprintf("skipped %s of scenario %s", what, p.s.Name)
	default:
		err = &RequestError{Err: fmt.Errorf("action %q: want play, pause, resume or skip", action)}
	}
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	p.poke()
	c.record(AuditEntry{Who: who, Holder: c.opts.Holder, Action: "scenario_" + action, OK: true, Message: msg,
		Detail: map[string]any{"scenario": p.s.Name}})
	return c.scenarioView(), nil
}

// ScenarioView is the playing (or last played) scenario in the live state.
type ScenarioView struct {
	Name      string          `json:"name"`
	Title     string          `json:"title"`
	State     string          `json:"state"`
	Reason    string          `json:"reason,omitempty"`
	By        string          `json:"by"`
	TimeScale float64         `json:"time_scale"`
	ElapsedMs int64           `json:"elapsed_ms"`
	TotalMs   int64           `json:"total_ms"`
	Phase     int             `json:"phase"` // index of the current or next phase
	InPhase   bool            `json:"in_phase"`
	Phases    []PhaseSchedule `json:"phases"`
}

// PhaseSchedule is one phase on the player's clock.
type PhaseSchedule struct {
	Name        string `json:"name"`
	Note        string `json:"note,omitempty"`
	StartMs     int64  `json:"start_ms"`
	EndMs       int64  `json:"end_ms"`
	Faults      int    `json:"faults"`
	Approximate bool   `json:"approximate,omitempty"`
}

func (c *Console) scenarioView() *ScenarioView {
	c.mu.Lock()
	p := c.player
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	v := &ScenarioView{Name: p.s.Name, Title: p.s.Title, State: p.state, Reason: p.reason, By: p.by, TimeScale: p.plan.Scale,
		ElapsedMs: min(p.elapsedLocked(time.Now()), p.plan.Total).Milliseconds(), TotalMs: p.plan.Total.Milliseconds(),
		Phase: p.phase, InPhase: p.inPhase}
	for _, pp := range p.plan.Phases {
		v.Phases = append(v.Phases, PhaseSchedule{Name: pp.Name, Note: pp.Note, StartMs: pp.Start.Milliseconds(), EndMs: pp.End.Milliseconds(),
			Faults: len(pp.Specs) + len(pp.Storms), Approximate: pp.Approximate})
	}
	return v
}
