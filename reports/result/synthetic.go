package result

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// SyntheticOptions shape a synthetic Result.
type SyntheticOptions struct {
	Seed     int64         // randomness comes only from the seed
	Duration time.Duration // run length; default 10 min
	Bucket   time.Duration // bucket width; default 1 s
	// Policy is "fragile" (default) or "hardened": a hardened storefront
	// degrades less, amplifies retries less and recovers sooner.
	Policy string
	// FailInvariant makes the "no acknowledged order lost" invariant fail.
	FailInvariant bool
	// FidelityGate sets Result.FidelityGate: a missed expectation then
	// fails the verdict too.
	FidelityGate bool
}

// Synthetic builds a deterministic, realistic Result shaped like a replay of
// AWS us-east-1 2021-12-07 against the two-region storefront: ~20
// components, three fault phases, six journeys in two regions, every derived
// figure filled in. Reports' tests and benchmarks use it; nothing in it
// claims to be measured, and RunID says so.
func Synthetic(o SyntheticOptions) *Result {
	if o.Duration <= 0 {
		o.Duration = 10 * time.Minute
	}
	if o.Bucket <= 0 {
		o.Bucket = time.Second
	}
	if o.Policy == "" {
		o.Policy = "fragile"
	}
	g := &synth{o: o, rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed)), n: int(o.Duration / o.Bucket)}
	if g.n < 1 {
		g.n = 1
	}
	return g.build()
}

type synth struct {
	o   SyntheticOptions
	rng *rand.Rand
	n   int
	r   *Result
	// impact[c][i] in 0..1: how hurt component c is in bucket i.
	impact map[string][]float64
}

var synthStart = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

type synthComp struct {
	name, kind, region, plane string
	rps                       float64
	p50                       float64
}

func synthComponents() []synthComp {
	var cs []synthComp
	for _, reg := range []string{"us-east-1", "eu-west-1"} {
		rate := 40.0
		if reg == "eu-west-1" {
			rate = 20
		}
		cs = append(cs,
			synthComp{"gateway-" + reg, "service", reg, "data", rate, 18},
			synthComp{"catalog-" + reg, "service", reg, "data", rate * 0.8, 6},
			synthComp{"catalog-db-" + reg, "datastore", reg, "data", rate * 0.6, 1.5},
			synthComp{"cart-" + reg, "service", reg, "data", rate * 0.3, 3},
			synthComp{"cart-redis-" + reg, "datastore", reg, "data", rate * 0.3, 0.4},
			synthComp{"recommendations-" + reg, "service", reg, "data", rate * 0.4, 9},
		)
	}
	cs = append(cs,
		synthComp{"identity", "service", "us-east-1", "internal", 18, 4},
		synthComp{"discovery", "service", "us-east-1", "internal", 30, 1},
		synthComp{"monitoring", "monitoring", "us-east-1", "internal", 20, 2},
		synthComp{"admin", "service", "us-east-1", "internal", 1, 5},
		synthComp{"checkout", "service", "us-east-1", "data", 6, 40},
		synthComp{"orders", "service", "us-east-1", "data", 12, 8},
		synthComp{"orders-postgres", "datastore", "us-east-1", "data", 12, 2},
		synthComp{"payment", "service", "payment-provider", "external", 6, 120},
	)
	return cs
}

func synthEdges() [][2]string {
	var es [][2]string
	for _, reg := range []string{"us-east-1", "eu-west-1"} {
		es = append(es,
			[2]string{"gateway-" + reg, "catalog-" + reg},
			[2]string{"gateway-" + reg, "recommendations-" + reg},
			[2]string{"gateway-" + reg, "cart-" + reg},
			[2]string{"gateway-" + reg, "identity"},
			[2]string{"gateway-" + reg, "checkout"},
			[2]string{"gateway-" + reg, "discovery"},
			[2]string{"catalog-" + reg, "catalog-db-" + reg},
			[2]string{"cart-" + reg, "cart-redis-" + reg},
			[2]string{"recommendations-" + reg, "catalog-" + reg},
			[2]string{"checkout", "cart-" + reg},
			[2]string{"monitoring", "gateway-" + reg},
		)
	}
	es = append(es,
		[2]string{"checkout", "identity"},
		[2]string{"checkout", "orders"},
		[2]string{"checkout", "payment"},
		[2]string{"orders", "orders-postgres"},
		[2]string{"identity", "discovery"},
		[2]string{"admin", "identity"},
		[2]string{"monitoring", "identity"},
	)
	return es
}

