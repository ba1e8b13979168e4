package gameday

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/reports/result"
)

// State is the live picture the console streams (GET /api/state, and every
// second as an SSE "state" event on GET /api/events).
type State struct {
	Now       time.Time          `json:"now"`
	Started   time.Time          `json:"started"`
	RunID     string             `json:"run_id"`
	Runtime   string             `json:"runtime"`
	Topology  string             `json:"topology"`
	Regions   []string           `json:"regions"`
	BucketMs  int64              `json:"bucket_ms"`
	Health    []ComponentHealth  `json:"health"`
	Journeys  []JourneySeries    `json:"journeys"`
	Faults    []FaultView        `json:"faults"`
	Scenario  *ScenarioView      `json:"scenario,omitempty"`
	Selected  string             `json:"selected_scenario,omitempty"`
	Events    []result.Event     `json:"events"` // the latest, newest last
	Notes     []result.Note      `json:"notes"`
	Load      map[string]float64 `json:"load,omitempty"`
	Finished  bool               `json:"finished"`
	Injected  int                `json:"injected"` // faults injected so far (console and scenarios)
	EventsLen int                `json:"events_total"`
}

// ComponentHealth is one cell of the health grid.
type ComponentHealth struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	Kind   string `json:"kind"`
	// State in the last complete bucket: healthy, degraded, down or unknown
	// (the recorder's rule).
	State string `json:"state"`
	// Faults active on the component or on an edge into it.
	Faults []string `json:"faults,omitempty"`
}

// JourneySeries is one journey × region over the last History buckets.
type JourneySeries struct {
	Journey string `json:"journey"`
	Region  string `json:"region"`
	// FirstBucket is the index (from the recorder's epoch) of Success[0].
	FirstBucket int `json:"first_bucket"`
	// Success per bucket in 0..1; -1 where the bucket had no attempts.
	Success []float64 `json:"success"`
	// P99Ms per bucket (latency from the intended start); 0 with no attempts.
	P99Ms    []float64 `json:"p99_ms"`
	Attempts []int64   `json:"attempts"`
}

// FaultView is one active fault.
type FaultView struct {
	ID        string         `json:"id"`
	Kind      string         `json:"kind"`
	Targets   []string       `json:"targets"`
	Params    map[string]any `json:"params,omitempty"`
	By        string         `json:"by,omitempty"`
	Source    string         `json:"source"` // console, scenario NAME, or other (applied outside the console)
	AppliedAt *time.Time     `json:"applied_at,omitempty"`
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// view describes a fault. ap is a snapshot (Applier.Active) or a value
// Apply returned; Result reads it under the applier's lock, so this is safe
// while the fault is being applied or removed.
func (c *Console) view(ap *faults.Applied) FaultView {
	rf := ap.Result()
	v := FaultView{ID: rf.ID, Kind: rf.Kind, Targets: rf.Targets, Params: rf.Params, AppliedAt: rf.AppliedAt, Error: rf.Error, Source: "other"}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fi := c.faults[rf.ID]; fi != nil {
		v.By, v.Source = fi.By, fi.Source
		if !fi.Expires.IsZero() {
			t := fi.Expires
			v.ExpiresAt = &t
		}
	}
	return v
}

// State returns the live picture.
func (c *Console) State() State {
	t := c.env.Topology()
	st := State{Now: time.Now(), Started: c.started, RunID: c.env.RunID(), Runtime: c.env.RuntimeName(), Topology: t.Name,
		Regions: slices.Clone(t.Regions), BucketMs: c.opts.Bucket.Milliseconds(), Faults: []FaultView{}, Journeys: []JourneySeries{}}
	active := c.env.Faults.Active()
	hit := map[string][]string{} // component → faults on it or on an edge into it
	for _, ap := range active {
		st.Faults = append(st.Faults, c.view(ap))
		for _, name := range ap.Targets {
			if e := t.Edge(name); e != nil {
				hit[e.To] = append(hit[e.To], ap.ID)
			} else {
				hit[name] = append(hit[name], ap.ID)
			}
		}
	}
	states := map[string]string{}
	if c.rec != nil {
		states = c.rec.Live().Components
	}
	for _, comp := range t.Components {
		s := states[comp.Name]
		if s == "" {
			s = "unknown"
		}
		st.Health = append(st.Health, ComponentHealth{Name: comp.Name, Region: comp.Region, Kind: string(comp.Kind), State: s, Faults: hit[comp.Name]})
	}
	if c.live != nil && c.rec != nil {
		st.Journeys = c.live.series(c.rec.Live().Bucket)
	}
	st.Scenario = c.scenarioView()
	c.mu.Lock()
	st.Selected = c.selected
	n := len(c.events)
	st.EventsLen = n
	st.Events = slices.Clone(c.events[max(0, n-200):])
	st.Notes = slices.Clone(c.notes)
	st.Finished = c.finished
	st.Injected = len(c.faults)
	c.mu.Unlock()
	if c.gen != nil {
		st.Load = c.gen.Rates()
	}
	return st
}

// liveView keeps the journeys' per-bucket figures, recomputing only the
// recent buckets (journeys land in the bucket of their intended start, so a
// slow one can still change a bucket a few seconds old).
type liveView struct {
	gen     *load.Generator
	history int

	mu    sync.Mutex
	cache map[load.SeriesID]map[int]point
}

type point struct {
	success, p99 float64
	attempts     int64
}

// recompute is how many of the latest buckets are recomputed each time:
// longer than the load generator's request timeout (5 s) per step.
const recompute = 20

func newLiveView(gen *load.Generator, history int) *liveView {
	return &liveView{gen: gen, history: history, cache: map[load.SeriesID]map[int]point{}}
}

// series returns every journey × region over the buckets up to last (inclusive).
func (lv *liveView) series(last int) []JourneySeries {
	out := []JourneySeries{}
	if lv.gen == nil || last < 0 {
		return out
	}
	stats := lv.gen.Stats()
	first := max(0, last-lv.history+1)
	lv.mu.Lock()
	defer lv.mu.Unlock()
	ids := stats.Series()
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Journey != ids[j].Journey {
			return ids[i].Journey < ids[j].Journey
		}
		return ids[i].Region < ids[j].Region
	})
	for _, id := range ids {
		cache := lv.cache[id]
		if cache == nil {
			cache = map[int]point{}
			lv.cache[id] = cache
		}
		js := JourneySeries{Journey: string(id.Journey), Region: id.Region, FirstBucket: first}
		for b := first; b <= last; b++ {
			p, ok := cache[b]
			if !ok || b > last-recompute {
				w := stats.Window(id, b, b+1)
				p = point{success: -1, attempts: w.Attempts(), p99: w.P99Ms}
				if p.attempts > 0 {
					p.success = w.SuccessRate()
				}
				cache[b] = p
			}
			js.Success = append(js.Success, p.success)
			js.P99Ms = append(js.P99Ms, p.p99)
			js.Attempts = append(js.Attempts, p.attempts)
		}
		for b := range cache {
			if b < first {
				delete(cache, b)
			}
		}
		out = append(out, js)
	}
	return out
}

