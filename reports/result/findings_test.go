package result

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

var findT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// findRun is a hand-made run of n 1 s buckets: gw calls idp over gw__idp
// (and db over gw__db); gw receives 20 requests per bucket.
type findRun struct{ r *Result }

func newFindRun(n int) *findRun {
	fill := func(v int64) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	comp := func(name string, req int64, p99 float64) Component {
		c := Component{Name: name, Kind: "service", Requests: fill(req), P99Ms: make([]float64, n),
			Errors: map[string][]int64{}, State: make([]string, n), Breaker: make([]string, n)}
		for i := range c.P99Ms {
			c.P99Ms[i], c.State[i], c.Breaker[i] = p99, "healthy", "closed"
		}
		for _, cl := range depFailClasses {
			c.Errors[cl] = make([]int64, n)
		}
		return c
	}
	r := &Result{SchemaVersion: SchemaVersion, StartedAt: findT0, BucketMillis: 1000,
		Components: []Component{comp("gw", 20, 100), comp("idp", 10, 10), comp("db", 10, 5)},
		Edges: []EdgeStats{
			{Name: "gw__idp", From: "gw", To: "idp", CallerRequests: fill(20), CalleeRequests: fill(10), LogicalCalls: fill(10), AmplificationBasis: "logical_calls"},
			{Name: "gw__db", From: "gw", To: "db", CallerRequests: fill(20), CalleeRequests: fill(10), LogicalCalls: fill(10), AmplificationBasis: "logical_calls"},
		}}
	return &findRun{r}
}

func sec(s float64) time.Time { return findT0.Add(time.Duration(s * float64(time.Second))) }

// phase adds a phase [from, to) s with one fault over the same span.
func (fr *findRun) phase(name string, from, to float64, f Fault) {
	a, rm := sec(from), sec(to)
	f.AppliedAt, f.RemovedAt = &a, &rm
	if f.ID == "" {
		f.ID = name + "/0"
	}
	fr.r.Phases = append(fr.r.Phases, Phase{Name: name, StartedAt: sec(from), EndedAt: sec(to), Faults: []Fault{f}})
}

func (fr *findRun) comp(name string) *Component {
	for i := range fr.r.Components {
		if fr.r.Components[i].Name == name {
			return &fr.r.Components[i]
		}
	}
	panic(name)
}

func (fr *findRun) edge(name string) *EdgeStats {
	for i := range fr.r.Edges {
		if fr.r.Edges[i].Name == name {
			return &fr.r.Edges[i]
		}
	}
	panic(name)
}

func kinds(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+" "+f.Edge+" "+f.Phase)
	}
	return out
}

func TestFindingsRetryAmplification(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempts int64 // per bucket during the phase, 10 logical calls each
		calls    int64
		basis    string
		want     bool
	}{
		{"well above", 30, 10, "logical_calls", true},
		{"just above", 16, 10, "logical_calls", true},
		{"at the threshold", 15, 10, "logical_calls", false},
		{"no retries", 10, 10, "logical_calls", false},
		{"too few calls", 30, 1, "logical_calls", false}, // 10 calls in the phase < AmplificationMinCalls
		{"caller basis, above", 32, 10, "caller_requests", true},
		{"caller basis, fan-out at steady state", 20, 10, "caller_requests", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFindRun(60)
			e := fr.edge("gw__idp")
			e.AmplificationBasis = tc.basis
			if tc.basis == "caller_requests" {
				e.LogicalCalls = nil
				for i := range e.CallerRequests {
					e.CallerRequests[i] = tc.calls
					if i < 20 && tc.name == "caller basis, fan-out at steady state" {
						e.CalleeRequests[i] = 2 * tc.calls // two calls per request before any fault
					}
				}
			}
			for b := 20; b < 30; b++ {
				e.CalleeRequests[b] = tc.attempts
				if tc.basis == "logical_calls" {
					e.LogicalCalls[b] = tc.calls
				}
			}
			fr.phase("storm", 20, 30, Fault{Kind: "http_error", Targets: []string{"idp"}})
			e.AmplificationByPhase = map[string]float64{"storm": float64(tc.attempts) / float64(tc.calls)}
			fs := FindingsOf(fr.r)
			var got *Finding
			for i := range fs {
				if fs[i].Kind == FindingRetryAmplification {
					got = &fs[i]
				}
			}
			if (got != nil) != tc.want {
				t.Fatalf("retry_amplification fired = %v, want %v: %v", got != nil, tc.want, kinds(fs))
			}
			if got == nil {
				return
			}
			if got.Edge != "gw__idp" || got.Phase != "storm" || got.AtMs != 20_000 || !strings.Contains(got.Fix, "gw__idp") || got.Threshold == "" {
				t.Errorf("finding = %+v", *got)
			}
			if got.Figures["amplification"] <= AmplificationThreshold {
				t.Errorf("figures = %v", got.Figures)
			}
		})
	}
}

func TestFindingsNoEffectiveTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   string
		params map[string]any
		target string
		p99    float64 // caller p99 during the fault (100 before)
		calls  int64   // attempts per bucket on the edge during the fault
		want   bool
	}{
		{"followed", "latency", map[string]any{"latency": "500ms"}, "gw__idp", 600, 10, true},
		{"at 80%", "latency", map[string]any{"latency": "500ms"}, "gw__idp", 500, 10, true},
		{"just below 80%", "latency", map[string]any{"latency": "500ms"}, "gw__idp", 499, 10, false},
		{"bounded by a timeout", "latency", map[string]any{"latency": "2s"}, "gw__idp", 350, 10, false},
		{"too small to judge", "latency", map[string]any{"latency": "40ms"}, "gw__idp", 400, 10, false},
		{"edge not used", "latency", map[string]any{"latency": "500ms"}, "gw__idp", 600, 1, false},
		{"not a latency fault", "reset_peer", map[string]any{"toxicity": 1.0}, "gw__idp", 600, 10, false},
		{"delay in the callee", "delay", map[string]any{"delay": "300ms"}, "idp", 400, 10, true},
		{"retry_storm, applied latencies (JSON)", "retry_storm", map[string]any{"latency": "200ms", "applied_latency_ms": []any{200.0, 600.0, 700.0}}, "gw__idp", 700, 10, true},
		// a storm's latency in effect counts whole: 4 s held, p99 +3.5 s follows it; +900 ms does not
		{"retry_storm followed", "retry_storm", map[string]any{"latency": "500ms", "applied_latency_ms": []int64{4000, 4000, 4000}}, "gw__idp", 3600, 10, true},
		{"retry_storm bounded", "retry_storm", map[string]any{"latency": "500ms", "applied_latency_ms": []int64{4000, 4000, 4000}}, "gw__idp", 1000, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFindRun(60)
			c := fr.comp("gw")
			e := fr.edge("gw__idp")
			for b := 20; b < 30; b++ {
				c.P99Ms[b] = tc.p99
				e.CalleeRequests[b] = tc.calls
				e.LogicalCalls[b] = tc.calls
			}
			fr.phase("slow", 20, 30, Fault{Kind: tc.kind, Params: tc.params, Targets: []string{tc.target}})
			fs := FindingsOf(fr.r)
			var got *Finding
			for i := range fs {
				if fs[i].Kind == FindingNoEffectiveTimeout {
					got = &fs[i]
				}
			}
			if (got != nil) != tc.want {
				t.Fatalf("no_effective_timeout fired = %v, want %v: %v", got != nil, tc.want, kinds(fs))
			}
			if got == nil {
				return
			}
			if got.Edge != "gw__idp" || got.Phase != "slow" || got.AtMs != 20_000 {
				t.Errorf("finding = %+v", *got)
			}
			if got.Figures["caller_p99_before_ms"] != 100 || got.Figures["caller_p99_during_ms"] != tc.p99 {
				t.Errorf("figures = %v", got.Figures)
			}
		})
	}
}