type synthPhase struct {
	name, note, at, dur string
	approx              bool
	sourceTime, grade   string  // the source's time and how far its check got
	from, to            float64 // fractions of the run
	faults              []Fault
	// hurt: component -> peak impact in this phase (fragile policy).
	hurt map[string]float64
}

func synthPhases() []synthPhase {
	return []synthPhase{
		{
			name: "congestion", at: "0s", dur: "1h58m0s", from: 0.10, to: 0.45, sourceTime: "07:30 PST", grade: "primary",
			note: "07:30 PST: an automated scaling action sets off a surge of connections; devices between the main and internal networks congest; operators lose monitoring.",
			faults: []Fault{
				{ID: "congestion/0", Kind: "retry_storm", Params: map[string]any{"latency": "800ms", "per_request_per_second": "15ms"}, Targets: []string{"gateway-us-east-1->identity", "gateway-eu-west-1->identity", "checkout->identity"}},
				{ID: "congestion/1", Kind: "timeout", Params: map[string]any{"timeout": 0, "toxicity": 0.9}, Targets: []string{"monitoring->gateway-us-east-1", "monitoring->gateway-eu-west-1", "monitoring->identity"}},
				{ID: "congestion/2", Kind: "reset_peer", Params: map[string]any{"toxicity": 0.25}, Targets: []string{"identity->discovery"}},
			},
			hurt: map[string]float64{"identity": 0.85, "discovery": 0.5, "monitoring": 0.95, "admin": 0.7, "checkout": 0.9, "gateway-eu-west-1": 0.3, "gateway-us-east-1": 0.35, "orders": 0.3},
		},
		{
			name: "dns-moved", at: "1h58m0s", dur: "3h7m0s", approx: true, from: 0.45, to: 0.70, sourceTime: "09:28 PST", grade: "primary",
			note: "09:28 PST: internal DNS moved off the congested paths; DNS errors recover, congestion remains.",
			faults: []Fault{
				{ID: "dns-moved/0", Kind: "latency", Params: map[string]any{"latency": "400ms", "jitter": "200ms"}, Targets: []string{"gateway-us-east-1->identity", "gateway-eu-west-1->identity", "checkout->identity"}},
				{ID: "dns-moved/1", Kind: "timeout", Params: map[string]any{"timeout": 0, "toxicity": 0.5}, Targets: []string{"monitoring->gateway-us-east-1", "monitoring->gateway-eu-west-1"}},
			},
			hurt: map[string]float64{"identity": 0.55, "monitoring": 0.6, "checkout": 0.6, "gateway-eu-west-1": 0.2, "gateway-us-east-1": 0.2},
		},
		{
			name: "recovering", at: "5h5m0s", dur: "1h47m0s", approx: true, from: 0.70, to: 0.80, sourceTime: "12:35 PST", grade: "secondary",
			note: "12:35 PST: event delivery disabled to shed load; congestion much improved by 13:34.",
			faults: []Fault{
				{ID: "recovering/0", Kind: "latency", Params: map[string]any{"latency": "120ms"}, Targets: []string{"gateway-us-east-1->identity", "gateway-eu-west-1->identity"}},
			},
			hurt: map[string]float64{"identity": 0.2, "checkout": 0.15},
		},
	}
}

var synthJourneys = []struct {
	name  string
	share float64
	p50   float64
	deps  []string // components whose impact hurts this journey ("@" = the region's)
}{
	{"browse", 0.40, 35, []string{"gateway-@", "catalog-@"}},
	{"search", 0.15, 45, []string{"gateway-@", "catalog-@"}},
	{"product", 0.15, 50, []string{"gateway-@", "catalog-@"}},
	{"login", 0.10, 30, []string{"gateway-@", "identity"}},
	{"add_to_cart", 0.12, 25, []string{"gateway-@", "cart-@", "identity"}},
	{"checkout", 0.08, 160, []string{"gateway-@", "checkout", "identity", "orders"}},
}

func (g *synth) noise(scale float64) float64 { return (g.rng.Float64()*2 - 1) * scale }

func (g *synth) at(i int) time.Time { return synthStart.Add(time.Duration(i) * g.o.Bucket) }

