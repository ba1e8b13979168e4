package load

import (
	"fmt"
	"math"
	randv2 "math/rand/v2"
	"testing"
	"time"
)

func TestStatsBucketing(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewStats(epoch, time.Second)
	id := SeriesID{Browse, "us-east-1"}
	// bucket 0: 100 journeys at 1..100 ms; bucket 2: 10 timeouts at 5 s.
	for i := 1; i <= 100; i++ {
		s.AddJourney(Browse, "us-east-1", epoch.Add(time.Duration(i)*time.Millisecond), time.Duration(i)*time.Millisecond, OK)
	}
	for i := 0; i < 10; i++ {
		s.AddJourney(Browse, "us-east-1", epoch.Add(2*time.Second+time.Duration(i)*time.Millisecond), 5*time.Second, Timeout)
	}
	s.AddJourney(Browse, "us-east-1", epoch.Add(999*time.Millisecond), time.Millisecond, Fallback)
	s.AddDropped(Browse, "us-east-1", epoch.Add(2500*time.Millisecond))

	b := s.Buckets(id, 4)
	if len(b) != 4 {
		t.Fatalf("len %d", len(b))
	}
	if b[0].Attempts() != 101 || b[0].Successes() != 101 || b[0].Counts[Fallback] != 1 {
		t.Errorf("bucket 0: %+v", b[0])
	}
	if within(b[0].P50Ms, 50, 0.02) == false || within(b[0].P99Ms, 99, 0.02) == false {
		t.Errorf("bucket 0 p50 %v p99 %v", b[0].P50Ms, b[0].P99Ms)
	}
	if b[1].Attempts() != 0 || b[1].P99Ms != 0 {
		t.Errorf("bucket 1 not empty: %+v", b[1])
	}
	if b[2].Counts[Timeout] != 10 || b[2].Dropped != 1 || !within(b[2].P50Ms, 5000, 0.02) {
		t.Errorf("bucket 2: %+v", b[2])
	}
	w := s.Window(id, 0, 3)
	if w.Attempts() != 111 || w.Dropped != 1 {
		t.Errorf("window %+v", w)
	}
	if got := w.SuccessRate(); math.Abs(got-101.0/111) > 1e-9 {
		t.Errorf("success %v", got)
	}
	if !within(w.P99Ms, 5000, 0.02) || !within(w.P50Ms, 55, 0.03) {
		t.Errorf("window p50 %v p99 %v", w.P50Ms, w.P99Ms)
	}
	tot, _ := s.Totals(id)
	if tot.Attempts() != 111 || tot.Counts[Timeout] != 10 {
		t.Errorf("totals %+v", tot)
	}
	if s.BucketOf(epoch.Add(-time.Millisecond)) != -1 || s.BucketOf(epoch.Add(1999*time.Millisecond)) != 1 {
		t.Error("BucketOf")
	}
	// Empty series and out-of-range windows are empty, not a panic.
	if w := s.Window(SeriesID{Checkout, "x"}, 0, 10); w.Attempts() != 0 || w.SuccessRate() != 0 {
		t.Error("unknown series not empty")
	}
	if w := s.Window(id, -5, 99); w.Attempts() != 111 {
		t.Error("clamped window")
	}
}

func within(got, want, rel float64) bool { return math.Abs(got-want) <= rel*want }

func TestPickerWeightsAndDeterminism(t *testing.T) {
	p, err := newPicker(Mix{Browse: 3, Checkout: 1})
	if err != nil {
		t.Fatal(err)
	}
	a := newRand(42)
	b := newRand(42)
	counts := map[Journey]int{}
	for i := 0; i < 40000; i++ {
		x, y := p.pick(a), p.pick(b)
		if x != y {
			t.Fatalf("same seed diverged at %d", i)
		}
		counts[x]++
	}
	if f := float64(counts[Browse]) / 40000; f < 0.73 || f > 0.77 {
		t.Errorf("browse share %v, want ~0.75", f)
	}
	for _, bad := range []Mix{{"fly": 1}, {Browse: -1}, {Browse: 0}} {
		if _, err := newPicker(bad); err == nil {
			t.Errorf("mix %v accepted", bad)
		}
	}
}

func newRand(seed uint64) *randv2.Rand { return randv2.New(randv2.NewPCG(seed, 1)) }

// Failed answers are counted per step by status and storefront code, with a
// bound on distinct keys; successes are not.
func TestStepErrorCodes(t *testing.T) {
	s := NewStats(time.Now(), time.Second)
	s.AddStep(Checkout, "checkout", "eu-west-1", time.Millisecond, OK, 200, "")
	s.AddStep(Checkout, "checkout", "eu-west-1", time.Millisecond, Status4xx, 409, "out_of_stock")
	s.AddStep(Checkout, "checkout", "eu-west-1", time.Millisecond, Status4xx, 409, "out_of_stock")
	s.AddStep(Checkout, "checkout", "eu-west-1", time.Millisecond, Status5xx, 503, "")
	for i := range maxStepErrorKeys + 5 {
		s.AddStep(Checkout, "cart_get", "eu-west-1", time.Millisecond, Status4xx, 400, fmt.Sprintf("code_%d", i))
	}
	steps := s.Steps()
	if len(steps) != 2 {
		t.Fatalf("%d steps, want 2", len(steps))
	}
	got := steps[0].Errors
	if len(got) != 2 || got["409 out_of_stock"] != 2 || got["503"] != 1 {
		t.Errorf("checkout errors %v", got)
	}
	cg := steps[1].Errors
	if len(cg) != maxStepErrorKeys+1 || cg["other"] != 5 {
		t.Errorf("cart_get: %d keys (want %d), other=%d (want 5)", len(cg), maxStepErrorKeys+1, cg["other"])
	}
}
