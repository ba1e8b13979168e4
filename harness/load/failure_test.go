package load

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/latch"
)

type panickyPacer struct{}

func (panickyPacer) Offset(n uint64) (time.Duration, bool) {
	if n == 3 {
		panic("pacer bug")
	}
	return time.Duration(n) * 10 * time.Millisecond, true
}

// A panic in a journey (here: in the Observer it calls) or in a pacer is
// recovered: the process lives, Failed closes, Err names where it was, and
// the generator still stops cleanly.
func TestPanicsInGoroutinesAreRecoveredAndReported(t *testing.T) {
	srv := httptest.NewServer(newShop())
	defer srv.Close()
	for _, tc := range []struct {
		name, where string
		cfg         Config
	}{
		{"observer", "load: journey", Config{Regions: []Region{{Name: "us-east-1", BaseURL: srv.URL, Rate: 50}},
			Observer: func(StepResult) { panic("observer bug") }}},
		{"pacer", "load: pacer of region us-east-1", Config{Regions: []Region{{Name: "us-east-1", BaseURL: srv.URL, Pacer: panickyPacer{}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if g.Err() != nil {
				t.Fatalf("Err before Start: %v", g.Err())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := g.Start(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-g.Failed():
			case <-ctx.Done():
				t.Fatal("Failed never closed although a goroutine panicked")
			}
			g.Stop()
			var pe *latch.PanicError
			if err := g.Err(); !errors.As(err, &pe) || !strings.HasPrefix(pe.Where, tc.where) {
				t.Errorf("Err = %v, want a panic in %q", err, tc.where)
			}
		})
	}
	var nilGen *Generator
	if nilGen.Failed() != nil || nilGen.Err() != nil {
		t.Error("a nil generator must never fail")
	}
}
