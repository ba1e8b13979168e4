package record

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/reports/result"
)

// BlastRule documents how BlastRadius is decided.
const BlastRule = "a journey/region is hurt by a fault when, over the buckets the fault was active, it had >= 5 attempts and its success rate fell more than 5 points below its success rate before the first fault (100% when there was no traffic before); a component is hurt when it was degraded or down in any of those buckets"

// Fill writes the recorder's measurements into res: BucketMillis, the
// component, edge and journey series, the derived figures (states, detection
// lag and recovery per fault, cascade, blast radius, retry amplification) and
// the monitoring comparison. Fault and phase times are read from res.Phases,
// so the engine fills those first. res.StartedAt is set to the recorder's
// epoch: every series is aligned with it. Call after Stop (and after the load
// generator stopped).
func (r *Recorder) Fill(res *result.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	bms := r.cfg.Bucket.Milliseconds()
	if bms <= 0 {
		bms = 1
	}
	res.StartedAt = r.epoch
	res.BucketMillis = bms
	n := r.nb
	ms := func(t time.Time) int64 { return t.Sub(r.epoch).Milliseconds() }

	var spans []span
	var phaseWin []struct {
		name     string
		from, to int
	}
	for _, p := range res.Phases {
		from, to := int(ms(p.StartedAt)/bms), int((ms(p.EndedAt)+bms-1)/bms)
		if !p.EndedAt.IsZero() && !p.StartedAt.IsZero() {
			phaseWin = append(phaseWin, struct {
				name     string
				from, to int
			}{p.Name, from, to})
		}
		for _, f := range p.Faults {
			if f.AppliedAt == nil {
				continue
			}
			sp := span{id: f.ID, applied: ms(*f.AppliedAt), removed: -1, targets: f.Targets}
			if f.RemovedAt != nil {
				sp.removed = ms(*f.RemovedAt)
			}
			spans = append(spans, sp)
		}
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].applied < spans[j].applied })
	baselineUntil := n
	if len(spans) > 0 {
		baselineUntil = int(spans[0].applied / bms)
	}
	rules := r.cfg.Rules

	// Components.
	states := map[string][]string{}
	var names []string
	res.Components = res.Components[:0]
	for _, c := range r.comps {
		samples := make([]sample, n)
		for i := range samples {
			if i < len(c.samples) {
				samples[i] = c.samples[i]
			} else {
				samples[i] = emptySample()
			}
		}
		st := rules.states(samples, baselineUntil)
		states[c.Name] = st
		names = append(names, c.Name)
		rc := result.Component{
			Name: c.Name, Kind: c.Kind, Region: c.Region,
			Requests: make([]int64, n), Errors: map[string][]int64{},
			P50Ms: make([]float64, n), P95Ms: make([]float64, n), P99Ms: make([]float64, n),
			Breaker: make([]string, n), State: st, StateRule: StateRule,
		}
		classes := append([]string{"5xx_inbound", "fallback"}, depClasses[:]...)
		for _, cl := range classes {
			rc.Errors[cl] = make([]int64, n)
		}
		worst := Unknown
		rank := map[string]int{Unknown: 0, Healthy: 1, Degraded: 2, Down: 3}
		for i, s := range samples {
			rc.Requests[i] = int64(s.requests)
			rc.Errors["5xx_inbound"][i] = int64(s.in5xx)
			rc.Errors["fallback"][i] = int64(s.fallback)
			for k, cl := range depClasses {
				rc.Errors[cl][i] = int64(s.depErr[k])
			}
			rc.P50Ms[i], rc.P95Ms[i], rc.P99Ms[i] = num(s.p50), num(s.p95), num(s.p99)
			rc.Breaker[i] = [...]string{"", "closed", "half_open", "open"}[s.breaker+1]
			if rank[st[i]] > rank[worst] {
				worst = st[i]
			}
		}
		rc.WorstState = worst
		for _, sp := range spans {
			lag := detectionLag(st, bms, sp, rules.RecoverBuckets)
			targeted := false
			for _, t := range sp.targets {
				if t == c.Name {
					targeted = true
				}
				for _, e := range r.edges {
					if e.Name == t && (e.From == c.Name || e.To == c.Name) {
						targeted = true
					}
				}
			}
			if lag == nil && !targeted {
				continue
			}
			d := result.Degradation{Fault: sp.id, DetectionLagMs: lag}
			if lag != nil {
				d.RecoveryMs = recoveryTime(st, bms, sp.removed, rules.RecoverBuckets)
			}
			rc.Degradations = append(rc.Degradations, d)
		}
		res.Components = append(res.Components, rc)
	}

	// Edges.
	var refs []edgeRef
	res.Edges = res.Edges[:0]
	for _, e := range r.edges {
		refs = append(refs, edgeRef{e.Name, e.From, e.To})
		es := result.EdgeStats{Name: e.Name, From: e.From, To: e.To,
			CallerRequests: make([]int64, n), CalleeRequests: make([]int64, n), LogicalCalls: make([]int64, n),
			BytesUp: make([]int64, n), BytesDown: make([]int64, n)}
		var calls int64
		for i := 0; i < n && i < len(e.samples); i++ {
			s := e.samples[i]
			es.CallerRequests[i] = int64(s.callerReq)
			es.CalleeRequests[i] = int64(s.attempts)
			es.LogicalCalls[i] = int64(s.calls)
			es.BytesUp[i], es.BytesDown[i] = int64(s.bytesUp), int64(s.bytesDown)
			calls += int64(s.calls)
		}
		denom := es.CallerRequests
		es.AmplificationBasis = "caller_requests"
		if calls > 0 {
			denom = es.LogicalCalls
			es.AmplificationBasis = "logical_calls"
		}
		es.RetryAmplification = amplification(es.CalleeRequests, denom, 0, n)
		for _, pw := range phaseWin {
			if es.AmplificationByPhase == nil {
				es.AmplificationByPhase = map[string]float64{}
			}
			es.AmplificationByPhase[pw.name] = amplification(es.CalleeRequests, denom, pw.from, pw.to)
		}
		res.Edges = append(res.Edges, es)
	}

	// Cascade.
	res.Cascade = res.Cascade[:0]
	for _, st := range cascade(names, states, refs, spans, bms, rules.RecoverBuckets) {
		res.Cascade = append(res.Cascade, result.CascadeStep{Component: st.component, AtMs: int64(st.bucket) * bms, Cause: st.cause, Edge: st.edge})
	}

	// Journeys and blast radius.
	res.Journeys = res.Journeys[:0]
	var blast []result.BlastRadius
	for _, sp := range spans {
		br := result.BlastRadius{Fault: sp.id, Rule: BlastRule, Journeys: []string{}, Components: []string{}}
		from, to := int(sp.applied/bms), n
		if sp.removed >= 0 {
			to = min(int((sp.removed+bms-1)/bms), n)
		}
		for _, name := range names {
			for b := max(from, 0); b < to && b < len(states[name]); b++ {
				if unhealthy(states[name][b]) {
					br.Components = append(br.Components, name)
					break
				}
			}
		}
		blast = append(blast, br)
	}
	if r.cfg.Load != nil && r.cfg.Load.Stats() != nil {
		ls := r.cfg.Load.Stats()
		shift := int(ls.Epoch().Sub(r.epoch) / r.cfg.Bucket) // 0 when aligned
		steps := ls.Steps()
		for _, id := range ls.Series() {
			tot, late := ls.Totals(id)
			j := result.Journey{Name: string(id.Journey), Region: id.Region, Attempts: tot.Attempts(),
				Outcomes: outcomeMap(tot.Counts), Dropped: tot.Dropped, Late: late,
				AttemptsSeries: make([]int64, n), OKSeries: make([]int64, n), FallbackSeries: make([]int64, n),
				P50Ms: make([]float64, n), P99Ms: make([]float64, n)}
			bs := ls.Buckets(id, n-shift)
			for i, b := range bs {
				k := i + shift
				if k < 0 || k >= n {
					continue
				}
				j.AttemptsSeries[k] = b.Attempts()
				j.OKSeries[k] = b.Successes()
				j.FallbackSeries[k] = b.Counts[load.Fallback]
				j.P50Ms[k], j.P99Ms[k] = b.P50Ms, b.P99Ms
			}
			for _, pw := range phaseWin {
				w := ls.Window(id, pw.from-shift, pw.to-shift)
				if j.ByPhase == nil {
					j.ByPhase = map[string]result.JourneyWindow{}
				}
				j.ByPhase[pw.name] = result.JourneyWindow{Attempts: w.Attempts(), SuccessRate: w.SuccessRate(), P50Ms: w.P50Ms, P99Ms: w.P99Ms}
			}
			for _, st := range steps {
				if st.Journey == id.Journey && st.Region == id.Region {
					var a int64
					for _, c := range st.Counts {
						a += c
					}
					j.Steps = append(j.Steps, result.JourneyStep{Name: st.Step, Attempts: a, Outcomes: outcomeMap(st.Counts), Errors: st.Errors, P50Ms: st.P50Ms, P99Ms: st.P99Ms})
				}
			}
			res.Journeys = append(res.Journeys, j)
			baseRate := 1.0
			if len(spans) > 0 {
				if w := ls.Window(id, 0, int(spans[0].applied/bms)-shift); w.Attempts() > 0 {
					baseRate = w.SuccessRate()
				}
			}
			for i, sp := range spans {
				from, to := int(sp.applied/bms), n
				if sp.removed >= 0 {
					to = min(int((sp.removed+bms-1)/bms), n)
				}
				w := ls.Window(id, from-shift, to-shift)
				if w.Attempts() >= int64(rules.MinRequests) && w.SuccessRate() < baseRate-0.05 {
					blast[i].Journeys = append(blast[i].Journeys, string(id.Journey)+"/"+id.Region)
				}
			}
		}
		sc := ls.Schedule()
		lsr := &result.LoadStats{Sent: sc.Sent, Late: sc.Late, Dropped: sc.Dropped,
			ScheduleErrP50Ms: sc.P50.Seconds() * 1000, ScheduleErrP99Ms: sc.P99.Seconds() * 1000, ScheduleErrMaxMs: sc.Max.Seconds() * 1000}
		if g, ok := r.cfg.Load.(*load.Generator); ok {
			_, lsr.MaxInFlight = g.InFlight()
			lsr.AcknowledgedOrders = int64(len(g.Orders()))
			lsr.Rates = g.Rates()
		}
		res.Load = lsr
	}
	res.BlastRadius = blast

	// Monitoring: what it saw vs the out-of-band view.
	if m := r.cfg.Monitoring; m != nil {
		res.Monitoring = r.compareMonitoring(m.Component, names, states, n)
	}
}

