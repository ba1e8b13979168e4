package gameday

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/harness/record"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/reports"
	"github.com/outagelab/outagelab/reports/result"
	"github.com/outagelab/outagelab/scenarios"
)

// File names written into Options.Out.
const (
	FileAudit = "audit.jsonl"
)

// Options configure a Console.
type Options struct {
	// Env is the running topology. Required. The console never tears it
	// down: whoever called harness.Up closes it (after Finish).
	Env *harness.Env
	// Token is the bearer token every API call needs; "" generates one.
	Token string
	// Holder labels the token holder in the audit log (default "facilitator").
	Holder string
	// Load is the background load; nil runs none (the live view then shows
	// component health only).
	Load *LoadOptions
	// Bucket is the recorder's and the live view's bucket (default 1 s).
	Bucket time.Duration
	// History is how many buckets the live charts show (default 180).
	History int
	// Out, when set, receives audit.jsonl (as the exercise runs) and, at
	// Finish, result.json and report.html.
	Out string
	// Scenario preselects a scenario in the console (library name or file).
	Scenario string
	// TimeScale overrides played scenarios' time scale (0: their own).
	TimeScale float64
	// Resolve finds a scenario by name or file (default scenarios.Resolve).
	Resolve func(string) (*scenarios.Scenario, error)
	// Policy is recorded in the result (the preset the topology runs).
	Policy string
	// Version is recorded in the result's environment.
	Version string
	// Logger for console events (default: discard).
	Logger *slog.Logger
	// AllowedHosts are host names (besides IP literals and localhost) the
	// console answers to, e.g. a name for a non-loopback --listen.
	AllowedHosts []string
	// HaltGrace is how long Halt lets the applier remove faults cleanly
	// before it resets every proxy (default 700 ms; HALT must finish in 1 s).
	HaltGrace time.Duration
}

// LoadOptions are the background load: an open model per region.
type LoadOptions struct {
	// Rates are arrivals per second per region; each region needs a
	// component gateway-<region> with an http port (the storefront's).
	Rates map[string]float64
	// Mix of journeys (default load.DefaultMix).
	Mix load.Mix
	// Seed for the load's randomness (default 1).
	Seed int64
}

// StorefrontLoad returns rate arrivals/s in every region of t that has a
// storefront gateway, or nil when none has (a user topology).
func StorefrontLoad(t *topology.Topology, rate float64) *LoadOptions {
	rates := map[string]float64{}
	for _, r := range t.Regions {
		if c := t.Component("gateway-" + r); c != nil {
			if _, ok := c.Port(topology.PortHTTP); ok {
				rates[r] = rate
			}
		}
	}
	if len(rates) == 0 || rate <= 0 {
		return nil
	}
	return &LoadOptions{Rates: rates}
}

// Console is one game-day exercise on a running topology. Safe for
// concurrent use; serve it with Handler.
type Console struct {
	opts    Options
	env     *harness.Env
	log     *slog.Logger
	token   string
	session string // the cookie value the page gets in exchange for the token
	started time.Time
	audit   *auditLog
	hub     *hub
	live    *liveView

	gen *load.Generator
	rec *record.Recorder

	// ops serialises fault changes (apply, remove, halt, the player's
	// phases): the applier must never remove the same fault twice at once.
	ops chan struct{}

	mu       sync.Mutex
	seq      int
	faults   map[string]*faultInfo // console-known faults by id (active or not)
	phases   []result.Phase        // one per manual fault and per played phase
	events   []result.Event
	notes    []result.Note
	denied   int
	player   *player
	selected string // preselected scenario name
	finished bool

	finishOnce sync.Once
	finalRes   *result.Result
	finalErr   error
	ctx        context.Context
	cancel     context.CancelFunc
	loopDone   chan struct{}
}

// faultInfo is what the console knows about a fault besides the applier.
type faultInfo struct {
	ID       string
	By       string
	Source   string // "console" or "scenario <name>"
	Expires  time.Time
	timer    *time.Timer
	phaseIdx int
	applied  *faults.Applied
	removed  bool
}