func (g *synth) build() *Result {
	o := g.o
	n := g.n
	damp := 1.0
	if o.Policy == "hardened" {
		damp = 0.45
	}
	r := &Result{
		SchemaVersion: SchemaVersion,
		RunID:         fmt.Sprintf("synthetic-%d-%s", o.Seed, o.Policy),
		Scenario: Scenario{
			Name:      "aws-us-east-1-2021-12-07",
			Title:     "AWS us-east-1 internal network congestion",
			Date:      "2021-12-07",
			Summary:   "Scaling on the main network set off a connection surge from internal clients; congestion, retries, monitoring lost. Data plane kept serving; control planes failed.",
			Sources:   []string{"https://aws.amazon.com/message/12721/", "https://www.thousandeyes.com/blog/aws-outage-analysis-dec-7-2021"},
			File:      "scenarios/aws-us-east-1-2021-12-07.yaml",
			TimeScale: 60,
			Seed:      o.Seed,
			Policy:    o.Policy,
			Runtime:   "local",
		},
		Status:       Status{State: "completed"},
		StartedAt:    synthStart,
		EndedAt:      g.at(n),
		BucketMillis: o.Bucket.Milliseconds(),
		Environment: Environment{
			Runtime: "local", OutageLab: "synthetic", GoVersion: "go1.26", OS: "linux", Arch: "amd64", CPUs: 2,
			Hostname: "synthetic", ToxiproxyVersion: "2.12.0",
		},
	}
	g.r = r
	comps := synthComponents()
	// Topology.
	r.Topology = Topology{Name: "storefront", Regions: []string{"us-east-1", "eu-west-1"}}
	for _, c := range comps {
		r.Topology.Components = append(r.Topology.Components, TopoComponent{Name: c.name, Kind: c.kind, Region: c.region, Labels: map[string]string{"plane": c.plane}})
	}
	for _, e := range synthEdges() {
		r.Topology.Edges = append(r.Topology.Edges, TopoEdge{Name: e[0] + "->" + e[1], From: e[0], To: e[1]})
	}

	// Phases and impact curves.
	g.impact = map[string][]float64{}
	for _, c := range comps {
		g.impact[c.name] = make([]float64, n)
	}
	sps := synthPhases()
	for _, sp := range sps {
		s, e := int(sp.from*float64(n)), int(sp.to*float64(n))
		p := Phase{Name: sp.name, Note: sp.note, Approximate: sp.approx, SourceTime: sp.sourceTime, SourceGrade: sp.grade, IncidentAt: sp.at, IncidentFor: sp.dur, StartedAt: g.at(s), EndedAt: g.at(e)}
		var first, last time.Time
		for k, f := range sp.faults {
			a := g.at(s).Add(time.Duration(1+k*3+g.rng.IntN(4)) * time.Millisecond)
			rm := g.at(e).Add(time.Duration(2+g.rng.IntN(5)) * time.Millisecond)
			f.AppliedAt, f.RemovedAt = &a, &rm
			p.Faults = append(p.Faults, f)
			if first.IsZero() || a.Before(first) {
				first = a
			}
			if a.After(last) {
				last = a
			}
		}
		p.ApplySkewMs = float64(last.Sub(first).Microseconds()) / 1000
		r.Phases = append(r.Phases, p)
		names := make([]string, 0, len(sp.hurt))
		for name := range sp.hurt {
			names = append(names, name)
		}
		sort.Strings(names) // map order must not reach the random stream
		for _, name := range names {
			peak := sp.hurt[name]
			cur := g.impact[name]
			lag := 2 + int(g.rng.IntN(6))
			tail := int(float64(5+g.rng.IntN(10)) * (2 - damp))
			if name == "identity" || name == "checkout" {
				tail = int(float64(25) * damp * 2)
			}
			for i := s + lag; i < e+tail && i < n; i++ {
				v := peak * damp
				if i >= e { // decays after the fault is removed
					v *= 1 - float64(i-e)/float64(tail)
				}
				if v > cur[i] {
					cur[i] = v
				}
			}
		}
	}
	// Jitter every curve a little, deterministically.
	for _, c := range comps {
		for i := range g.impact[c.name] {
			v := g.impact[c.name][i]
			if v > 0 {
				v = math.Min(1, math.Max(0, v+g.noise(0.08)))
			}
			g.impact[c.name][i] = v
		}
	}

	// Components.
	for _, c := range comps {
		imp := g.impact[c.name]
		rc := Component{Name: c.name, Kind: c.kind, Region: c.region,
			Requests: make([]int64, n), Errors: map[string][]int64{}, P50Ms: make([]float64, n), P95Ms: make([]float64, n), P99Ms: make([]float64, n),
			Breaker: make([]string, n), State: make([]string, n),
			StateRule: "down if error ratio >= 50% or no answer; degraded if error ratio >= 5% or p99 > 3x steady-state p99; else healthy",
		}
		for _, cls := range []string{"timeout", "refused", "reset", "5xx", "breaker_open", "fallback"} {
			rc.Errors[cls] = make([]int64, n)
		}
		worst := 0
		for i := 0; i < n; i++ {
			v := imp[i]
			req := int64(math.Max(0, c.rps*g.o.Bucket.Seconds()*(1+g.noise(0.1))*(1+v)))
			rc.Requests[i] = req
			errs := float64(req) * v * 0.8
			rc.Errors["timeout"][i] = int64(errs * 0.5)
			rc.Errors["reset"][i] = int64(errs * 0.3)
			rc.Errors["5xx"][i] = int64(errs * 0.2)
			if o.Policy == "hardened" && v > 0.3 {
				rc.Errors["breaker_open"][i] = int64(errs * 0.4)
				rc.Errors["fallback"][i] = int64(errs * 0.3)
			}
			rc.P50Ms[i] = round2(c.p50 * (1 + 4*v + g.noise(0.05)))
			rc.P95Ms[i] = round2(c.p50 * (2.2 + 10*v + g.noise(0.1)))
			rc.P99Ms[i] = round2(c.p50 * (3.5 + 25*v + g.noise(0.3)))
			st := 0
			switch {
			case v >= 0.6:
				st = 2
			case v >= 0.1:
				st = 1
			}
			if c.name == "monitoring" && v >= 0.5 {
				rc.Requests[i], rc.P50Ms[i], rc.P95Ms[i], rc.P99Ms[i] = 0, 0, 0, 0
			}
			rc.State[i] = []string{"healthy", "degraded", "down"}[st]
			worst = max(worst, st)
			switch {
			case o.Policy == "hardened" && v >= 0.5:
				rc.Breaker[i] = "open"
			case o.Policy == "hardened" && v >= 0.3:
				rc.Breaker[i] = "half_open"
			default:
				rc.Breaker[i] = "closed"
			}
		}
		rc.WorstState = []string{"healthy", "degraded", "down"}[worst]
		r.Components = append(r.Components, rc)
	}
	g.derive()
	g.edges()
	g.journeys()
	g.hypotheses()
	g.monitoring()
	g.findings()
	return r
}