// MonitoringRule documents the monitoring comparison.
const MonitoringRule = "per bucket: saw = components monitoring's GET /status called unhealthy (-1: no answer within the probe timeout, dark); true = components the recorder found degraded or down, counted over the components monitoring reports on (all watched components, monitoring excluded, if their names do not match); a bucket agrees when both name the same components"

func (r *Recorder) compareMonitoring(self string, names []string, states map[string][]string, n int) *result.Monitoring {
	mon := &result.Monitoring{Component: self, SawUnhealthy: make([]int, n), TrueUnhealthy: make([]int, n), Rule: MonitoringRule}
	scope := map[int]bool{}
	for i := range r.monKnown {
		scope[i] = true
	}
	if len(scope) == 0 {
		for i, name := range names {
			if name != self {
				scope[i] = true
			}
		}
	}
	agree, answered, missedDark, missedLive := 0, 0, 0, 0
	for b := 0; b < n; b++ {
		saw := -1
		if b < len(r.monitor) {
			saw = int(r.monitor[b])
		}
		truth := map[int]bool{}
		for i := range scope {
			if st := states[names[i]]; b < len(st) && unhealthy(st[b]) {
				truth[i] = true
			}
		}
		mon.SawUnhealthy[b], mon.TrueUnhealthy[b] = saw, len(truth)
		if saw < 0 {
			mon.DarkBuckets++
			if len(truth) > 0 {
				missedDark++
			}
			continue
		}
		answered++
		said := map[int]bool{}
		if b < len(r.monBad) {
			for _, i := range r.monBad[b] {
				said[int(i)] = true
			}
		}
		same := len(said) == len(truth)
		for i := range truth {
			if !said[i] {
				same = false
				missedLive++
				break
			}
		}
		if same {
			agree++
		}
	}
	mon.Summary = fmt.Sprintf("%s answered in %d of %d buckets (dark in %d; in %d dark buckets components were in fact unhealthy); when it answered, it named the same unhealthy components as the recorder's out-of-band view in %d of %d buckets and missed a truly unhealthy component in %d",
		self, answered, n, mon.DarkBuckets, missedDark, agree, answered, missedLive)
	return mon
}