// New prepares a console on opts.Env. Call Start to begin load and the live
// view, serve Handler, and call Finish at the end of the exercise.
func New(opts Options) (*Console, error) {
	if opts.Env == nil {
		return nil, errors.New("gameday: Options.Env is required (bring a topology up with harness.Up first)")
	}
	if opts.Holder == "" {
		opts.Holder = "facilitator"
	}
	if opts.Bucket <= 0 {
		opts.Bucket = time.Second
	}
	if opts.History <= 0 {
		opts.History = 180
	}
	if opts.Resolve == nil {
		opts.Resolve = scenarios.Resolve
	}
	if opts.HaltGrace <= 0 {
		opts.HaltGrace = 700 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tok := opts.Token
	if tok == "" {
		tok = NewToken()
	} else if len(tok) < 16 {
		return nil, errors.New("gameday: token too short: use at least 16 characters (or leave it empty to generate one)")
	}
	c := &Console{opts: opts, env: opts.Env, log: opts.Logger, token: tok, session: NewToken(),
		hub: newHub(), ops: make(chan struct{}, 1), faults: map[string]*faultInfo{}, audit: &auditLog{},
		events: []result.Event{}, notes: []result.Note{}}
	if opts.Scenario != "" {
		s, err := opts.Resolve(opts.Scenario)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", opts.Scenario, err)
		}
		if err := c.fits(s); err != nil {
			return nil, err
		}
		c.selected = s.Name
		if strings.ContainsRune(opts.Scenario, os.PathSeparator) || strings.HasSuffix(opts.Scenario, ".yaml") {
			c.selected = opts.Scenario
		}
	}
	return c, nil
}

// NewToken returns 32 random hex characters.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// Token is the bearer token API calls need.
func (c *Console) Token() string { return c.token }

// Env is the topology the console acts on.
func (c *Console) Env() *harness.Env { return c.env }

// Start opens the audit log, starts the background load and the recorder,
// and the live-view loop. It returns once they run.
func (c *Console) Start(ctx context.Context) error {
	var err error
	auditPath := ""
	if c.opts.Out != "" {
		if err := os.MkdirAll(c.opts.Out, 0o755); err != nil {
			return fmt.Errorf("create output dir: %w", err)
		}
		auditPath = filepath.Join(c.opts.Out, FileAudit)
	}
	if c.audit, err = openAudit(auditPath); err != nil {
		return err
	}
	c.started = time.Now()
	epoch := c.started.Truncate(c.opts.Bucket).Add(c.opts.Bucket)
	// ctx bounds start-up only: load and recorder live until Finish, which
	// stops them (stopObservation), whatever happens to the caller's ctx.
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := c.startObservation(c.ctx, epoch); err != nil {
		c.stopObservation()
		c.cancel()
		return err
	}
	c.live = newLiveView(c.gen, c.opts.History)
	c.loopDone = make(chan struct{})
	go c.loop()
	c.record(AuditEntry{Who: "console", Holder: "console", Action: "start", OK: true,
		Message: fmt.Sprintf("game day started on %s (%s, run %s)%s", c.env.Topology().Name, c.env.RuntimeName(), c.env.RunID(), c.loadText())})
	return nil
}

func (c *Console) loadText() string {
	if c.opts.Load == nil || c.gen == nil {
		return "; no background load"
	}
	var parts []string
	for r, v := range c.opts.Load.Rates {
		parts = append(parts, fmt.Sprintf("%s %g/s", r, v))
	}
	sort.Strings(parts)
	return "; background load " + strings.Join(parts, ", ")
}

// startObservation starts the background load (when asked) and the recorder.
func (c *Console) startObservation(ctx context.Context, epoch time.Time) error {
	o := scenarios.ObservationOptions{RunID: c.env.RunID() + "-gameday", Epoch: epoch, Bucket: c.opts.Bucket, Seed: 1}
	if lo := c.opts.Load; lo != nil {
		o.Rates, o.Mix = lo.Rates, lo.Mix
		if lo.Seed != 0 {
			o.Seed = lo.Seed
		}
	}
	gen, rec, err := scenarios.StartObservation(ctx, c.env, o)
	if err != nil {
		return fmt.Errorf("background load and recorder: %w", err)
	}
	c.gen, c.rec = gen, rec
	return nil
}

func (c *Console) stopObservation() {
	if c.gen != nil {
		c.gen.Stop()
	}
	if c.rec != nil {
		c.rec.Stop()
	}
}

// loop publishes the live state every bucket and whenever something changed.
func (c *Console) loop() {
	defer close(c.loopDone)
	tick := time.NewTicker(min(c.opts.Bucket, time.Second))
	defer tick.Stop()
	c.publish()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		case <-c.hub.changed:
		}
		c.publish()
	}
}

func (c *Console) publish() {
	st := c.State()
	b, err := json.Marshal(st)
	if err != nil {
		c.log.Error("encode live state", "err", err)
		return
	}
	c.hub.broadcast(b)
}

