package result

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Finding kinds (Finding.Kind).
const (
	FindingRetryAmplification = "retry_amplification"
	FindingNoEffectiveTimeout = "no_effective_timeout"
	FindingStuckAfterFault    = "stuck_after_fault"
)

// Thresholds of the findings (reports/RESULT.md, "Findings"). They are part
// of the result's interface: a finding's Threshold field quotes them.
const (
	// AmplificationThreshold: an edge whose callee received more than this
	// many attempts per logical call during a phase multiplied the load on
	// its dependency. 1.5 is half an extra attempt per call on average: far
	// above what a retry budget allows (10–20% extra), and above what the
	// jitter of one scrape boundary can produce over a phase.
	AmplificationThreshold = 1.5
	// AmplificationMinCalls: the phase must count at least this many calls
	// (the basis) on the edge, so that 3 attempts for 1 call are not a finding.
	AmplificationMinCalls = 20

	// LatencyFollowShare: during a latency fault on an edge, the caller's p99
	// rose by at least this share of the injected latency: the caller waited
	// for (nearly) all of it, so no timeout bounded it. 0.8 leaves room for
	// the histogram's bucket resolution and for callers that use the edge on
	// only part of their requests.
	LatencyFollowShare = 0.8
	// LatencyMinInjectedMs: smaller injected latencies are within the noise
	// of a per-bucket p99 and are not judged.
	LatencyMinInjectedMs = 50
	// LatencyMinBuckets: buckets with FindingMinRequests requests needed both
	// before the first fault (the caller's healthy p99) and during the fault.
	LatencyMinBuckets = 3
	// LatencyMinCalls: attempts the edge must carry during the fault, so a
	// caller's latency is not blamed on an edge it did not use.
	LatencyMinCalls = 20

	// StuckAfterMs: an edge still failing more than this long after every
	// fault on it was removed, while traffic continued, did not recover by
	// itself (a breaker stuck open, a pool of dead connections). 10 s is
	// several breaker open timeouts and far past the recorder's recovery
	// rule (3 healthy buckets).
	StuckAfterMs = 10_000
	// StuckErrorShare: the caller's failed dependency attempts (timeout,
	// refused, reset, 5xx, breaker_open, bulkhead_full, dns, other) per
	// attempt that count as failing; 10% is the recorder's own threshold
	// for a degraded component.
	StuckErrorShare = 0.10

	// FindingMinRequests: a bucket is judged only with at least this many
	// requests (the recorder's MinRequests).
	FindingMinRequests = 5
	// MaxFindings caps Result.Findings, most severe first.
	MaxFindings = 50
)

// Fixes, per kind; %s is the edge.
const (
	fixAmplification = "bound retries with a retry budget (at most ~10–20%% extra), exponential backoff with full jitter, and a circuit breaker on %s"
	fixTimeout       = "set a timeout on %s derived from the callee's healthy p99 (e.g. 3–5×) and bound the caller's total deadline"
	fixStuck         = "let the breaker on %s probe back quickly (short open timeout, half-open probes) and recycle pooled connections after failures"
)

// Threshold texts, as written into Finding.Threshold.
var (
	thresholdAmplification = fmt.Sprintf("attempts per logical call (per caller request when logical calls are unknown, divided by the edge's ratio before the first fault when that was above 1) over a phase > %g, with >= %d calls in the phase", AmplificationThreshold, AmplificationMinCalls)
	thresholdTimeout       = fmt.Sprintf("during a latency fault (latency, retry_storm, delay) on the edge, the caller's median bucket p99 rose >= %g%% of the injected latency above its median bucket p99 before the first fault (injected: the fault's latency; for retry_storm the median in effect; injected >= %d ms; >= %d attempts on the edge during the fault; >= %d buckets with >= %d requests each side)", LatencyFollowShare*100, LatencyMinInjectedMs, LatencyMinCalls, LatencyMinBuckets, FindingMinRequests)
	thresholdStuck         = fmt.Sprintf("after every fault on the edge (or its callee) was removed, failing for > %d ms of buckets with traffic: the callee degraded/down, or the caller's breaker open/half-open or >= %g%% of its dependency attempts failed (caller-side signals count only when no other dependency of the caller is suspect), with nothing downstream still faulted", StuckAfterMs, StuckErrorShare*100)
)

// latencyKinds are the fault kinds that add latency on an edge (or, for
// delay, inside the callee).
var latencyKinds = map[string]bool{"latency": true, "retry_storm": true, "delay": true}

// depFailClasses are the caller's dependency failure classes (4xx is the
// callee working; fallback and 5xx_inbound are the caller's own answers).
var depFailClasses = []string{"timeout", "refused", "reset", "5xx", "breaker_open", "bulkhead_full", "dns", "other"}

