package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// faultSequence starts a real server (its own listeners), sets the error
// hook through the admin API with body, sends n requests one after the
// other (with /healthz requests interleaved, which must not consume draws)
// and returns, per request, whether it got the injected status.
func faultSequence(t *testing.T, body string, n int) []bool {
	t.Helper()
	s, _ := newTestServer(t, "--admin-token", "tok")
	s.Mux.HandleFunc("GET /api/item", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
	})
	req, _ := http.NewRequest(http.MethodPut, "http://"+s.AdminAddr()+"/admin/faults", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT /admin/faults %s: %d", body, res.StatusCode)
	}
	base := "http://" + s.Addr()
	out := make([]bool, n)
	for i := range n {
		if i%7 == 3 {
			r, err := http.Get(base + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != http.StatusOK {
				t.Fatalf("/healthz answered %d under an error hook: it must never be faulted", r.StatusCode)
			}
		}
		r, err := http.Get(base + "/api/item")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		switch r.StatusCode {
		case http.StatusOK:
		case 502:
			out[i] = true
		default:
			t.Fatalf("request %d: status %d, want 200 or the injected 502", i, r.StatusCode)
		}
	}
	return out
}

func pattern(b []bool) string {
	var sb strings.Builder
	for _, x := range b {
		if x {
			sb.WriteByte('x')
		} else {
			sb.WriteByte('.')
		}
	}
	return sb.String()
}

// TestFaultDecisionsFollowTheSeed: two servers given one seed fail exactly
// the same requests of the same sequence; another seed fails others.
func TestFaultDecisionsFollowTheSeed(t *testing.T) {
	const n = 200
	put := func(seed int64) string {
		return fmt.Sprintf(`{"error_rate":0.5,"error_status":502,"seed":%d}`, seed)
	}
	a := faultSequence(t, put(42), n)
	b := faultSequence(t, put(42), n)
	if pattern(a) != pattern(b) {
		t.Fatalf("seed 42 gave two different fault sequences:\n%s\n%s", pattern(a), pattern(b))
	}
	hits := strings.Count(pattern(a), "x")
	if hits < n/4 || hits > 3*n/4 {
		t.Fatalf("error_rate 0.5 failed %d of %d requests: %s", hits, n, pattern(a))
	}
	c := faultSequence(t, put(43), n)
	if pattern(a) == pattern(c) {
		t.Fatalf("seeds 42 and 43 gave the same fault sequence: %s", pattern(a))
	}
}

// TestFaultSeedStream: an unseeded PUT gets a reported seed that replays
// its draws; re-setting the seed in effect continues the sequence, and a
// PUT after Clear starts it again.
func TestFaultSeedStream(t *testing.T) {
	draws := func(f *Faults, n int) string {
		b := make([]bool, n)
		for i := range b {
			_, st := f.inbound("/api")
			b[i] = st != 0
		}
		return pattern(b)
	}
	f := &Faults{}
	f.Set(FaultSettings{ErrorRate: 0.5})
	got := f.Get()
	if got.Seed == nil {
		t.Fatal("a PUT without seed must report the seed it drew")
	}
	first := draws(f, 64)

	g := &Faults{}
	g.Set(FaultSettings{ErrorRate: 0.5, Seed: got.Seed})
	if replay := draws(g, 64); replay != first {
		t.Fatalf("the reported seed %d does not replay the draws:\n%s\n%s", *got.Seed, first, replay)
	}
	// Same seed again (a merged re-push, here with a delay added): continue.
	g.Set(FaultSettings{ErrorRate: 0.5, Seed: got.Seed, Routes: []string{"/api"}})
	cont := draws(g, 64)
	h := &Faults{}
	h.Set(FaultSettings{ErrorRate: 0.5, Seed: got.Seed})
	if all := draws(h, 128); all != first+cont {
		t.Fatalf("re-setting the seed in effect restarted the sequence:\n%s\n%s", all, first+cont)
	}
	// After Clear the same seed starts over.
	h.Clear()
	if h.Get().Seed != nil {
		t.Fatal("Clear kept a seed")
	}
	h.Set(FaultSettings{ErrorRate: 0.5, Seed: got.Seed})
	if again := draws(h, 64); again != first {
		t.Fatalf("after Clear the seed did not start over:\n%s\n%s", first, again)
	}
}

func TestFaultSeedInAdminAPI(t *testing.T) {
	s, _ := newTestServer(t, "--admin-token", "tok")
	admin := s.AdminHandler()
	auth := []string{"Authorization", "Bearer tok"}
	r := do(t, admin, "PUT", "/admin/faults", `{"error_rate":0.2,"seed":9007199254740991}`, auth...)
	if r.status != 200 || !strings.Contains(r.raw, `"seed":9007199254740991`) {
		t.Fatalf("PUT with seed: %d %s", r.status, r.raw)
	}
	r = do(t, admin, "PUT", "/admin/faults", `{"error_rate":0.2}`, auth...)
	var body struct{ Seed *int64 }
	if err := json.Unmarshal([]byte(r.raw), &body); err != nil || body.Seed == nil {
		t.Fatalf("PUT without seed must answer the seed drawn: %s (%v)", r.raw, err)
	}
	r = do(t, admin, "PUT", "/admin/faults", `{"delay_ms":5}`, auth...)
	if strings.Contains(r.raw, `"seed"`) {
		t.Fatalf("hooks without an error rate or a seed report none: %s", r.raw)
	}
}