func round2(v float64) float64 { return math.Round(math.Max(v, 0)*100) / 100 }

func (g *synth) bucketOf(t time.Time) int {
	return int(t.Sub(g.r.StartedAt) / g.o.Bucket)
}

// derive fills degradations, cascade and events from states and faults.
func (g *synth) derive() {
	r := g.r
	bms := r.BucketMillis
	type deg struct {
		comp string
		at   int
	}
	var firsts []deg
	seen := map[string]bool{}
	for ci := range r.Components {
		c := &r.Components[ci]
		for _, p := range r.Phases {
			s, e := g.bucketOf(p.StartedAt), g.bucketOf(p.EndedAt)
			first := -1
			for i := s; i < e && i < g.n; i++ {
				if c.State[i] != "healthy" {
					first = i
					break
				}
			}
			if first < 0 {
				continue
			}
			for _, f := range p.Faults {
				d := Degradation{Fault: f.ID}
				lag := int64(first)*bms - f.AppliedAt.Sub(r.StartedAt).Milliseconds()
				lag = max(lag, 0)
				d.DetectionLagMs = &lag
				run := 0
				for i := e; i < g.n; i++ {
					if c.State[i] == "healthy" {
						run++
					} else {
						run = 0
					}
					if run == 3 {
						rec := max(int64(i-2)*bms-f.RemovedAt.Sub(r.StartedAt).Milliseconds(), 0)
						d.RecoveryMs = &rec
						break
					}
				}
				c.Degradations = append(c.Degradations, d)
			}
			if !seen[c.Name] {
				seen[c.Name] = true
				firsts = append(firsts, deg{c.Name, first})
			}
		}
	}
	sort.SliceStable(firsts, func(i, j int) bool {
		if firsts[i].at != firsts[j].at {
			return firsts[i].at < firsts[j].at
		}
		return firsts[i].comp < firsts[j].comp
	})
	// The cause of a degradation is the earliest already-degraded dependency
	// (an edge from the component to it), or the phase's first fault.
	degradedAt := map[string]int{}
	for _, d := range firsts {
		step := CascadeStep{Component: d.comp, AtMs: int64(d.at) * bms}
		for _, e := range r.Topology.Edges {
			if e.From != d.comp {
				continue
			}
			if at, ok := degradedAt[e.To]; ok && at <= d.at {
				if step.Cause == "" || at < degradedAt[step.Cause] {
					step.Cause, step.Edge = e.To, e.Name
				}
			}
		}
		if step.Cause == "" {
			for _, p := range r.Phases {
				if d.at >= g.bucketOf(p.StartedAt) && d.at <= g.bucketOf(p.EndedAt) && len(p.Faults) > 0 {
					step.Cause = p.Faults[0].ID
					break
				}
			}
		}
		degradedAt[d.comp] = d.at
		r.Cascade = append(r.Cascade, step)
	}
	// Events.
	for _, p := range r.Phases {
		r.Events = append(r.Events, Event{At: p.StartedAt, Kind: "phase_start", Message: "phase " + p.Name + " started"})
		for _, f := range p.Faults {
			r.Events = append(r.Events, Event{At: *f.AppliedAt, Kind: "fault_applied", Message: fmt.Sprintf("%s %s on %d targets", f.ID, f.Kind, len(f.Targets))})
		}
		for _, f := range p.Faults {
			r.Events = append(r.Events, Event{At: *f.RemovedAt, Kind: "fault_removed", Message: f.ID + " removed"})
		}
		r.Events = append(r.Events, Event{At: p.EndedAt, Kind: "phase_end", Message: "phase " + p.Name + " ended"})
	}
	sort.SliceStable(r.Events, func(i, j int) bool { return r.Events[i].At.Before(r.Events[j].At) })
}