func TestFindingsStuckAfterFault(t *testing.T) {
	// The fault on gw__idp runs [20, 30) s; the run lasts 60 buckets.
	for _, tc := range []struct {
		name  string
		setup func(fr *findRun)
		want  bool
		stuck float64 // stuck_ms when it fires
	}{
		{"recovers at once", func(fr *findRun) {}, false, 0},
		{"breaker open for 11 s", func(fr *findRun) {
			for b := 30; b < 41; b++ {
				fr.comp("gw").Breaker[b] = "open"
			}
		}, true, 11_000},
		{"breaker open for exactly 10 s", func(fr *findRun) {
			for b := 30; b < 40; b++ {
				fr.comp("gw").Breaker[b] = "open"
			}
		}, false, 0},
		{"errors at the threshold until the end", func(fr *findRun) {
			for b := 30; b < 60; b++ {
				fr.comp("gw").Errors["timeout"][b] = 2 // of 20 attempts (10 + 10)
			}
		}, true, 30_000},
		{"errors just below the threshold", func(fr *findRun) {
			for b := 30; b < 60; b++ {
				fr.comp("gw").Errors["timeout"][b] = 1
			}
		}, false, 0},
		{"callee degraded", func(fr *findRun) {
			for b := 30; b < 45; b++ {
				fr.comp("idp").State[b] = "degraded"
			}
		}, true, 15_000},
		{"no traffic after the fault", func(fr *findRun) {
			e := fr.edge("gw__idp")
			for b := 30; b < 60; b++ {
				fr.comp("gw").Breaker[b] = "open"
				e.CallerRequests[b], e.CalleeRequests[b], e.LogicalCalls[b] = 0, 0, 0
			}
		}, false, 0},
		{"caller errors while another dependency is faulted", func(fr *findRun) {
			a, rm := sec(30), sec(60)
			fr.r.Phases = append(fr.r.Phases, Phase{Name: "db", StartedAt: sec(30), EndedAt: sec(60),
				Faults: []Fault{{ID: "db/0", Kind: "reset_peer", Targets: []string{"gw__db"}, AppliedAt: &a, RemovedAt: &rm}}})
			for b := 30; b < 60; b++ {
				fr.comp("gw").Errors["reset"][b] = 10
			}
		}, false, 0},
		{"callee degraded by its own faulted dependency", func(fr *findRun) {
			fr.r.Edges = append(fr.r.Edges, EdgeStats{Name: "idp__db", From: "idp", To: "db"})
			a, rm := sec(30), sec(60)
			fr.r.Phases = append(fr.r.Phases, Phase{Name: "db", StartedAt: sec(30), EndedAt: sec(60),
				Faults: []Fault{{ID: "db/0", Kind: "latency", Params: map[string]any{"latency": "1s"}, Targets: []string{"idp__db"}, AppliedAt: &a, RemovedAt: &rm}}})
			for b := 30; b < 60; b++ {
				fr.comp("idp").State[b] = "degraded"
			}
		}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFindRun(60)
			fr.phase("outage", 20, 30, Fault{Kind: "http_error", Targets: []string{"idp"}})
			for b := 20; b < 30; b++ { // failing during the fault itself
				fr.comp("gw").Breaker[b] = "open"
				fr.comp("idp").State[b] = "down"
			}
			tc.setup(fr)
			fs := FindingsOf(fr.r)
			var got *Finding
			for i := range fs {
				if fs[i].Kind == FindingStuckAfterFault && fs[i].Edge == "gw__idp" {
					got = &fs[i]
				}
			}
			if (got != nil) != tc.want {
				t.Fatalf("stuck_after_fault fired = %v, want %v: %v", got != nil, tc.want, kinds(fs))
			}
			if got == nil {
				return
			}
			if got.Phase != "outage" || got.AtMs != 30_000 || got.Figures["stuck_ms"] != tc.stuck {
				t.Errorf("finding = %+v", *got)
			}
		})
	}
}

