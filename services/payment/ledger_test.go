package payment

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func readLedger(t *testing.T, base string) Ledger {
	t.Helper()
	resp, err := http.Get(base + "/v1/charges")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/charges: %s", resp.Status)
	}
	var l Ledger
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLedgerIdentity: one process answers one ledger id whatever it
// records; a new process (a restart) answers another and an empty ledger.
func TestLedgerIdentity(t *testing.T) {
	before := time.Now().UTC().Add(-time.Second)
	_, ts := newServer(t, Options{})
	first := readLedger(t, ts.URL)
	if !strings.HasPrefix(first.LedgerID, "ledger_") || first.StartedAt.Before(before) || first.StartedAt.After(time.Now().UTC()) {
		t.Fatalf("ledger %+v: want ledger_<hex> and the start time", first)
	}
	a := authorize(t, ts.URL, "k1", 500)
	if st, m, _ := post(t, ts.URL+"/v1/capture", "k1", fmt.Sprintf(`{"authorization_id":%q}`, a)); st != 200 {
		t.Fatalf("capture: %d %v", st, m)
	}
	again := readLedger(t, ts.URL)
	if again.LedgerID != first.LedgerID || again.Count != 1 || len(again.Charges) != 1 {
		t.Fatalf("same process: %+v then %+v", first, again)
	}
	_, restarted := newServer(t, Options{})
	other := readLedger(t, restarted.URL)
	if other.LedgerID == first.LedgerID || other.Count != 0 {
		t.Fatalf("a new process must answer a new ledger id and no charges: %+v (first %s)", other, first.LedgerID)
	}
}

func failurePattern(t *testing.T, seed *int64, n int) string {
	t.Helper()
	p, err := NewProvider(Options{FailureRate: 0.5, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux)
	var sb strings.Builder
	for i := range n {
		req := httptest.NewRequest("POST", "/v1/authorize", strings.NewReader(`{"amount_cents":1}`))
		req.Header.Set("Idempotency-Key", fmt.Sprint(i))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			sb.WriteByte('.')
		case http.StatusServiceUnavailable:
			sb.WriteByte('x')
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	return sb.String()
}

// TestFailureRateFollowsTheSeed: --seed makes the --failure-rate draws
// repeat; without one, the seed drawn is reported and replays them.
func TestFailureRateFollowsTheSeed(t *testing.T) {
	s5, s6 := int64(5), int64(6)
	a, b := failurePattern(t, &s5, 200), failurePattern(t, &s5, 200)
	if a != b {
		t.Fatalf("seed 5 gave two failure sequences:\n%s\n%s", a, b)
	}
	if failurePattern(t, &s6, 200) == a {
		t.Fatal("seeds 5 and 6 gave the same failure sequence")
	}
	p, err := NewProvider(Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := NewProvider(Options{})
	if p.Seed() == q.Seed() {
		t.Fatalf("two unseeded providers drew the same seed %d", p.Seed())
	}
}
