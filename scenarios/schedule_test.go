package scenarios

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestPlanScalesIncidentTime(t *testing.T) {
	s, err := LoadLibrary("aws-us-east-1-2021-12-07")
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanRun(s, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Scale != 60 || p.Seed != 20211207 {
		t.Errorf("scale %v seed %v", p.Scale, p.Seed)
	}
	// 1h58m of incident time at 60x is 1m58s of wall time.
	if got := p.Phases[1].Start; got != 118*time.Second {
		t.Errorf("dns-moved starts at %s, want 1m58s", got)
	}
	if p.Total != 11*time.Minute+10*time.Second {
		t.Errorf("total %s, want 11m10s", p.Total)
	}
	if p.PhaseAt(0) != 0 || p.PhaseAt(118*time.Second) != 1 || p.PhaseAt(p.Total) != -1 {
		t.Error("PhaseAt wrong")
	}
	if len(p.Phases[0].Storms) != 1 || len(p.Phases[0].Specs) != 3 {
		t.Errorf("congestion: %d storms %d specs", len(p.Phases[0].Storms), len(p.Phases[0].Specs))
	}
	if p.Phases[0].Specs[0].ID != "congestion/1" {
		t.Errorf("spec id %q", p.Phases[0].Specs[0].ID)
	}
	// --time-scale 3600: one incident hour per wall second; phases get too short.
	if _, err := PlanRun(s, 3600, 0); err == nil {
		t.Error("a 48-minute phase at 3600x (0.8 s) was accepted")
	}
	p2, err := PlanRun(s, 120, 0)
	if err != nil || p2.Total != p.Total/2 {
		t.Errorf("at 120x total %v err %v", p2.Total, err)
	}
}

func TestPlanDeterministicBySeed(t *testing.T) {
	s, err := LoadLibrary("aws-us-east-1-2021-12-07")
	if err != nil {
		t.Fatal(err)
	}
	enc := func(p *Plan) string {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, _ := PlanRun(s, 0, 7)
	b, _ := PlanRun(s, 0, 7)
	c, _ := PlanRun(s, 0, 8)
	if enc(a) != enc(b) {
		t.Fatal("same seed, different plans")
	}
	draws := func(p *Plan) []int64 {
		r := p.Phases[0].Storms[0].Jitter()
		out := make([]int64, 5)
		for i := range out {
			out[i] = r.Int64N(1000)
		}
		return out
	}
	if !reflect.DeepEqual(draws(a), draws(b)) {
		t.Error("same seed, different storm jitter")
	}
	if reflect.DeepEqual(draws(a), draws(c)) {
		t.Error("different seeds, same storm jitter")
	}
	if a.Phases[2].Start != c.Phases[2].Start {
		t.Error("the seed must not move phases")
	}
}

func TestRetryStormGrowsWithRate(t *testing.T) {
	s := RetryStorm{Latency: 300 * time.Millisecond, PerRequestPerSecond: 20 * time.Millisecond, Max: 5 * time.Second}
	if s.Next(0) != 300*time.Millisecond || s.Next(10) != 500*time.Millisecond || s.Next(1e6) != 5*time.Second {
		t.Errorf("Next: %v %v %v", s.Next(0), s.Next(10), s.Next(1e6))
	}
	if s.Next(-5) != 300*time.Millisecond {
		t.Error("negative rate")
	}
	if (RetryStorm{Latency: time.Second}).Next(0) != time.Second {
		t.Error("default max")
	}
}

// A storm's toxic changes only on a real change of latency, and never
// sooner than the latency in effect: Toxiproxy lets the held chunk through
// when a latency toxic is updated, so updating every bucket would cap the
// storm at about a bucket.
func TestStormUpdateDue(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	sec := time.Second
	for _, tc := range []struct {
		cur, next int64
		since     time.Duration
		want      bool
	}{
		{500, 520, 5 * sec, false},                  // 20 ms: below 50 ms
		{1000, 1080, 5 * sec, false},                // 80 ms: below 10% of 1 s
		{1000, 1200, 500 * time.Millisecond, false}, // a real change, but sooner than a bucket
		{1000, 1200, 1100 * time.Millisecond, true},
		{4000, 8000, 2 * sec, false}, // the held chunk needs 4 s
		{4000, 8000, 4 * sec, true},
		{4000, 500, 4 * sec, true}, // down as well as up
		{0, 500, 0, true},          // from nothing (width 0: due at once)
	} {
		w := sec
		if tc.cur == 0 {
			w = 0
		}
		if got := stormUpdateDue(tc.cur, tc.next, t0, t0.Add(tc.since), w); got != tc.want {
			t.Errorf("cur %d next %d after %s: due=%v, want %v", tc.cur, tc.next, tc.since, got, tc.want)
		}
	}
}