func (g *synth) edges() {
	r := g.r
	ampPeak := 3.4
	if g.o.Policy == "hardened" {
		ampPeak = 1.15
	}
	for _, te := range r.Topology.Edges {
		var caller Component
		for _, c := range r.Components {
			if c.Name == te.From {
				caller = c
			}
		}
		imp := g.impact[te.To]
		es := EdgeStats{Name: te.Name, From: te.From, To: te.To, CallerRequests: make([]int64, g.n), CalleeRequests: make([]int64, g.n), AmplificationByPhase: map[string]float64{}}
		var sc, sd int64
		for i := 0; i < g.n; i++ {
			cr := caller.Requests[i] / 2
			amp := 1 + (ampPeak-1)*imp[i]
			es.CallerRequests[i] = cr
			es.CalleeRequests[i] = int64(math.Round(float64(cr) * amp))
			sc += cr
			sd += es.CalleeRequests[i]
		}
		if sc > 0 {
			es.RetryAmplification = math.Round(float64(sd)/float64(sc)*1000) / 1000
		}
		for _, p := range r.Phases {
			var a, b int64
			for i := g.bucketOf(p.StartedAt); i < g.bucketOf(p.EndedAt) && i < g.n; i++ {
				a += es.CallerRequests[i]
				b += es.CalleeRequests[i]
			}
			if a > 0 {
				es.AmplificationByPhase[p.Name] = math.Round(float64(b)/float64(a)*1000) / 1000
			}
		}
		r.Edges = append(r.Edges, es)
	}
}

func (g *synth) journeys() {
	r := g.r
	for _, reg := range r.Topology.Regions {
		rate := 40.0
		if reg == "eu-west-1" {
			rate = 20
		}
		for _, sj := range synthJourneys {
			j := Journey{Name: sj.name, Region: reg, Outcomes: map[string]int64{}, AttemptsSeries: make([]int64, g.n), OKSeries: make([]int64, g.n), FallbackSeries: make([]int64, g.n), P50Ms: make([]float64, g.n), P99Ms: make([]float64, g.n), ByPhase: map[string]JourneyWindow{}}
			for i := 0; i < g.n; i++ {
				att := int64(math.Max(1, math.Round(rate*sj.share*g.o.Bucket.Seconds()*(1+g.noise(0.15)))))
				hurt := 0.0
				for _, d := range sj.deps {
					w := 1.0
					if d[len(d)-1] == '@' {
						d = d[:len(d)-1] + reg
						w = 0.25 // a region's own data plane mostly degrades, not fails
					}
					hurt = math.Max(hurt, w*g.impact[d][i])
				}
				ok := int64(math.Round(float64(att) * math.Max(0, math.Min(1, 1-hurt*1.05+g.noise(0.01)))))
				ok = min(max(ok, 0), att)
				fb := int64(0)
				if g.o.Policy == "hardened" && hurt > 0.2 {
					fb = ok / 3
				}
				j.AttemptsSeries[i], j.OKSeries[i], j.FallbackSeries[i] = att, ok, fb
				j.P50Ms[i] = round2(sj.p50 * (1 + 3*hurt + g.noise(0.05)))
				j.P99Ms[i] = round2(sj.p50 * (3 + 30*hurt + g.noise(0.4)))
				j.Attempts += att
				j.Outcomes["ok"] += ok - fb
				j.Outcomes["fallback"] += fb
				bad := att - ok
				j.Outcomes["timeout"] += bad * 6 / 10
				j.Outcomes["reset"] += bad * 3 / 10
				j.Outcomes["5xx"] += bad - bad*6/10 - bad*3/10
			}
			for _, p := range r.Phases {
				j.ByPhase[p.Name] = g.window(j, g.bucketOf(p.StartedAt), g.bucketOf(p.EndedAt))
			}
			j.ByPhase["steady_state_before"] = g.window(j, 0, g.bucketOf(r.Phases[0].StartedAt))
			j.ByPhase["steady_state_after"] = g.window(j, g.n-g.n/10, g.n)
			r.Journeys = append(r.Journeys, j)
		}
	}
}