// record appends an audit entry to the audit log and the Result's events,
// and wakes the live view.
func (c *Console) record(e AuditEntry) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.Who == "" {
		e.Who = e.Holder
	}
	msg := e.Message
	if !e.OK && e.Error != "" {
		msg += ": FAILED: " + e.Error
	}
	c.mu.Lock()
	if e.Action == "denied" {
		c.denied++
		if c.denied > 200 { // a flood of refused requests must not flood the timeline
			c.mu.Unlock()
			return
		}
	}
	c.events = append(c.events, result.Event{At: e.At, Kind: e.Action, Message: msg, Actor: e.Who})
	c.mu.Unlock()
	if c.audit != nil {
		if err := c.audit.write(e); err != nil {
			c.log.Error("audit log", "err", err)
		}
	}
	c.log.Info(msg, "action", e.Action, "who", e.Who)
	c.hub.poke()
}

// lockOps takes the fault-operations lock, giving up after wait (0: ctx only).
func (c *Console) lockOps(ctx context.Context, wait time.Duration) bool {
	var tc <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		tc = t.C
	}
	select {
	case c.ops <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	case <-tc:
		return false
	}
}

func (c *Console) unlockOps() { <-c.ops }

// FaultRequest asks for one fault from the console.
type FaultRequest struct {
	// Kind is a kind from the harness fault registry (GET /api/faults/kinds).
	Kind     string          `json:"kind"`
	Selector faults.Selector `json:"selector"`
	// Params are the kind's parameters (omitted ones keep their defaults).
	Params json.RawMessage `json:"params,omitempty"`
	// Duration: "30s", "2m"; "" or "until_removed" keeps it until removed.
	Duration string `json:"duration,omitempty"`
	// Who names the person injecting it (default: the token holder's label).
	Who string `json:"who,omitempty"`
}

// MaxFaultDuration bounds a timed fault (a typo such as 300h must not outlive the exercise unnoticed).
const MaxFaultDuration = 24 * time.Hour

// Spec validates r into a harness fault spec and its duration (0: until removed).
func (r FaultRequest) Spec() (faults.Spec, time.Duration, error) {
	var errs []error
	k, ok := faults.Lookup(r.Kind)
	if !ok {
		return faults.Spec{}, 0, fmt.Errorf("kind: unknown fault kind %q (known: %s)", r.Kind, strings.Join(faults.KindNames(), ", "))
	}
	params, err := faults.DecodeParams(r.Kind, r.Params)
	if err != nil {
		errs = append(errs, fmt.Errorf("params: %w", err))
	}
	if err := r.Selector.Validate(k.Scope); err != nil {
		errs = append(errs, err)
	}
	var d time.Duration
	switch s := strings.TrimSpace(r.Duration); s {
	case "", "until_removed", "until removed":
	default:
		d, err = time.ParseDuration(s)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("duration: %q is not a duration (write e.g. 30s, 2m, or until_removed)", s))
		case d <= 0:
			errs = append(errs, fmt.Errorf("duration: %s must be positive (or until_removed)", s))
		case d > MaxFaultDuration:
			errs = append(errs, fmt.Errorf("duration: %s is longer than %s", s, MaxFaultDuration))
		}
	}
	if len(errs) > 0 {
		return faults.Spec{}, 0, errors.Join(errs...)
	}
	return faults.Spec{Kind: r.Kind, Selector: r.Selector, Params: params}, d, nil
}

// Actor is the name shown for an action: a cleaned-up who, else the holder's label.
func (c *Console) actor(who string) string {
	who = cleanName(who)
	if who == "" {
		return c.opts.Holder
	}
	return who
}