// FindingsOf derives the findings from r's own figures: retry amplification
// per edge and phase, latency that followed a latency fault (no effective
// timeout), and edges that kept failing after their faults were removed. It
// reads only r and is deterministic: most severe first (severity = how far
// over its threshold), then by time, kind, edge and phase; one finding per
// kind, edge and phase; at most MaxFindings.
func FindingsOf(r *Result) []Finding {
	if r == nil || r.BucketMillis <= 0 {
		return nil
	}
	fx := newFindingCtx(r)
	var out []Finding
	out = append(out, fx.amplification()...)
	out = append(out, fx.timeouts()...)
	out = append(out, fx.stuck()...)
	out = dedupe(out)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if sa, sb := a.Figures["severity"], b.Figures["severity"]; sa != sb {
			return sa > sb
		}
		if a.AtMs != b.AtMs {
			return a.AtMs < b.AtMs
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Edge != b.Edge {
			return a.Edge < b.Edge
		}
		return a.Phase < b.Phase
	})
	if len(out) > MaxFindings {
		out = out[:MaxFindings]
	}
	return out
}

// dedupe keeps the most severe finding per kind, edge and phase.
func dedupe(fs []Finding) []Finding {
	best := map[string]int{}
	var out []Finding
	for _, f := range fs {
		k := f.Kind + "\x00" + f.Edge + "\x00" + f.Phase
		if i, ok := best[k]; ok {
			if f.Figures["severity"] > out[i].Figures["severity"] {
				out[i] = f
			}
			continue
		}
		best[k] = len(out)
		out = append(out, f)
	}
	return out
}

// faultSpan is one applied fault in ms from the run's start; removed < 0:
// never removed.
type faultSpan struct {
	f                *Fault
	phase            string
	applied, removed int64
}

type findingCtx struct {
	r     *Result
	bms   int64
	n     int // buckets
	comps map[string]*Component
	edges map[string]*EdgeStats
	out   map[string][]string // component -> outgoing edge names
	graph map[string]string   // edge name -> callee
	spans []faultSpan
	first int // bucket of the first fault; n when none
}

func newFindingCtx(r *Result) *findingCtx {
	fx := &findingCtx{r: r, bms: r.BucketMillis, comps: map[string]*Component{}, edges: map[string]*EdgeStats{},
		out: map[string][]string{}, graph: map[string]string{}}
	for i := range r.Components {
		c := &r.Components[i]
		fx.comps[c.Name] = c
		fx.n = max(fx.n, len(c.Requests), len(c.P99Ms), len(c.State))
	}
	addEdge := func(name, from, to string) {
		if _, ok := fx.graph[name]; ok || name == "" {
			return
		}
		fx.graph[name] = to
		fx.out[from] = append(fx.out[from], name)
	}
	for i := range r.Edges {
		e := &r.Edges[i]
		fx.edges[e.Name] = e
		fx.n = max(fx.n, len(e.CallerRequests), len(e.CalleeRequests))
		addEdge(e.Name, e.From, e.To)
	}
	for _, e := range r.Topology.Edges {
		addEdge(e.Name, e.From, e.To)
	}
	for pi := range r.Phases {
		p := &r.Phases[pi]
		for fi := range p.Faults {
			f := &p.Faults[fi]
			if f.AppliedAt == nil {
				continue
			}
			s := faultSpan{f: f, phase: p.Name, applied: fx.ms(*f.AppliedAt), removed: -1}
			if f.RemovedAt != nil {
				s.removed = fx.ms(*f.RemovedAt)
			}
			fx.spans = append(fx.spans, s)
		}
	}
	sort.SliceStable(fx.spans, func(i, j int) bool { return fx.spans[i].applied < fx.spans[j].applied })
	fx.first = fx.n
	if len(fx.spans) > 0 {
		fx.first = min(fx.n, max(0, int(fx.spans[0].applied/fx.bms)))
	}
	return fx
}

func (fx *findingCtx) ms(t time.Time) int64 { return t.Sub(fx.r.StartedAt).Milliseconds() }

// active: the span overlaps bucket b.
func (fx *findingCtx) active(s faultSpan, b int) bool {
	from, to := int64(b)*fx.bms, int64(b+1)*fx.bms
	return s.applied < to && (s.removed < 0 || s.removed > from)
}

func hits(f *Fault, name string) bool {
	for _, t := range f.Targets {
		if t == name {
			return true
		}
	}
	return false
}