func (g *synth) window(j Journey, s, e int) JourneyWindow {
	var w JourneyWindow
	var ok int64
	var p50s, p99s []float64
	for i := max(s, 0); i < e && i < g.n; i++ {
		w.Attempts += j.AttemptsSeries[i]
		ok += j.OKSeries[i]
		p50s = append(p50s, j.P50Ms[i])
		p99s = append(p99s, j.P99Ms[i])
	}
	if w.Attempts > 0 {
		w.SuccessRate = math.Round(float64(ok)/float64(w.Attempts)*10000) / 10000
	}
	w.P50Ms = pct(p50s, 0.5)
	w.P99Ms = pct(p99s, 0.99)
	return w
}

func pct(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(math.Min(float64(len(s)-1), q*float64(len(s))))]
}

func (g *synth) journey(name, region string) Journey {
	for _, j := range g.r.Journeys {
		if j.Name == name && j.Region == region {
			return j
		}
	}
	return Journey{}
}

func (g *synth) hypotheses() {
	r := g.r
	type hdef struct {
		kind, phase, journey, region, metric, op, exp string
		want                                          float64
	}
	defs := []hdef{
		{"steady_state_before", "steady_state_before", "browse", "us-east-1", "success", ">=", "99%", 0.99},
		{"steady_state_before", "steady_state_before", "browse", "us-east-1", "p99", "<", "300ms", 300},
		{"during", "congestion", "browse", "eu-west-1", "success", ">=", "95%", 0.95},
		{"during", "congestion", "checkout", "eu-west-1", "success", "<=", "20%", 0.20},
		{"during", "congestion", "login", "eu-west-1", "success", "<=", "40%", 0.40},
		{"during", "dns-moved", "login", "us-east-1", "success", ">=", "90%", 0.90},
		{"during", "dns-moved", "browse", "us-east-1", "p99", "<", "400ms", 400},
		{"steady_state_after", "steady_state_after", "checkout", "us-east-1", "success", ">=", "99%", 0.99},
		{"steady_state_after", "steady_state_after", "browse", "eu-west-1", "p99", "<", "300ms", 300},
	}
	for i, d := range defs {
		w := g.journey(d.journey, d.region).ByPhase[d.phase]
		h := Hypothesis{ID: fmt.Sprintf("h%d", i+1), Kind: d.kind, Journey: d.journey, Region: d.region, Metric: d.metric, Op: d.op, Expected: d.exp, Samples: w.Attempts}
		if d.kind == "during" {
			h.Phase = d.phase
		}
		if d.metric == "success" {
			h.MeasuredValue = w.SuccessRate
			h.Measured = fmt.Sprintf("%.2f%%", w.SuccessRate*100)
		} else {
			h.MeasuredValue = w.P99Ms
			h.Measured = fmt.Sprintf("%.0fms", w.P99Ms)
		}
		switch d.op {
		case ">=":
			h.Holds = h.MeasuredValue >= d.want
		case "<=":
			h.Holds = h.MeasuredValue <= d.want
		case "<":
			h.Holds = h.MeasuredValue < d.want
		case ">":
			h.Holds = h.MeasuredValue > d.want
		}
		where := d.phase
		if d.kind == "during" {
			where = "during " + d.phase
		}
		h.Description = fmt.Sprintf("%s in %s: %s %s %s (%s)", d.journey, d.region, d.metric, d.op, d.exp, where)
		r.Hypotheses = append(r.Hypotheses, h)
	}
	var orders int64
	for _, j := range r.Journeys {
		if j.Name == "checkout" {
			orders += j.OKSeries[0] + j.Outcomes["ok"]
		}
	}
	r.Invariants = []Invariant{
		{Name: "acknowledged_orders_durable", Holds: true, Details: fmt.Sprintf("all %d acknowledged orders exist in PostgreSQL with their items", orders), Checked: orders},
		{Name: "no_double_charge", Holds: true, Details: "no idempotency key was charged twice", Checked: orders},
		{Name: "stock_never_negative", Holds: true, Details: "minimum stock 0 over 50 products", Checked: 50},
		{Name: "carts_intact", Holds: true, Details: "every persisted cart matched the load generator's view", Checked: 412},
	}
	if g.o.FailInvariant {
		r.Invariants[0].Holds = false
		r.Invariants[0].Details = fmt.Sprintf("2 of %d acknowledged orders missing from PostgreSQL", orders)
		r.Invariants[0].Violations = []string{"order-7f3a", "order-91c2"}
	}
	g.recovery()
	g.expectations()
	verdict := VerdictPass
	for _, h := range r.Hypotheses {
		if !h.Holds {
			verdict = VerdictFail
		}
	}
	for _, in := range r.Invariants {
		if !in.Holds {
			verdict = VerdictFail
		}
	}
	if r.FidelityGate {
		for _, h := range r.Expectations {
			if !h.Holds {
				verdict = VerdictFail
			}
		}
	}
	r.Verdict = verdict
}