func cleanName(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			break
		}
		if r >= 0x20 && r != 0x7f {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// ApplyFault applies one fault now; it is removed after its duration, by
// RemoveFault, by Halt or at Finish.
func (c *Console) ApplyFault(ctx context.Context, req FaultRequest) (FaultView, error) {
	who := c.actor(req.Who)
	spec, dur, err := req.Spec()
	if err != nil {
		return FaultView{}, &RequestError{Err: err}
	}
	if _, err := c.env.Faults.Plan([]faults.Spec{spec}); err != nil {
		return FaultView{}, &RequestError{Err: err}
	}
	if !c.lockOps(ctx, 0) {
		return FaultView{}, ctx.Err()
	}
	defer c.unlockOps()
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return FaultView{}, ErrFinished
	}
	c.seq++
	spec.ID = fmt.Sprintf("gd%d-%s", c.seq, spec.Kind)
	c.mu.Unlock()
	spec.Labels = map[string]string{"source": "console", "by": who}
	aps, aerr := c.env.Faults.Apply(ctx, spec)
	durText := "until removed"
	if dur > 0 {
		durText = "for " + dur.String()
	}
	if len(aps) == 0 {
		c.record(AuditEntry{Who: who, Holder: c.opts.Holder, Action: "fault_applied", OK: false, Error: errText(aerr),
			Message: fmt.Sprintf("%s on %s %s", spec.Kind, spec.Selector, durText)})
		return FaultView{}, aerr
	}
	ap := aps[0]
	fi := &faultInfo{ID: ap.ID, By: who, Source: "console", applied: ap}
	if dur > 0 {
		fi.Expires = ap.RequestedAt.Add(dur)
	}
	c.mu.Lock()
	c.phases = append(c.phases, result.Phase{Name: "console " + ap.ID, Note: fmt.Sprintf("%s injected %s on %s %s", who, ap.Kind, strings.Join(ap.Targets, ", "), durText),
		IncidentAt: "", IncidentFor: durText, StartedAt: ap.RequestedAt, Faults: []result.Fault{ap.Result()}})
	fi.phaseIdx = len(c.phases) - 1
	c.faults[ap.ID] = fi
	if dur > 0 && ap.ApplyErr == nil {
		id := ap.ID
		fi.timer = time.AfterFunc(dur, func() { c.expire(id) })
	}
	c.mu.Unlock()
	c.record(AuditEntry{Who: who, Holder: c.opts.Holder, Action: "fault_applied", OK: aerr == nil, Error: errText(aerr),
		Message: fmt.Sprintf("%s %s on %s %s", ap.ID, ap.Kind, strings.Join(ap.Targets, ", "), durText),
		Detail:  map[string]any{"id": ap.ID, "kind": ap.Kind, "selector": spec.Selector, "params": ap.Result().Params, "targets": ap.Targets, "duration": durText}})
	if aerr != nil {
		// Partly applied: take it off again so nothing half-done stays.
		v := c.view(ap)
		rem, rerr := c.env.Faults.Remove(context.WithoutCancel(ctx), ap.ID)
		c.noteRemoved(rem)
		return v, errors.Join(aerr, rerr)
	}
	return c.view(ap), nil
}

// ErrFinished is returned for actions after Finish.
var ErrFinished = errors.New("the game day has ended")

// RequestError is bad input from the caller (HTTP 400).
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

// NotFoundError is an unknown id (HTTP 404).
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (c *Console) expire(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if !c.lockOps(ctx, 0) {
		return
	}
	defer c.unlockOps()
	if !c.isActive(id) {
		return
	}
	rem, err := c.env.Faults.Remove(ctx, id)
	c.noteRemoved(rem)
	c.record(AuditEntry{Who: "timer", Holder: "console", Action: "fault_expired", OK: err == nil, Error: errText(err),
		Message: fmt.Sprintf("%s removed at the end of its duration", id), Detail: map[string]any{"id": id}})
}

func (c *Console) isActive(id string) bool {
	for _, ap := range c.env.Faults.Active() {
		if ap.ID == id {
			return true
		}
	}
	return false
}

// RemoveFault removes one active fault (any active fault, also a played
// scenario's or one applied by other code on the same Env).
func (c *Console) RemoveFault(ctx context.Context, who, id string) error {
	who = c.actor(who)
	if !c.lockOps(ctx, 0) {
		return ctx.Err()
	}
	defer c.unlockOps()
	if !c.isActive(id) {
		return &NotFoundError{What: fmt.Sprintf("no active fault %q", id)}
	}
	rem, err := c.env.Faults.Remove(ctx, id)
	c.noteRemoved(rem)
	c.record(AuditEntry{Who: who, Holder: c.opts.Holder, Action: "fault_removed", OK: err == nil, Error: errText(err),
		Message: fmt.Sprintf("%s removed", id), Detail: map[string]any{"id": id}})
	return err
}

// noteRemoved copies removal times into the result phases and stops timers.
func (c *Console) noteRemoved(aps []*faults.Applied) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ap := range aps {
		fi := c.faults[ap.ID]
		if fi == nil {
			continue
		}
		fi.removed = true
		if fi.timer != nil {
			fi.timer.Stop()
		}
		ph := &c.phases[fi.phaseIdx]
		for i := range ph.Faults {
			if ph.Faults[i].ID == ap.ID {
				ph.Faults[i] = ap.Result()
			}
		}
		c.closePhaseLocked(fi.phaseIdx)
	}
}