func num(f float32) float64 {
	if math.IsNaN(float64(f)) {
		return 0
	}
	return float64(f)
}

func outcomeMap(c [8]int64) map[string]int64 {
	m := map[string]int64{}
	for i, v := range c {
		m[load.Outcome(i).String()] = v
	}
	return m
}

// Live is the current picture for a progress line or an abort guard.
type Live struct {
	Bucket     int // the last complete bucket
	Journeys   []LiveJourney
	Components map[string]string // state in the last complete bucket
}

// LiveJourney is one journey/region's success in the last complete bucket.
type LiveJourney struct {
	Journey     string
	Region      string
	Attempts    int64
	Successes   int64
	SuccessRate float64 // 0..1; 1 with no attempts
}

// Live returns the last complete bucket's journey success and component
// states. Journeys still in flight are not counted yet.
func (r *Recorder) Live() Live {
	r.mu.Lock()
	nb := r.nb
	lv := Live{Bucket: nb - 1, Components: map[string]string{}}
	for _, c := range r.comps {
		if nb > 0 && nb-1 < len(c.samples) {
			base := r.cfg.Rules.baseline(c.samples, min(nb, 30))
			lv.Components[c.Name] = r.cfg.Rules.state(c.samples[nb-1], base)
		} else {
			lv.Components[c.Name] = Unknown
		}
	}
	r.mu.Unlock()
	if r.cfg.Load != nil && r.cfg.Load.Stats() != nil && nb > 0 {
		ls := r.cfg.Load.Stats()
		b := ls.BucketOf(r.epoch.Add(time.Duration(nb-1) * r.cfg.Bucket))
		for _, id := range ls.Series() {
			w := ls.Window(id, b, b+1)
			lj := LiveJourney{Journey: string(id.Journey), Region: id.Region, Attempts: w.Attempts(), Successes: w.Counts[load.OK] + w.Counts[load.Fallback], SuccessRate: 1}
			if lj.Attempts > 0 {
				lj.SuccessRate = w.SuccessRate()
			}
			lv.Journeys = append(lv.Journeys, lj)
		}
	}
	return lv
}

// JourneySuccess returns a journey/region's success rate over the last
// `buckets` complete buckets (for abort guards such as "< 20% for 30s").
func (r *Recorder) JourneySuccess(journey, region string, buckets int) (rate float64, attempts int64) {
	r.mu.Lock()
	nb := r.nb
	r.mu.Unlock()
	if r.cfg.Load == nil || r.cfg.Load.Stats() == nil || nb == 0 {
		return 1, 0
	}
	ls := r.cfg.Load.Stats()
	end := ls.BucketOf(r.epoch.Add(time.Duration(nb) * r.cfg.Bucket))
	w := ls.Window(load.SeriesID{Journey: load.Journey(journey), Region: region}, end-buckets, end)
	if w.Attempts() == 0 {
		return 1, 0
	}
	return w.SuccessRate(), w.Attempts()
}
