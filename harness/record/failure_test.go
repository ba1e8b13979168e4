package record

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/latch"
)

type panickyTransport struct{}

func (panickyTransport) RoundTrip(*http.Request) (*http.Response, error) { panic("transport bug") }

// A panic in a scrape goroutine is recovered: the process lives, Failed
// closes, Err names the goroutine, and Stop still returns.
func TestScrapePanicIsRecoveredAndReported(t *testing.T) {
	r, err := New(Config{Bucket: 50 * time.Millisecond, Client: &http.Client{Transport: panickyTransport{}},
		Components: []Target{{Name: "svc", HealthURL: "http://127.0.0.1:9/healthz"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Failed():
	case <-ctx.Done():
		t.Fatal("Failed never closed although a scrape panicked")
	}
	r.Stop()
	var pe *latch.PanicError
	if err := r.Err(); !errors.As(err, &pe) || pe.Where != "recorder: probe of svc" || pe.Value != "transport bug" {
		t.Errorf("Err = %v, want the scrape's panic", err)
	}
	var nilRec *Recorder
	if nilRec.Failed() != nil || nilRec.Err() != nil {
		t.Error("a nil recorder must never fail")
	}
}