func (g *synth) phase(name string) Phase {
	for _, p := range g.r.Phases {
		if p.Name == name {
			return p
		}
	}
	return Phase{}
}

// recovery adds recovery objectives judged as the engine does: after the
// phase ends, the journey (all regions together when region is "") must be
// back at the target for 3 buckets in a row within the time allowed.
func (g *synth) recovery() {
	r := g.r
	for i, d := range []struct {
		after, journey, region string
		target                 float64
		within                 time.Duration
	}{
		{"recovering", "checkout", "", 0.95, time.Minute},
		{"congestion", "login", "eu-west-1", 0.90, 30 * time.Second},
	} {
		ph := g.phase(d.after)
		where := ""
		if d.region != "" {
			where = " in " + d.region
		}
		h := Hypothesis{ID: fmt.Sprintf("recovery/%d/success", i), Kind: "recovery", Phase: d.after, Journey: d.journey, Region: d.region,
			Metric: "recover_within", Op: "<=", Expected: d.within.String(), MeasuredValue: -1,
			Description: fmt.Sprintf("%s%s back to success >= %.0f%% within %s after %s", d.journey, where, d.target*100, d.within, d.after)}
		from := g.bucketOf(ph.EndedAt)
		good, start := 0, -1
		for b := from; b < g.n; b++ {
			var ok, att int64
			for _, j := range r.Journeys {
				if j.Name == d.journey && (d.region == "" || j.Region == d.region) && b < len(j.AttemptsSeries) {
					ok += j.OKSeries[b]
					att += j.AttemptsSeries[b]
				}
			}
			h.Samples += att
			if att == 0 {
				continue
			}
			if float64(ok)/float64(att) >= d.target {
				if good == 0 {
					start = b
				}
				if good++; good >= 3 {
					break
				}
			} else {
				good = 0
			}
		}
		if good >= 3 {
			at := max(0, g.at(start).Sub(ph.EndedAt))
			h.MeasuredValue = float64(at.Milliseconds())
			h.Measured = at.Round(100 * time.Millisecond).String()
			h.Holds = at <= d.within
		} else {
			h.Measured = fmt.Sprintf("not recovered in the %s recorded after it", time.Duration(g.n-from)*g.o.Bucket)
		}
		r.Hypotheses = append(r.Hypotheses, h)
	}
}

// expectations judges the source's claims as the engine does: one
// expectation per claim, its fidelity row carrying the source's time and
// grade (the phase's unless the claim has its own).
func (g *synth) expectations() {
	r := g.r
	r.FidelityGate = g.o.FidelityGate
	for i, c := range []struct {
		phase, claim, journey, region, op, exp string
		want                                   float64
		grade                                  string
	}{
		{"congestion", "Running instances and the data plane kept working", "browse", "eu-west-1", ">=", "95%", 0.95, ""},
		{"congestion", "Control planes (credentials, launch) failed", "login", "us-east-1", "<=", "50%", 0.50, ""},
		{"congestion", "Global services homed in us-east-1 were unreachable from other regions", "checkout", "eu-west-1", "<=", "20%", 0.20, "secondary"},
		{"dns-moved", "DNS errors recovered; congestion remained", "login", "us-east-1", "<=", "80%", 0.80, "unverified"},
	} {
		ph := g.phase(c.phase)
		w := g.journey(c.journey, c.region).ByPhase[c.phase]
		holds := w.Attempts > 0 && (c.op == ">=" && w.SuccessRate >= c.want || c.op == "<=" && w.SuccessRate <= c.want)
		measured := fmt.Sprintf("%.1f%%", w.SuccessRate*100)
		check := fmt.Sprintf("%s in %s success %s %s", c.journey, c.region, c.op, c.exp)
		r.Expectations = append(r.Expectations, Hypothesis{ID: fmt.Sprintf("expectation/%d/success", i), Kind: "expectation", Phase: c.phase,
			Journey: c.journey, Region: c.region, Metric: "success", Op: c.op, Expected: c.exp, Measured: measured, MeasuredValue: w.SuccessRate,
			Samples: w.Attempts, Holds: holds, Description: check + " during " + c.phase})
		grade := c.grade
		if grade == "" {
			grade = ph.SourceGrade
		}
		r.Scenario.Fidelity = append(r.Scenario.Fidelity, Fidelity{Phase: c.phase, SourceTime: ph.SourceTime,
			RunAt: ph.StartedAt.Sub(r.StartedAt).Round(time.Second).String(), Claim: c.claim, Expected: check,
			Measured: "success " + measured, Matches: holds, Judged: true, Grade: grade, Approximate: ph.Approximate})
	}
}