// onEdge: the fault hits the edge itself or its callee component.
func (fx *findingCtx) onEdge(f *Fault, e *EdgeStats) bool { return hits(f, e.Name) || hits(f, e.To) }

// suspect: in bucket b a fault is active on component c, on one of its
// outgoing edges, or anywhere downstream of it.
func (fx *findingCtx) suspect(c string, b int) bool {
	seen := map[string]bool{}
	var walk func(c string) bool
	walk = func(c string) bool {
		if seen[c] {
			return false
		}
		seen[c] = true
		for _, s := range fx.spans {
			if fx.active(s, b) && hits(s.f, c) {
				return true
			}
		}
		for _, en := range fx.out[c] {
			for _, s := range fx.spans {
				if fx.active(s, b) && hits(s.f, en) {
					return true
				}
			}
			if walk(fx.graph[en]) {
				return true
			}
		}
		return false
	}
	return walk(c)
}

func at64(xs []int64, i int) int64 {
	if i < 0 || i >= len(xs) {
		return 0
	}
	return xs[i]
}

func atStr(xs []string, i int) string {
	if i < 0 || i >= len(xs) {
		return ""
	}
	return xs[i]
}

func r2(v float64) float64 { return math.Round(v*100) / 100 }

// ---- retry_amplification ----

func (fx *findingCtx) amplification() []Finding {
	var out []Finding
	for ei := range fx.r.Edges {
		e := &fx.r.Edges[ei]
		basis, basisName := e.CallerRequests, "caller_requests"
		if e.AmplificationBasis == "logical_calls" && len(e.LogicalCalls) > 0 {
			basis, basisName = e.LogicalCalls, "logical_calls"
		}
		// With caller requests as the basis, a caller that calls the edge
		// more than once per request in steady state is fan-out, not retries.
		steady := 1.0
		if basisName == "caller_requests" {
			var a, c int64
			for b := 0; b < fx.first; b++ {
				a += at64(e.CalleeRequests, b)
				c += at64(basis, b)
			}
			if c >= AmplificationMinCalls && float64(a)/float64(c) > 1 {
				steady = float64(a) / float64(c)
			}
		}
		for _, p := range fx.r.Phases {
			if p.StartedAt.IsZero() || p.EndedAt.IsZero() {
				continue
			}
			from, to := fx.r.bucketRange(p.StartedAt, p.EndedAt)
			var att, calls int64
			for b := from; b < to; b++ {
				att += at64(e.CalleeRequests, b)
				calls += at64(basis, b)
			}
			if calls < AmplificationMinCalls {
				continue
			}
			amp, ok := e.AmplificationByPhase[p.Name]
			if !ok {
				amp = float64(att) / float64(calls)
			}
			amp /= steady
			if !(amp > AmplificationThreshold) {
				continue
			}
			atMs := fx.ms(p.StartedAt)
			for b := from; b < to; b++ {
				if c := at64(basis, b); c > 0 && float64(at64(e.CalleeRequests, b)) > AmplificationThreshold*steady*float64(c) {
					atMs = int64(b) * fx.bms
					break
				}
			}
			figs := map[string]float64{"amplification": r2(amp), "attempts": float64(att), basisName: float64(calls),
				"threshold": AmplificationThreshold, "severity": r2(amp / AmplificationThreshold)}
			ev := fmt.Sprintf("%s's callee %s received %.2f attempts per %s during phase %s (%d attempts for %d %s",
				e.From, e.To, amp, strings.TrimSuffix(strings.ReplaceAll(basisName, "_", " "), "s"), p.Name, att, calls, strings.ReplaceAll(basisName, "_", " "))
			if steady != 1 {
				figs["steady_ratio"] = r2(steady)
				ev += fmt.Sprintf(", divided by the steady-state ratio %.2f", steady)
			}
			ev += fmt.Sprintf("); above %g", AmplificationThreshold)
			out = append(out, Finding{Kind: FindingRetryAmplification, Edge: e.Name, Phase: p.Name, AtMs: atMs,
				Evidence: ev, Figures: figs, Threshold: thresholdAmplification, Fix: fmt.Sprintf(fixAmplification, e.Name)})
		}
	}
	return out
}

// ---- no_effective_timeout ----

// medianP99 is the median of c's bucket p99 over [from, to) among buckets
// with FindingMinRequests requests, and how many there were.
func medianP99(c *Component, from, to int) (float64, int) {
	var v []float64
	for b := max(from, 0); b < to && b < len(c.P99Ms); b++ {
		if at64(c.Requests, b) >= FindingMinRequests && !math.IsNaN(c.P99Ms[b]) {
			v = append(v, c.P99Ms[b])
		}
	}
	if len(v) == 0 {
		return 0, 0
	}
	sort.Float64s(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return m, len(v)
}

// durMs reads a duration parameter: "800ms", "1.5s", or a number of ms.
func durMs(v any) (float64, bool) {
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		if d, err := time.ParseDuration(s); err == nil {
			return float64(d) / float64(time.Millisecond), true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, true
		}
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case time.Duration:
		return float64(x) / float64(time.Millisecond), true
	}
	return 0, false
}

