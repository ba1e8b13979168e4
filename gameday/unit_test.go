package gameday

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestFaultRequestSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		dur  time.Duration
		fail string
	}{
		{`{"kind":"latency","selector":{"edges":["a__b"]},"params":{"latency":"200ms"},"duration":"30s"}`, 30 * time.Second, ""},
		{`{"kind":"down","selector":{"to":"db"},"duration":"until_removed"}`, 0, ""},
		{`{"kind":"pause","selector":{"components":["x"]}}`, 0, ""},
		{`{"kind":"meteor","selector":{"to":"db"}}`, 0, "unknown fault kind"},
		{`{"kind":"latency","selector":{"to":"db"},"params":{"latency":"-1s"}}`, 0, "negative"},
		{`{"kind":"latency","selector":{},"params":{"latency":"1s"}}`, 0, "empty"},
		{`{"kind":"down","selector":{"to":"db"},"duration":"soon"}`, 0, "not a duration"},
		{`{"kind":"down","selector":{"to":"db"},"duration":"0s"}`, 0, "positive"},
		{`{"kind":"down","selector":{"to":"db"},"duration":"100h"}`, 0, "longer than"},
		{`{"kind":"pause","selector":{"to":"db"}}`, 0, "acts on components"},
	} {
		var r FaultRequest
		if err := DecodeJSON([]byte(tc.in), &r); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		spec, d, err := r.Spec()
		if tc.fail != "" {
			if err == nil || !strings.Contains(err.Error(), tc.fail) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.fail)
			}
			continue
		}
		if err != nil || d != tc.dur || spec.Kind != r.Kind || spec.Params == nil {
			t.Errorf("%s: %+v %v %v", tc.in, spec, d, err)
		}
	}
}

func TestDecodeJSONStrict(t *testing.T) {
	var r FaultRequest
	for _, in := range []string{`{"kind":"down"} {"kind":"down"}`, `{"kind":"down","x":1}`, `[1]`, `{"kind":`, `{"kind":"down"}x`} {
		if err := DecodeJSON([]byte(in), &r); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestCleanName(t *testing.T) {
	if got := cleanName("  alice\x00\n "); got != "alice" {
		t.Errorf("got %q", got)
	}
	if got := cleanName(strings.Repeat("é", 100)); len(got) > 66 {
		t.Errorf("not bounded: %d bytes", len(got))
	}
}

// TestPlayerClock checks the player's clock: a pause stops it, a skip ends
// the current wait at once, a cancelled context ends it with false.
func TestPlayerClock(t *testing.T) {
	p := &player{wake: make(chan struct{}, 1), since: time.Now(), state: ScenarioPlaying}
	ctx := context.Background()
	if !p.waitUntil(ctx, 10*time.Millisecond) {
		t.Fatal("short wait failed")
	}
	// Paused: the clock does not move, and a wait returns only on skip.
	p.mu.Lock()
	p.base, p.since = p.elapsedLocked(time.Now()), time.Time{}
	frozen := p.base
	p.mu.Unlock()
	done := make(chan bool)
	go func() { done <- p.waitUntil(ctx, time.Hour) }()
	select {
	case <-done:
		t.Fatal("a paused wait for an hour returned")
	case <-time.After(50 * time.Millisecond):
	}
	p.mu.Lock()
	if p.elapsedLocked(time.Now()) != frozen {
		t.Error("paused clock moved")
	}
	p.skip = true
	p.mu.Unlock()
	p.poke()
	if !<-done {
		t.Fatal("skip ended the wait with false")
	}
	p.mu.Lock()
	if el := p.elapsedLocked(time.Now()); el != time.Hour {
		t.Errorf("after skip the clock is at %s, want the wait's target 1h", el)
	}
	p.mu.Unlock()
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- p.waitUntil(cctx, 2*time.Hour) }()
	cancel()
	if <-done {
		t.Error("a cancelled wait returned true")
	}
}

func TestHubKeepsOnlyTheLatest(t *testing.T) {
	h := newHub()
	ch, cancel := h.subscribe()
	for i := range 5 {
		h.broadcast([]byte{byte('0' + i)})
	}
	if got := string(<-ch); got != "4" {
		t.Errorf("slow subscriber got %q, want the latest", got)
	}
	cancel()
	cancel() // idempotent
	ch2, _ := h.subscribe()
	if got := string(<-ch2); got != "4" {
		t.Errorf("new subscriber got %q, want the last state at once", got)
	}
	h.close()
	if _, ok := <-ch2; ok {
		t.Error("channel open after close")
	}
}

func TestKindsFromRegistry(t *testing.T) {
	ks := Kinds()
	names := map[string]KindView{}
	for _, k := range ks {
		names[k.Name] = k
	}
	for _, want := range []string{"latency", "down", "pause", "partition", "timeout"} {
		if _, ok := names[want]; !ok {
			t.Errorf("kind %s missing from the palette (have %d)", want, len(ks))
		}
	}
	if d := names["latency"].Defaults; d["toxicity"] != float64(1) || d["stream"] != "downstream" {
		t.Errorf("latency defaults %v", d)
	}
	if _, err := json.Marshal(ks); err != nil {
		t.Fatal(err)
	}
}

// FuzzFaultRequest: the API's request decoder never panics and either
// rejects the input or yields a spec of a registered kind.
func FuzzFaultRequest(f *testing.F) {
	f.Add([]byte(`{"kind":"latency","selector":{"edges":["a"]},"params":{"latency":"200ms"},"duration":"30s"}`))
	f.Add([]byte(`{"kind":"partition","selector":{"crossing":["r1","!r1"]},"params":{"mode":"refuse"}}`))
	f.Add([]byte(`{"kind":"http_error","selector":{"components":["x"]},"params":{"rate":0.5,"status":503,"routes":["/a"]}}`))
	f.Add([]byte(`{"kind":"down","selector":{"to":"["},"duration":"1e9h"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r FaultRequest
		if err := DecodeJSON(b, &r); err != nil {
			return
		}
		spec, d, err := r.Spec()
		if err != nil {
			return
		}
		if spec.Params == nil || d < 0 || d > MaxFaultDuration {
			t.Fatalf("accepted %q as %+v %v", b, spec, d)
		}
	})
}