// findings names what the figures say to fix: retry amplification on the
// worst edge during congestion, and a caller whose latency followed the
// injected delay (the fragile storefront has no effective timeout there).
func (g *synth) findings() {
	r := g.r
	ph := g.phase("congestion")
	best, amp := -1, 0.0
	for i, e := range r.Edges {
		if a := e.AmplificationByPhase[ph.Name]; a > amp {
			best, amp = i, a
		}
	}
	if best >= 0 && amp >= 2 {
		e := r.Edges[best]
		r.Findings = append(r.Findings, Finding{Kind: "retry_amplification", Edge: e.Name, Phase: ph.Name,
			AtMs:      ph.StartedAt.Sub(r.StartedAt).Milliseconds() + 4*r.BucketMillis,
			Evidence:  fmt.Sprintf("%s sent %.2f requests to %s per request it received during %s while %s was failing", e.From, amp, e.To, ph.Name, e.To),
			Figures:   map[string]float64{"amplification": amp, "callee_error_ratio": 0.62},
			Threshold: "retry amplification >= 2× on an edge whose callee failed >= 5% of requests",
			Fix:       fmt.Sprintf("cap %s's retries to %s at 1 with jittered exponential backoff and a retry budget (policy retries: {max: 1, budget: 10%%})", e.From, e.To)})
	}
	for _, c := range r.Components {
		if c.Name != "checkout" || g.o.Policy == "hardened" {
			continue
		}
		s, e := g.bucketOf(ph.StartedAt), g.bucketOf(ph.EndedAt)
		p99 := 0.0
		for i := s; i < e && i < len(c.P99Ms); i++ {
			p99 = math.Max(p99, c.P99Ms[i])
		}
		r.Findings = append(r.Findings, Finding{Kind: "no_effective_timeout", Edge: "checkout->identity", Phase: ph.Name,
			AtMs:      ph.StartedAt.Sub(r.StartedAt).Milliseconds() + 6*r.BucketMillis,
			Evidence:  fmt.Sprintf("checkout's p99 reached %.0f ms while identity answered 800 ms late: its calls waited out the whole delay", p99),
			Figures:   map[string]float64{"caller_p99_ms": round2(p99), "fault_latency_ms": 800},
			Threshold: "caller p99 >= 80% of the injected latency: no timeout shorter than the fault",
			Fix:       "give checkout->identity a timeout below its p99 in steady state (policy timeouts: {identity: 250ms}) and a fallback for cached sessions"})
	}
}

func (g *synth) monitoring() {
	r := g.r
	m := &Monitoring{Component: "monitoring", SawUnhealthy: make([]int, g.n), TrueUnhealthy: make([]int, g.n)}
	mon := g.impact["monitoring"]
	for i := 0; i < g.n; i++ {
		t := 0
		for _, c := range r.Components {
			if c.State[i] != "healthy" {
				t++
			}
		}
		m.TrueUnhealthy[i] = t
		switch {
		case mon[i] >= 0.5:
			m.SawUnhealthy[i] = -1
			m.DarkBuckets++
		case mon[i] > 0.1:
			m.SawUnhealthy[i] = t / 2
		default:
			m.SawUnhealthy[i] = t
		}
	}
	m.Summary = fmt.Sprintf("monitoring was dark for %d of %d buckets while up to %d components were unhealthy", m.DarkBuckets, g.n, maxInt(m.TrueUnhealthy))
	r.Monitoring = m
}

func maxInt(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