// closePhaseLocked ends a phase when every fault in it is removed.
func (c *Console) closePhaseLocked(idx int) {
	ph := &c.phases[idx]
	var last time.Time
	for _, f := range ph.Faults {
		if f.RemovedAt == nil {
			return
		}
		if f.RemovedAt.After(last) {
			last = *f.RemovedAt
		}
	}
	if ph.EndedAt.IsZero() && !last.IsZero() {
		ph.EndedAt = last
	}
}

// HaltReport says what HALT did.
type HaltReport struct {
	Removed []string `json:"removed"`
	// ScenarioStopped names the scenario that was playing, if any.
	ScenarioStopped string `json:"scenario_stopped,omitempty"`
	// ProxiesReset is true when clean removal did not finish within the
	// grace time and every proxy was reset (all toxics gone, all enabled).
	ProxiesReset bool    `json:"proxies_reset"`
	TookMs       float64 `json:"took_ms"`
	Error        string  `json:"error,omitempty"`
}

// Halt stops any playing scenario and removes every active fault. Toxics
// are gone within HaltGrace plus one Toxiproxy call: when clean removal
// takes longer, every proxy is reset (POST /reset) while removal finishes.
func (c *Console) Halt(ctx context.Context, who string) (HaltReport, error) {
	who = c.actor(who)
	start := time.Now()
	var rep HaltReport
	rep.ScenarioStopped = c.stopPlayer("halted by " + who)
	deadline := time.Now().Add(c.opts.HaltGrace)
	hctx := context.WithoutCancel(ctx)
	var err error
	if c.lockOps(ctx, c.opts.HaltGrace/2) {
		done := make(chan struct{})
		var removed []*faults.Applied
		var rerr error
		go func() {
			defer close(done)
			removed, rerr = c.env.Faults.RemoveAll(hctx)
		}()
		select {
		case <-done:
			c.unlockOps()
			c.noteRemoved(removed)
			for _, ap := range removed {
				rep.Removed = append(rep.Removed, ap.ID)
			}
			err = rerr
		case <-time.After(time.Until(deadline)):
			rep.ProxiesReset = true
			err = c.resetProxies(hctx)
			go func() { // finish clean removal in the background, then release
				<-done
				c.noteRemoved(removed)
				c.unlockOps()
			}()
		}
	} else {
		rep.ProxiesReset = true
		err = errors.Join(errors.New("another fault operation is stuck; reset every proxy instead"), c.resetProxies(hctx))
	}
	rep.TookMs = float64(time.Since(start).Microseconds()) / 1000
	rep.Error = errText(err)
	msg := fmt.Sprintf("HALT: %d fault(s) removed in %.0f ms", len(rep.Removed), rep.TookMs)
	if rep.ScenarioStopped != "" {
		msg += ", scenario " + rep.ScenarioStopped + " stopped"
	}
	if rep.ProxiesReset {
		msg += ", every proxy reset"
	}
	c.record(AuditEntry{Who: who, Holder: c.opts.Holder, Action: "halt", OK: err == nil, Error: errText(err), Message: msg,
		Detail: map[string]any{"removed": rep.Removed, "took_ms": rep.TookMs, "proxies_reset": rep.ProxiesReset}})
	return rep, err
}

func (c *Console) resetProxies(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.env.Faults.ResetProxies(rctx); err != nil {
		return fmt.Errorf("reset proxies: %w", err)
	}
	return nil
}

// AddNote records a facilitator or observer note.
func (c *Console) AddNote(who, role, text string) (result.Note, error) {
	who = c.actor(who)
	role = strings.ToLower(strings.TrimSpace(role))
	if role == "" {
		role = "facilitator"
	}
	if role != "facilitator" && role != "observer" {
		return result.Note{}, &RequestError{Err: fmt.Errorf("role: %q is not facilitator or observer", role)}
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return result.Note{}, &RequestError{Err: errors.New("text: empty note")}
	}
	if len(text) > 4000 {
		return result.Note{}, &RequestError{Err: fmt.Errorf("text: %d bytes, at most 4000", len(text))}
	}
	n := result.Note{At: time.Now(), Author: who, Role: role, Text: text}
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return result.Note{}, ErrFinished
	}
	c.notes = append(c.notes, n)
	c.mu.Unlock()
	c.record(AuditEntry{At: n.At, Who: who, Holder: c.opts.Holder, Action: "note", OK: true, Message: role + " note: " + text})
	return n, nil
}

