package load

import (
	"testing"
	"time"
)

func TestConstantPacerSchedule(t *testing.T) {
	cases := []struct {
		rate float64
		n    uint64
		want time.Duration
	}{
		{1, 0, 0},
		{1, 1, time.Second},
		{2000, 1, 500 * time.Microsecond},
		{2000, 2000, time.Second},
		{2000, 2001, time.Second + 500*time.Microsecond},
		{3, 1, 333333333},
		{3, 3, time.Second},
		{0.5, 1, 2 * time.Second},
		{40, 3600 * 40, time.Hour}, // no drift over an hour
	}
	for _, c := range cases {
		got, ok := ConstantPacer{Rate: c.rate}.Offset(c.n)
		if !ok || got != c.want {
			t.Errorf("rate %v n %d: got %v,%v want %v", c.rate, c.n, got, ok, c.want)
		}
	}
	if _, ok := (ConstantPacer{Rate: 10, Max: 3}).Offset(3); ok {
		t.Error("Max 3 scheduled a 4th arrival")
	}
	if _, ok := (ConstantPacer{}).Offset(0); ok {
		t.Error("rate 0 scheduled an arrival")
	}
	if err := (ConstantPacer{}).Validate(); err == nil {
		t.Error("rate 0 validated")
	}
}

func TestConstantPacerMonotonicEvenSpacing(t *testing.T) {
	p := ConstantPacer{Rate: 7}
	prev := time.Duration(-1)
	for n := uint64(0); n < 1000; n++ {
		at, _ := p.Offset(n)
		if at <= prev {
			t.Fatalf("offset %d (%v) not after %v", n, at, prev)
		}
		if n > 0 {
			if gap := at - prev; gap < 142857142 || gap > 142857144 {
				t.Fatalf("gap %d = %v, want ~142.857ms", n, gap)
			}
		}
		prev = at
	}
}

func TestStepPacer(t *testing.T) {
	p := StepPacer{Steps: []RateStep{{Rate: 10, For: time.Second}, {Rate: 0, For: time.Second}, {Rate: 2, For: 2 * time.Second}}}
	want := map[uint64]time.Duration{
		0:  0,
		9:  900 * time.Millisecond,
		10: 2 * time.Second, // after the pause
		11: 2500 * time.Millisecond,
		13: 3500 * time.Millisecond,
	}
	for n, w := range want {
		got, ok := p.Offset(n)
		if !ok || got != w {
			t.Errorf("n %d: got %v,%v want %v", n, got, ok, w)
		}
	}
	if _, ok := p.Offset(14); ok {
		t.Error("offset past the last step")
	}
}
