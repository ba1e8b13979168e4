package record

import (
	"math"
	"sort"
)

// Component states per bucket.
const (
	Healthy  = "healthy"
	Degraded = "degraded"
	Down     = "down"
	Unknown  = "unknown"
)

// Rules are the thresholds of the state rule (see StateRule). Zero fields
// take the defaults shown.
type Rules struct {
	MinRequests        int     // 5: ratios need at least this many requests
	DownErrorRatio     float64 // 0.5: inbound 5xx ratio that means down
	DegradedErrorRatio float64 // 0.05: inbound 5xx ratio that means degraded
	DepErrorRatio      float64 // 0.10: failed dependency attempts ratio that means degraded
	FallbackRatio      float64 // 0.05: fallbacks per inbound request that means degraded
	LatencyFactor      float64 // 3: p95 above factor × baseline p95 ...
	LatencyFloorMs     float64 // 100: ... and above baseline + floor means degraded
	RecoverBuckets     int     // 3: healthy buckets in a row that count as recovered
}

func (r Rules) withDefaults() Rules {
	if r.MinRequests <= 0 {
		r.MinRequests = 5
	}
	if r.DownErrorRatio <= 0 {
		r.DownErrorRatio = 0.5
	}
	if r.DegradedErrorRatio <= 0 {
		r.DegradedErrorRatio = 0.05
	}
	if r.DepErrorRatio <= 0 {
		r.DepErrorRatio = 0.10
	}
	if r.FallbackRatio <= 0 {
		r.FallbackRatio = 0.05
	}
	if r.LatencyFactor <= 0 {
		r.LatencyFactor = 3
	}
	if r.LatencyFloorMs <= 0 {
		r.LatencyFloorMs = 100
	}
	if r.RecoverBuckets <= 0 {
		r.RecoverBuckets = 3
	}
	return r
}

// StateRule is the rule text written into every result component's
// state_rule. Keep it in step with Rules.state.
const StateRule = `per bucket, first match wins:
unknown  - nothing was observed (no scrape, no probe);
down     - the liveness probe failed (/healthz not 2xx, or no TCP connect, within the probe timeout);
           or >= MinRequests(5) inbound requests and >= 50% answered 5xx;
degraded - the readiness probe failed;
unknown  - the component exports metrics but the bucket has no counter delta to judge: the scrape at its end
           failed or came after the probe timeout, there was no earlier scrape to subtract, or it is the last,
           partial bucket and covers < 50% of a bucket. A missing sample is not degradation: the traffic it
           missed is spread over the missed buckets and the next answered one by width (series totals stay
           right), and unknown buckets neither detect, break or count toward recovery, nor start a cascade step;
degraded - >= 5% of >= 5 inbound requests answered 5xx;
           or >= 10% of >= 5 dependency attempts failed (timeout, refused, reset, 5xx, breaker_open, bulkhead_full, dns, other;
           a 4xx answer is the callee working, not failing);
           or fallbacks served >= 5% of inbound requests; or any dependency breaker open or half-open;
           or inbound p95 > max(3 x baseline p95, baseline p95 + 100 ms) with >= 5 requests
           (baseline: median bucket p95 before the first fault; p95, not p99, because a 1 s bucket's
           p99 is its slowest request or two and swings with host noise);
healthy  - otherwise.
Cascade: every onset of non-health from the first fault until 3 buckets after the last removal, caused by a fault on the component or its outgoing edge, else by an already unhealthy callee.
Probes and monitoring answers are instants at a bucket boundary and count for the bucket that starts there.
Detection lag = end of the first non-healthy bucket at or after the fault took effect - applied_at (bucket resolution; searched until removal + 3 buckets).
Recovery = start of the first run of 3 healthy buckets at or after removal - removed_at (unknown buckets are skipped, not counted).`

func ratio(n, d uint32) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// state applies the rule to one bucket.
func (r Rules) state(s sample, baselineP95 float64) string {
	scraped, scrapeOK := s.flags&fScraped != 0, s.flags&fScrapeOK != 0
	probed, healthOK := s.flags&fProbed != 0, s.flags&fHealthOK != 0
	if !scraped && !probed {
		return Unknown
	}
	if probed && !healthOK {
		return Down
	}
	min := uint32(r.MinRequests)
	counters := s.flags&fDelta != 0
	if scrapeOK && counters && s.requests >= min && ratio(s.in5xx, s.requests) >= r.DownErrorRatio {
		return Down
	}
	if s.flags&fReadyProbed != 0 && s.flags&fReadyOK == 0 {
		return Degraded
	}
	if scraped && !(scrapeOK && counters) {
		return Unknown
	}
	if s.requests >= min && ratio(s.in5xx, s.requests) >= r.DegradedErrorRatio {
		return Degraded
	}
	var depErr uint32
	for i, e := range s.depErr {
		if depClasses[i] != "4xx" {
			depErr += e
		}
	}
	if s.depReq >= min && ratio(depErr, s.depReq) >= r.DepErrorRatio {
		return Degraded
	}
	if s.fallback > 0 && (s.requests == 0 || ratio(s.fallback, s.requests) >= r.FallbackRatio) {
		return Degraded
	}
	if s.breaker >= 1 {
		return Degraded
	}
	if p95 := float64(s.p95); s.requests >= min && !math.IsNaN(p95) && !math.IsNaN(baselineP95) && baselineP95 > 0 &&
		p95 > math.Max(r.LatencyFactor*baselineP95, baselineP95+r.LatencyFloorMs) {
		return Degraded
	}
	return Healthy
}