// hub fans the latest state out to SSE subscribers. A slow subscriber
// skips states: it always gets the newest, never a backlog.
type hub struct {
	changed chan struct{}

	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	last   []byte
	closed bool
}

func newHub() *hub {
	return &hub{changed: make(chan struct{}, 1), subs: map[chan []byte]struct{}{}}
}

// poke asks the loop for a fresh state now.
func (h *hub) poke() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

func (h *hub) broadcast(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = b
	for ch := range h.subs {
		select {
		case <-ch: // drop the stale one
		default:
		}
		ch <- b
	}
}

// subscribe returns a channel of states (the latest one first) and a cancel.
func (h *hub) subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, 1)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	if h.last != nil {
		ch <- h.last
	}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// kindViews describes the registry's kinds for the palette.
type KindView struct {
	Name       string         `json:"name"`
	Scope      string         `json:"scope"` // edge|component
	Summary    string         `json:"summary"`
	Toxic      string         `json:"toxic,omitempty"`
	OneShot    bool           `json:"one_shot,omitempty"`
	Defaults   map[string]any `json:"defaults"`
	Attributes []string       `json:"attributes"`
}

// Kinds lists every kind in the harness fault registry.
func Kinds() []KindView {
	var out []KindView
	for _, k := range faults.Kinds() {
		kv := KindView{Name: k.Name, Scope: string(k.Scope), Summary: k.Summary, Toxic: k.Toxic, OneShot: k.OneShot,
			Attributes: faults.Attributes(k.Name), Defaults: map[string]any{}}
		ap := &faults.Applied{Params: k.New()}
		if p := ap.Result().Params; p != nil {
			kv.Defaults = p
		}
		if kv.Attributes == nil {
			kv.Attributes = []string{}
		}
		out = append(out, kv)
	}
	return out
}

// TopologyView is the topology graph for pickers.
type TopologyView struct {
	Name       string          `json:"name"`
	Regions    []string        `json:"regions"`
	Components []TopoComponent `json:"components"`
	Edges      []TopoEdge      `json:"edges"`
	// Terms are the words a "crossing" selector understands (regions, planes, tiers).
	Terms []string `json:"terms"`
}

// TopoComponent is one component for the pickers.
type TopoComponent struct {
	Name   string            `json:"name"`
	Kind   string            `json:"kind"`
	Region string            `json:"region"`
	Labels map[string]string `json:"labels,omitempty"`
}

// TopoEdge is one edge for the pickers.
type TopoEdge struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Topology describes the console's topology.
func (c *Console) Topology() TopologyView {
	t := c.env.Topology()
	v := TopologyView{Name: t.Name, Regions: slices.Clone(t.Regions), Components: []TopoComponent{}, Edges: []TopoEdge{}}
	terms := map[string]bool{}
	for _, r := range t.Regions {
		terms[r] = true
	}
	for _, comp := range t.Components {
		v.Components = append(v.Components, TopoComponent{Name: comp.Name, Kind: string(comp.Kind), Region: comp.Region, Labels: comp.Labels})
		terms[comp.Region] = true
		for _, k := range []string{"plane", "tier"} {
			if l := comp.Labels[k]; l != "" {
				terms[l] = true
			}
		}
	}
	for _, e := range t.Edges {
		v.Edges = append(v.Edges, TopoEdge{Name: e.Name, From: e.From, To: e.To})
	}
	for k := range terms {
		if strings.TrimSpace(k) != "" {
			v.Terms = append(v.Terms, k)
		}
	}
	sort.Strings(v.Terms)
	return v
}