// Result builds the canonical result of the exercise so far. After Finish
// it is the final one (with every series filled in).
func (c *Console) Result() *result.Result {
	t := c.env.Topology()
	host, _ := os.Hostname()
	res := &result.Result{
		SchemaVersion: result.SchemaVersion,
		RunID:         c.env.RunID(),
		Scenario: result.Scenario{Name: "gameday", Title: "Game day on " + t.Name + " (" + c.started.Format("2006-01-02 15:04") + ")",
			Summary: "A live exercise run from the game-day console: every fault injected, by whom, and the room's notes.",
			Policy:  c.opts.Policy, Runtime: c.env.RuntimeName(), TimeScale: 1},
		Status:      result.Status{State: "running"},
		Verdict:     result.VerdictPass,
		Topology:    result.Topology{Name: t.Name, Regions: slices.Clone(t.Regions)},
		StartedAt:   c.started,
		Components:  []result.Component{},
		Edges:       []result.EdgeStats{},
		Journeys:    []result.Journey{},
		Hypotheses:  []result.Hypothesis{},
		Invariants:  []result.Invariant{},
		Cascade:     []result.CascadeStep{},
		Environment: result.Environment{OutageLab: c.opts.Version, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Hostname: host, Runtime: c.env.RuntimeName()},
	}
	for _, comp := range t.Components {
		res.Topology.Components = append(res.Topology.Components, result.TopoComponent{Name: comp.Name, Kind: string(comp.Kind), Region: comp.Region, Labels: comp.Labels})
	}
	for _, e := range t.Edges {
		res.Topology.Edges = append(res.Topology.Edges, result.TopoEdge{Name: e.Name, From: e.From, To: e.To})
	}
	c.mu.Lock()
	res.Phases = make([]result.Phase, len(c.phases))
	for i, p := range c.phases {
		p.Faults = slices.Clone(p.Faults)
		res.Phases[i] = p
	}
	res.Events = slices.Clone(c.events)
	res.Notes = slices.Clone(c.notes)
	c.mu.Unlock()
	sort.SliceStable(res.Phases, func(i, j int) bool { return res.Phases[i].StartedAt.Before(res.Phases[j].StartedAt) })
	return res
}

// Finish ends the exercise: stops any scenario, removes every fault, stops
// load and recorder, writes result.json, report.html (and audit.jsonl is
// complete) into Out, and returns the result. It does not tear the topology
// down. Idempotent: later calls return the same result.
func (c *Console) Finish(ctx context.Context, reason string) (*result.Result, error) {
	c.finishOnce.Do(func() { c.finalRes, c.finalErr = c.finish(ctx, reason) })
	return c.finalRes, c.finalErr
}

func (c *Console) finish(ctx context.Context, reason string) (*result.Result, error) {
	var errs []error
	if _, err := c.Halt(ctx, "console"); err != nil {
		errs = append(errs, fmt.Errorf("halt at end: %w", err))
	}
	c.mu.Lock()
	c.finished = true
	c.mu.Unlock()
	if reason == "" {
		reason = "the facilitator ended the exercise"
	}
	c.record(AuditEntry{Who: "console", Holder: "console", Action: "end", OK: true, Message: "game day ended: " + reason})
	if c.cancel != nil {
		c.cancel()
		<-c.loopDone
	}
	c.stopObservation()
	c.hub.close()
	res := c.Result()
	res.EndedAt = time.Now()
	if c.rec != nil {
		c.rec.Fill(res)
	}
	res.Status = result.Status{State: "completed", Reason: reason}
	res.Hypotheses = []result.Hypothesis{}
	if len(errs) > 0 {
		res.Status = result.Status{State: "failed", Reason: errors.Join(errs...).Error()}
		res.Verdict = result.VerdictError
	}
	res.Events = append(res.Events, result.Event{At: res.EndedAt, Kind: "note", Actor: "console",
		Message: "a game day checks no hypotheses or invariants: the verdict says only that every fault was applied and removed cleanly"})
	if c.gen != nil {
		res.Load = &result.LoadStats{Rates: c.gen.Rates()}
	}
	if c.opts.Out != "" {
		if _, err := reports.Render(res, []string{"json", "html"}, c.opts.Out); err != nil {
			errs = append(errs, fmt.Errorf("write result: %w", err))
		}
	}
	if err := c.audit.close(); err != nil {
		errs = append(errs, fmt.Errorf("close audit log: %w", err))
	}
	return res, errors.Join(errs...)
}
