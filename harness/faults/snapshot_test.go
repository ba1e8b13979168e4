package faults

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestActiveReturnsSnapshots: what Active returns is a copy: it does not
// change when the fault is removed afterwards, and reading it while Remove
// runs is not a data race (run with -race).
func TestActiveReturnsSnapshots(t *testing.T) {
	r := newRig(t, 4)
	ctx := context.Background()
	if _, err := r.app.Apply(ctx,
		spec("lag", "latency", Selector{Edges: []string{"*"}}, &Latency{Latency: Duration(time.Millisecond), ToxicParams: ToxicParams{Toxicity: 1, Stream: StreamBoth}}),
		spec("bw", "bandwidth", Selector{Region: "r2"}, &Bandwidth{Rate: 1000, ToxicParams: DefaultToxic()}),
	); err != nil {
		t.Fatal(err)
	}
	before := r.app.Active()
	if len(before) != 2 || before[0].ID != "lag" || len(before[0].TargetApplied) != 4 {
		t.Fatalf("active = %+v", before)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a console polling the live state while faults are removed
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, ap := range r.app.Active() {
				_ = ap.RemovedAt.IsZero()
				_ = len(ap.TargetRemoved) + len(ap.Fallbacks) + len(ap.TargetApplied)
				_ = ap.RemoveErr
				_ = ap.Result()
			}
		}
	}()
	var removed []*Applied
	var rerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		removed, rerr = r.app.Remove(ctx, "lag", "bw")
	}()
	// Also read the snapshots taken before, and Skew, while Remove runs.
	for range 50 {
		for _, ap := range before {
			_ = ap.RemovedAt
			_ = len(ap.TargetRemoved)
		}
		_ = Skew(before)
		time.Sleep(time.Millisecond)
	}
	for len(r.app.Active()) > 0 {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, ap := range before {
		if !ap.RemovedAt.IsZero() || len(ap.TargetRemoved) != 0 {
			t.Errorf("snapshot of %s changed after removal: removed at %v, %d targets", ap.ID, ap.RemovedAt, len(ap.TargetRemoved))
		}
	}
	// The live values Remove returned carry the removal.
	for _, ap := range removed {
		s := ap.Snapshot()
		if s.RemovedAt.IsZero() || len(s.TargetRemoved) != len(s.Targets) {
			t.Errorf("removed %s: removed at %v, %d of %d targets", s.ID, s.RemovedAt, len(s.TargetRemoved), len(s.Targets))
		}
	}
	// A snapshot's maps are its own.
	s := removed[0].Snapshot()
	s.TargetRemoved["x"] = time.Now()
	if _, ok := removed[0].Snapshot().TargetRemoved["x"]; ok {
		t.Error("snapshot shares its map with the live value")
	}
}
