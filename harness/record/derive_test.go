package record

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func ok() sample {
	s := emptySample()
	s.flags = fScraped | fScrapeOK | fDelta | fProbed | fHealthOK
	s.requests = 100
	s.depReq = 100
	s.p95 = 20
	s.p99 = 30
	s.breaker = 0
	return s
}

func TestStateRule(t *testing.T) {
	r := Rules{}.withDefaults()
	base := 20.0
	cases := []struct {
		name string
		mod  func(*sample)
		want string
	}{
		{"healthy", func(s *sample) {}, Healthy},
		{"nothing observed", func(s *sample) { s.flags = 0 }, Unknown},
		{"probe failed", func(s *sample) { s.flags &^= fHealthOK }, Down},
		{"half 5xx", func(s *sample) { s.in5xx = 50 }, Down},
		{"scrape failed, no probe", func(s *sample) { s.flags = fScraped }, Unknown},
		{"scrape failed, probe ok", func(s *sample) { s.flags &^= fScrapeOK | fDelta; s.requests = 0 }, Unknown},
		{"scrape failed, probe failed", func(s *sample) { s.flags &^= fScrapeOK | fDelta | fHealthOK }, Down},
		{"scrape failed, not ready", func(s *sample) { s.flags = s.flags&^(fScrapeOK|fDelta) | fReadyProbed }, Degraded},
		{"no delta (first scrape, or too short a final bucket)", func(s *sample) { s.flags &^= fDelta; s.in5xx = 100 }, Unknown},
		{"not ready", func(s *sample) { s.flags |= fReadyProbed }, Degraded},
		{"ready", func(s *sample) { s.flags |= fReadyProbed | fReadyOK }, Healthy},
		{"5% 5xx", func(s *sample) { s.in5xx = 5 }, Degraded},
		{"4% 5xx", func(s *sample) { s.in5xx = 4 }, Healthy},
		{"5xx on too few requests", func(s *sample) { s.requests = 4; s.in5xx = 1; s.depReq = 0 }, Healthy},
		{"dependency timeouts 10%", func(s *sample) { s.depErr[0] = 10 }, Degraded},
		{"dependency errors 9%", func(s *sample) { s.depErr[2] = 9 }, Healthy},
		{"dependency 4xx are answers", func(s *sample) { s.depErr[4] = 50 }, Healthy},
		{"fallbacks", func(s *sample) { s.fallback = 5 }, Degraded},
		{"breaker half-open", func(s *sample) { s.breaker = 1 }, Degraded},
		{"p95 121ms: > 3x20 and > 20+100", func(s *sample) { s.p95 = 121 }, Degraded},
		{"p95 119ms", func(s *sample) { s.p95 = 119 }, Healthy},
		{"p99 alone does not count", func(s *sample) { s.p99 = 5000 }, Healthy},
		{"datastore TCP ok", func(s *sample) { s.flags = fProbed | fHealthOK; s.requests = 0 }, Healthy},
	}
	for _, c := range cases {
		s := ok()
		c.mod(&s)
		if got := r.state(s, base); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// No baseline: the latency rule is off.
	s := ok()
	s.p95 = 5000
	if got := r.state(s, math.NaN()); got != Healthy {
		t.Errorf("no baseline: %s", got)
	}
	if !strings.Contains(StateRule, "healthy") {
		t.Error("rule text")
	}
}

func TestBaselineIsMedianBeforeFault(t *testing.T) {
	r := Rules{}.withDefaults()
	var ss []sample
	for _, p := range []float32{10, 30, 20, 1000, 1000} {
		s := ok()
		s.p95 = p
		ss = append(ss, s)
	}
	if b := r.baseline(ss, 3); b != 20 {
		t.Errorf("baseline %v", b)
	}
	st := r.states(ss, 3)
	if strings.Join(st, ",") != "healthy,healthy,healthy,degraded,degraded" {
		t.Errorf("states %v", st)
	}
}

func states(s string) []string {
	m := map[byte]string{'h': Healthy, 'd': Degraded, 'D': Down, '?': Unknown}
	out := make([]string, len(s))
	for i := range s {
		out[i] = m[s[i]]
	}
	return out
}

func TestDetectionAndRecovery(t *testing.T) {
	// bucket 1000 ms; fault applied at 2500 ms, removed at 6200 ms.
	st := states("hhhhddDDdhhdhhhh")
	sp := span{id: "f", applied: 2500, removed: 6200}
	lag := detectionLag(st, 1000, sp, 3)
	if lag == nil || *lag != 5000-2500 { // first bad bucket is 4: ends at 5000
		t.Fatalf("lag %v", lag)
	}
	rec := recoveryTime(st, 1000, 6200, 3)
	// from bucket 6: D d h h d h h h → first 3 healthy in a row start at 12000
	if rec == nil || *rec != 12000-6200 {
		t.Fatalf("recovery %v", rec)
	}
	// Never degraded, never recovered.
	if detectionLag(states("hhhhhhhh"), 1000, sp, 3) != nil {
		t.Error("lag for a healthy series")
	}
	if recoveryTime(states("hhhhhhhdd"), 1000, 6200, 3) != nil {
		t.Error("recovery without 3 healthy buckets")
	}
	// Degradation long after removal + 3 buckets is not this fault's.
	if detectionLag(states("hhhhhhhhhhhhd"), 1000, sp, 3) != nil {
		t.Error("late degradation blamed on the fault")
	}
	// Already degraded in the apply bucket: lag is to its end.
	if l := detectionLag(states("hhd"), 1000, span{applied: 2100, removed: -1}, 3); l == nil || *l != 900 {
		t.Errorf("lag %v", l)
	}
	// Still active at the end: no recovery.
	if recoveryTime(states("hhh"), 1000, -1, 3) != nil {
		t.Error("recovery of a fault never removed")
	}
}

func TestCascade(t *testing.T) {
	// A fault on edge checkout→payment at 1000 ms: checkout degrades in
	// bucket 2, gateway (calls checkout) in bucket 3, catalog never.
	st := map[string][]string{
		"payment":  states("hhhhhh"),
		"checkout": states("hhddhh"),
		"gateway":  states("hhhddh"),
		"catalog":  states("hhhhhh"),
	}
	edges := []edgeRef{{"gateway-checkout", "gateway", "checkout"}, {"checkout-payment", "checkout", "payment"}, {"gateway-catalog", "gateway", "catalog"}}
	spans := []span{{id: "p/0", applied: 1000, removed: 4000, targets: []string{"checkout-payment"}}}
	got := cascade([]string{"payment", "checkout", "gateway", "catalog"}, st, edges, spans, 1000, 3)
	if len(got) != 2 {
		t.Fatalf("cascade %+v", got)
	}
	if got[0] != (cascadeStep{"checkout", 2, "p/0", "checkout-payment"}) {
		t.Errorf("first %+v", got[0])
	}
	if got[1] != (cascadeStep{"gateway", 3, "checkout", "gateway-checkout"}) {
		t.Errorf("second %+v", got[1])
	}
	if cascade([]string{"a"}, map[string][]string{"a": states("dd")}, nil, nil, 1000, 3) != nil {
		t.Error("cascade without faults")
	}
	// An onset long after every fault ended is not part of the cascade.
	late := map[string][]string{"a": states("hdhhhhhhhd")}
	if got := cascade([]string{"a"}, late, nil, []span{{id: "f", applied: 1000, removed: 2000}}, 1000, 3); len(got) != 1 || got[0].bucket != 1 {
		t.Errorf("late onset: %+v", got)
	}
}

func TestAmplification(t *testing.T) {
	attempts := []int64{10, 30, 40, 10}
	calls := []int64{10, 10, 10, 10}
	if a := amplification(attempts, calls, 0, 4); a != 90.0/40 {
		t.Errorf("run %v", a)
	}
	if a := amplification(attempts, calls, 1, 3); a != 3.5 {
		t.Errorf("phase %v", a)
	}
	if a := amplification(attempts, []int64{0, 0, 0, 0}, 0, 4); a != 0 {
		t.Errorf("no calls %v", a)
	}
	if a := amplification(attempts, calls, -3, 99); a != 90.0/40 {
		t.Errorf("clamped %v", a)
	}
}

func TestCompareMonitoring(t *testing.T) {
	r, err := New(Config{Components: []Target{{Name: "a"}, {Name: "b"}, {Name: "db"}, {Name: "mon"}}, Monitoring: &Monitor{Component: "mon", StatusURL: "http://127.0.0.1:1/status"}})
	if err != nil {
		t.Fatal(err)
	}
	obs := make([]observation, 4)
	for i := range obs {
		obs[i] = observation{s: emptySample()}
	}
	// Monitoring reports on a and b only (not the datastore db).
	views := []*MonitorView{
		{Names: []string{"a", "b"}, Known: 2}, // agrees: nothing wrong
		{Names: []string{"a", "b"}, Known: 2}, // misses a
		nil,                                   // dark while b is down
		{Names: []string{"a", "b"}, Known: 2, Unhealthy: []string{"b"}},        // agrees
		{Names: []string{"a", "b", "zz"}, Known: 3, Unhealthy: []string{"zz"}}, // names an unknown target
	}
	// Each view is monitoring's answer at the start of its bucket: it is
	// taken at the previous boundary.
	for b, v := range views {
		r.commit(b-1, obs, nil, v, false)
	}
	r.commit(len(views)-1, obs, nil, nil, false)
	states := map[string][]string{
		"a":   states("hdhhh"),
		"b":   states("hhDdh"),
		"db":  states("DDDDD"), // out of monitoring's scope
		"mon": states("hhhhh"),
	}
	m := r.compareMonitoring("mon", []string{"a", "b", "db", "mon"}, states, 5)
	if got := fmt.Sprint(m.SawUnhealthy, m.TrueUnhealthy, m.DarkBuckets); got != "[0 0 -1 1 1] [0 1 1 1 0] 1" {
		t.Errorf("saw/true/dark = %s", got)
	}
	if !strings.Contains(m.Summary, "answered in 4 of 5") || !strings.Contains(m.Summary, "in 3 of 4 buckets") || !strings.Contains(m.Summary, "missed a truly unhealthy component in 1") {
		t.Errorf("summary %q", m.Summary)
	}
}

func TestProbesDescribeTheBucketAfterTheBoundary(t *testing.T) {
	r, err := New(Config{Components: []Target{{Name: "a", HealthURL: "http://127.0.0.1:1/healthz"}}})
	if err != nil {
		t.Fatal(err)
	}
	probe := func(ok bool) []observation {
		s := emptySample()
		s.flags = fProbed
		if ok {
			s.flags |= fHealthOK
		}
		return []observation{{s: s}}
	}
	// Probes at the epoch and the end of buckets 0, 1: ok; end of 2: failed
	// (a fault applied just before that boundary); end of 3: ok again.
	r.commit(-1, probe(true), nil, nil, false)
	r.commit(0, probe(true), nil, nil, false)
	r.commit(1, probe(true), nil, nil, false)
	r.commit(2, probe(false), nil, nil, false)
	r.commit(3, probe(true), nil, nil, false)
	// The run stops inside bucket 4 with a failing probe.
	r.commit(4, probe(false), nil, nil, true)
	var got []string
	for _, s := range r.comps[0].samples {
		got = append(got, r.cfg.Rules.state(s, math.NaN()))
	}
	if strings.Join(got, ",") != "healthy,healthy,healthy,down,down" {
		t.Errorf("states %v", got)
	}
	if mergeProbes(fProbed|fHealthOK, fProbed) != fProbed || mergeProbes(fProbed|fHealthOK, 0) != fProbed|fHealthOK ||
		mergeProbes(fReadyProbed|fReadyOK, fReadyProbed|fReadyOK) != fReadyProbed|fReadyOK {
		t.Error("mergeProbes")
	}
}