func numbers(v any) []float64 {
	var out []float64
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if f, ok := durMs(e); ok {
				out = append(out, f)
			}
		}
	case []int64:
		for _, e := range x {
			out = append(out, float64(e))
		}
	case []int:
		for _, e := range x {
			out = append(out, float64(e))
		}
	case []float64:
		out = append(out, x...)
	}
	return out
}

// injectedMs is the latency a fault added, in ms: its latency (delay for
// delay); for retry_storm the median of the latencies in effect (else its
// base latency). (Results recorded before the engine held a storm's toxic
// stable recorded latencies that Toxiproxy cut to about one bucket; their
// findings may say too little, never too much.)
func injectedMs(f *Fault, bucketMs int64) (float64, bool) {
	switch f.Kind {
	case "retry_storm":
		v := numbers(f.Params["applied_latency_ms"])
		if len(v) == 0 {
			return durMs(f.Params["latency"])
		}
		sort.Float64s(v)
		m := v[len(v)/2]
		if len(v)%2 == 0 {
			m = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return m, true
	case "latency":
		return durMs(f.Params["latency"])
	case "delay":
		return durMs(f.Params["delay"])
	}
	return 0, false
}

func (fx *findingCtx) timeouts() []Finding {
	var out []Finding
	for _, s := range fx.spans {
		if !latencyKinds[s.f.Kind] {
			continue
		}
		inj, ok := injectedMs(s.f, fx.bms)
		if !ok || inj < LatencyMinInjectedMs {
			continue
		}
		from := int((s.applied + fx.bms - 1) / fx.bms) // full buckets only
		to := fx.n
		if s.removed >= 0 {
			to = min(to, int(s.removed/fx.bms))
		}
		for ei := range fx.r.Edges {
			e := &fx.r.Edges[ei]
			if !hits(s.f, e.Name) && !(s.f.Kind == "delay" && hits(s.f, e.To)) {
				continue
			}
			c := fx.comps[e.From]
			if c == nil {
				continue
			}
			var calls int64
			for b := from; b < to; b++ {
				calls += at64(e.CalleeRequests, b)
			}
			if calls < LatencyMinCalls {
				continue
			}
			before, nb := medianP99(c, 0, fx.first)
			during, nd := medianP99(c, from, to)
			if nb < LatencyMinBuckets || nd < LatencyMinBuckets {
				continue
			}
			rise := during - before
			if rise < LatencyFollowShare*inj {
				continue
			}
			follow := rise / inj
			what := fmt.Sprintf("%.0f ms", inj)
			if s.f.Kind == "retry_storm" {
				what = fmt.Sprintf("%.0f ms (median of the latencies in effect)", inj)
			}
			out = append(out, Finding{Kind: FindingNoEffectiveTimeout, Edge: e.Name, Phase: s.phase, AtMs: s.applied,
				Evidence: fmt.Sprintf("%s %s added %s on %s; %s's p99 went from %.0f ms before the first fault to %.0f ms (median of %d buckets): it rose by %.0f%% of the injected latency (>= %g%%), so nothing bounded it",
					s.f.Kind, s.f.ID, what, e.Name, c.Name, before, during, nd, follow*100, LatencyFollowShare*100),
				Figures: map[string]float64{"injected_latency_ms": r2(inj), "caller_p99_before_ms": r2(before), "caller_p99_during_ms": r2(during),
					"rise_ms": r2(rise), "followed": r2(follow), "threshold": LatencyFollowShare, "severity": r2(follow / LatencyFollowShare)},
				Threshold: thresholdTimeout, Fix: fmt.Sprintf(fixTimeout, e.Name)})
		}
	}
	return out
}

// ---- stuck_after_fault ----

// depShare is c's failed dependency attempts and all its attempts in bucket b.
func (fx *findingCtx) depShare(c *Component, b int) (failed, attempts int64) {
	for _, cl := range depFailClasses {
		failed += at64(c.Errors[cl], b)
	}
	for _, en := range fx.out[c.Name] {
		if e := fx.edges[en]; e != nil {
			attempts += at64(e.CalleeRequests, b)
		}
	}
	return failed, attempts
}

func unhealthyState(s string) bool { return s == "degraded" || s == "down" }

// failing says whether edge e failed in bucket b: by the callee's state
// (when nothing downstream of it is faulted) or by the caller's breaker
// and dependency errors (when no other dependency of the caller is suspect).
func (fx *findingCtx) failing(e *EdgeStats, b int) (callee, caller bool, failed, attempts int64) {
	if c := fx.comps[e.To]; c != nil && unhealthyState(atStr(c.State, b)) && !fx.suspect(e.To, b) {
		callee = true
	}
	a := fx.comps[e.From]
	if a == nil {
		return
	}
	for _, en := range fx.out[a.Name] {
		if en == e.Name {
			continue
		}
		to := fx.graph[en]
		if tc := fx.comps[to]; (tc != nil && unhealthyState(atStr(tc.State, b))) || fx.suspect(to, b) {
			return // ambiguous: the caller's errors may come from there
		}
		for _, s := range fx.spans {
			if fx.active(s, b) && hits(s.f, en) {
				return
			}
		}
	}
	failed, attempts = fx.depShare(a, b)
	br := atStr(a.Breaker, b)
	caller = br == "open" || br == "half_open" ||
		(attempts >= FindingMinRequests && float64(failed) >= StuckErrorShare*float64(attempts))
	return
}

func (fx *findingCtx) traffic(e *EdgeStats, b int) bool {
	return max(at64(e.CallerRequests, b), at64(e.LogicalCalls, b), at64(e.CalleeRequests, b)) >= FindingMinRequests
}

func (fx *findingCtx) stuck() []Finding {
	var out []Finding
	for ei := range fx.r.Edges {
		e := &fx.r.Edges[ei]
		var on []faultSpan
		for _, s := range fx.spans {
			if fx.onEdge(s.f, e) {
				on = append(on, s)
			}
		}
		for i, s := range on {
			if s.removed < 0 {
				continue
			}
			clearUntil, still := int64(fx.n)*fx.bms, false
			for j, o := range on {
				if j == i {
					continue
				}
				if o.applied <= s.removed && (o.removed < 0 || o.removed > s.removed || (o.removed == s.removed && j > i)) {
					still = true // another fault on the edge outlived this one
				}
				if o.applied > s.removed && o.applied < clearUntil {
					clearUntil = o.applied
				}
			}
			if still {
				continue
			}
			b0, bEnd := int((s.removed+fx.bms-1)/fx.bms), min(fx.n, int(clearUntil/fx.bms))
			if clearUntil >= int64(fx.n)*fx.bms {
				bEnd = fx.n
			}
			var count, calleeN, callerN int
			var failed, attempts int64
			last, recovered := -1, false
			for b := b0; b < bEnd; b++ {
				if !fx.traffic(e, b) {
					continue
				}
				ce, ca, fl, at := fx.failing(e, b)
				if !ce && !ca {
					recovered = true
					break
				}
				count++
				last = b
				if ce {
					calleeN++
				}
				if ca {
					callerN++
				}
				failed += fl
				attempts += at
			}
			if int64(count)*fx.bms <= StuckAfterMs {
				continue
			}
			stuckMs := int64(last+1)*fx.bms - s.removed
			figs := map[string]float64{"stuck_ms": float64(stuckMs), "failing_buckets": float64(count),
				"callee_unhealthy_buckets": float64(calleeN), "caller_failing_buckets": float64(callerN),
				"threshold_ms": StuckAfterMs, "severity": r2(float64(count*int(fx.bms)) / StuckAfterMs), "recovered": 0}
			if recovered {
				figs["recovered"] = 1
			}
			share := ""
			if attempts > 0 {
				figs["caller_error_share"] = r2(float64(failed) / float64(attempts))
				share = fmt.Sprintf("; %s's failed dependency attempts over them: %.0f%% of %d", e.From, 100*float64(failed)/float64(attempts), attempts)
			}
			end := "then recovered"
			if !recovered {
				end = "and had not recovered when the run or the fault-free window ended"
			}
			out = append(out, Finding{Kind: FindingStuckAfterFault, Edge: e.Name, Phase: s.phase, AtMs: s.removed,
				Evidence: fmt.Sprintf("after %s (the last fault on %s or %s) was removed, the edge kept failing for %d ms (%d buckets with traffic: callee %s unhealthy in %d, caller %s's breaker or errors failing in %d)%s, %s; threshold %d ms",
					s.f.ID, e.Name, e.To, stuckMs, count, e.To, calleeN, e.From, callerN, share, end, StuckAfterMs),
				Figures: figs, Threshold: thresholdStuck, Fix: fmt.Sprintf(fixStuck, e.Name)})
		}
	}
	return out
}