// baseline is the median of bucket p95s over buckets [0, until) that had
// enough requests; NaN when there are none.
func (r Rules) baseline(samples []sample, until int) float64 {
	var v []float64
	for i := 0; i < until && i < len(samples); i++ {
		s := samples[i]
		if s.requests >= uint32(r.MinRequests) && !math.IsNaN(float64(s.p95)) {
			v = append(v, float64(s.p95))
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func (r Rules) states(samples []sample, baselineUntil int) []string {
	base := r.baseline(samples, baselineUntil)
	out := make([]string, len(samples))
	for i, s := range samples {
		out[i] = r.state(s, base)
	}
	return out
}

func unhealthy(s string) bool { return s == Degraded || s == Down }

// span is a fault's effect window in ms from the epoch; removed < 0: never removed.
type span struct {
	id      string
	applied int64
	removed int64
	targets []string
}

// detectionLag: end of the first non-healthy bucket whose end is after
// applied, searched up to removal + RecoverBuckets buckets; nil if none.
func detectionLag(states []string, bucketMs int64, sp span, recover int) *int64 {
	first := int(sp.applied / bucketMs)
	last := len(states) - 1
	if sp.removed >= 0 {
		if l := int(sp.removed/bucketMs) + recover; l < last {
			last = l
		}
	}
	for b := max(first, 0); b <= last; b++ {
		if unhealthy(states[b]) {
			lag := int64(b+1)*bucketMs - sp.applied
			return &lag
		}
	}
	return nil
}

// recoveryTime: start of the first run of `recover` healthy buckets that
// starts at or after the bucket holding removed, minus removed (>= 0).
func recoveryTime(states []string, bucketMs int64, removed int64, recover int) *int64 {
	if removed < 0 {
		return nil
	}
	run, start := 0, 0
	for b := int(removed / bucketMs); b < len(states); b++ {
		switch states[b] {
		case Unknown:
			continue
		case Healthy:
			if run == 0 {
				start = b
			}
			run++
			if run == recover {
				d := max(int64(start)*bucketMs-removed, 0)
				return &d
			}
		default:
			run = 0
		}
	}
	return nil
}

// cascadeStep is an onset of non-health and what most plausibly caused it.
type cascadeStep struct {
	component string
	bucket    int
	cause     string
	edge      string
}

type edgeRef struct{ name, from, to string }

// cascade lists every onset (healthy/unknown → degraded/down) from the bucket
// the first fault took effect in until `recover` buckets after the last one
// was removed, in time order. Cause: a fault active then that targets the
// component or one of its outgoing edges; else a callee already unhealthy in
// that bucket (along that edge); else the earliest active fault.
func cascade(names []string, states map[string][]string, edges []edgeRef, spans []span, bucketMs int64, recover int) []cascadeStep {
	if len(spans) == 0 {
		return nil
	}
	firstFault, lastRemoved := spans[0].applied, int64(0)
	for _, s := range spans {
		firstFault = min(firstFault, s.applied)
		if s.removed < 0 {
			lastRemoved = -1
		} else if lastRemoved >= 0 {
			lastRemoved = max(lastRemoved, s.removed)
		}
	}
	fromBucket := int(firstFault / bucketMs)
	toBucket := math.MaxInt
	if lastRemoved >= 0 {
		toBucket = int(lastRemoved/bucketMs) + recover
	}
	active := func(sp span, b int) bool {
		start, end := int64(b)*bucketMs, int64(b+1)*bucketMs
		return sp.applied < end && (sp.removed < 0 || sp.removed > start)
	}
	var out []cascadeStep
	for _, n := range names {
		st := states[n]
		for b := max(fromBucket, 0); b < len(st) && b <= toBucket; b++ {
			if p := prevKnown(st, b); !unhealthy(st[b]) || (p != b && unhealthy(st[p])) {
				continue
			}
			step := cascadeStep{component: n, bucket: b}
			for _, sp := range spans {
				if !active(sp, b) {
					continue
				}
				for _, t := range sp.targets {
					if t == n {
						step.cause = sp.id
					}
					for _, e := range edges {
						if e.name == t && e.from == n {
							step.cause, step.edge = sp.id, e.name
						}
					}
				}
				if step.cause != "" {
					break
				}
			}
			if step.cause == "" {
				bestAt := -1
				for _, e := range edges {
					if e.from != n {
						continue
					}
					cs := states[e.to]
					if b < len(cs) && unhealthy(cs[b]) {
						on := b
						for p := prevKnown(cs, on); p != on && unhealthy(cs[p]); p = prevKnown(cs, on) {
							on = p
						}
						if bestAt < 0 || on < bestAt {
							bestAt, step.cause, step.edge = on, e.to, e.name
						}
					}
				}
			}
			if step.cause == "" {
				for _, sp := range spans {
					if active(sp, b) {
						step.cause = sp.id
						break
					}
				}
			}
			out = append(out, step)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].bucket != out[j].bucket {
			return out[i].bucket < out[j].bucket
		}
		return out[i].component < out[j].component
	})
	return out
}

// prevKnown is the last bucket before b whose state is not unknown, or b
// when there is none: an unknown bucket does not end a spell of non-health.
func prevKnown(st []string, b int) int {
	for p := b - 1; p >= 0; p-- {
		if st[p] != Unknown {
			return p
		}
	}
	return b
}

// amplification = Σ attempts ÷ Σ denominator over buckets [from, to); 0 when
// the denominator is 0.
func amplification(attempts, denom []int64, from, to int) float64 {
	var a, d int64
	for i := max(from, 0); i < to && i < len(attempts) && i < len(denom); i++ {
		a += attempts[i]
		d += denom[i]
	}
	if d == 0 {
		return 0
	}
	return float64(a) / float64(d)
}