func TestFindingsOrderDedupeCap(t *testing.T) {
	fr := newFindRun(60)
	c := fr.comp("gw")
	for b := 20; b < 30; b++ {
		c.P99Ms[b] = 900
	}
	// Two latency faults on one edge in one phase: one finding, the more severe.
	a, rm := sec(20), sec(30)
	fr.r.Phases = append(fr.r.Phases, Phase{Name: "slow", StartedAt: sec(20), EndedAt: sec(30), Faults: []Fault{
		{ID: "slow/0", Kind: "latency", Params: map[string]any{"latency": "800ms"}, Targets: []string{"gw__idp"}, AppliedAt: &a, RemovedAt: &rm},
		{ID: "slow/1", Kind: "latency", Params: map[string]any{"latency": "200ms"}, Targets: []string{"gw__idp"}, AppliedAt: &a, RemovedAt: &rm},
	}})
	fs := FindingsOf(fr.r)
	if len(fs) != 1 || fs[0].Figures["injected_latency_ms"] != 200 {
		t.Fatalf("want one finding for the 200 ms fault (most severe), got %+v", fs)
	}

	// Many phases: capped, most severe first, deterministic.
	fr = newFindRun(400)
	e := fr.edge("gw__idp")
	for k := 0; k < 60; k++ {
		from := 10 + 6*k
		for b := from; b < from+5; b++ {
			e.CalleeRequests[b] = int64(16 + k) // amplification 1.6 .. 7.5
		}
		name := "p" + string(rune('A'+k/26)) + string(rune('a'+k%26))
		fr.r.Phases = append(fr.r.Phases, Phase{Name: name, StartedAt: sec(float64(from)), EndedAt: sec(float64(from + 5))})
	}
	fs = FindingsOf(fr.r)
	if len(fs) != MaxFindings {
		t.Fatalf("got %d findings, want the cap %d", len(fs), MaxFindings)
	}
	for i := 1; i < len(fs); i++ {
		if fs[i].Figures["severity"] > fs[i-1].Figures["severity"] {
			t.Fatalf("not most severe first at %d: %v then %v", i, fs[i-1].Figures, fs[i].Figures)
		}
	}
	if !reflect.DeepEqual(fs, FindingsOf(fr.r)) {
		t.Error("FindingsOf is not deterministic")
	}
	if FindingsOf(nil) != nil || FindingsOf(&Result{}) != nil {
		t.Error("empty results have no findings")
	}
}

// TestFindingsSynthetic: the synthetic fragile run amplifies retries on its
// identity edges; the hardened one does not; both survive a JSON round trip
// unchanged (what FindingsOf sees in a stored result.json).
func TestFindingsSynthetic(t *testing.T) {
	for _, policy := range []string{"fragile", "hardened"} {
		r := Synthetic(SyntheticOptions{Seed: 20211207, Policy: policy})
		fs := FindingsOf(r)
		amp := 0
		for _, f := range fs {
			if f.Kind == "" || f.Edge == "" || f.Threshold == "" || f.Fix == "" || f.Evidence == "" || len(f.Figures) == 0 {
				t.Errorf("%s: incomplete finding %+v", policy, f)
			}
			if f.Kind == FindingRetryAmplification && strings.HasSuffix(f.Edge, "identity") {
				amp++
			}
		}
		if len(fs) > MaxFindings {
			t.Errorf("%s: %d findings over the cap", policy, len(fs))
		}
		if policy == "fragile" && amp == 0 {
			t.Errorf("fragile: no retry_amplification on an identity edge: %v", kinds(fs))
		}
		if policy == "hardened" && amp != 0 {
			t.Errorf("hardened: retry_amplification on identity edges: %v", kinds(fs))
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if got := FindingsOf(&back); !reflect.DeepEqual(got, fs) {
			t.Errorf("%s: findings differ after a JSON round trip:\n%v\n%v", policy, kinds(got), kinds(fs))
		}
		t.Logf("%s: %v", policy, kinds(fs))
	}
}
