// Package payment is the storefront's simulated third-party payment
// provider: authorise, then capture, each under an Idempotency-Key, so a
// retried request never charges twice. Its own knobs make it slow
// (--latency) or flaky (--failure-rate).
//
//	checkout ──POST /v1/authorize (Idempotency-Key)──▶ ┌──────────── payment ─────────────┐
//	         ──POST /v1/capture   (Idempotency-Key)──▶ │ key seen? ─yes─▶ replay answer   │
//	                                                   │    no ─▶ failure-rate? ─▶ 503    │
//	                                                   │    no ─▶ record in ledger        │
//	                                                   │         ─▶ --latency ─▶ answer   │
//	invariants ──GET /v1/charges─────────────────────▶ └──────────────────────────────────┘
//
// The latency is added after the ledger records the operation, like a
// provider whose answer arrives late: a caller that times out does not know
// whether it was charged, and only the idempotency key makes its retry safe.
//
// The ledger lives in memory: a restart empties it. GET /v1/charges names
// the ledger (ledger_id, random per process start) so that a reader who saw
// another id earlier knows the evidence before the restart is lost.
package payment

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/outagelab/outagelab/services/platform"
)

// Options are the provider's knobs.
type Options struct {
	// Latency is added to every authorize and capture answer.
	Latency time.Duration
	// FailureRate is the fraction of authorize/capture requests answered
	// 503 provider_unavailable before anything happens.
	FailureRate float64
	// Seed seeds the FailureRate draws (nil: a random seed, logged at start
	// by Main): one draw per new (not replayed) request, in arrival order.
	Seed *int64
}

// Validate checks the knobs.
func (o Options) Validate() error {
	if o.Latency < 0 || o.Latency > time.Minute {
		return fmt.Errorf("--latency must be in [0, 1m], got %s", o.Latency)
	}
	if o.FailureRate < 0 || o.FailureRate > 1 || o.FailureRate != o.FailureRate {
		return fmt.Errorf("--failure-rate must be in [0, 1], got %g", o.FailureRate)
	}
	return nil
}

// AuthorizeRequest is the body of POST /v1/authorize.
type AuthorizeRequest struct {
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency,omitempty"`
	// Reference is the caller's own id, e.g. the order id.
	Reference string `json:"reference,omitempty"`
}

// CaptureRequest is the body of POST /v1/capture.
type CaptureRequest struct {
	AuthorizationID string `json:"authorization_id"`
	// AmountCents defaults to the authorised amount.
	AmountCents int64 `json:"amount_cents,omitempty"`
}

// Authorization is a hold on funds.
type Authorization struct {
	ID             string    `json:"authorization_id"`
	Status         string    `json:"status"` // authorized, captured
	AmountCents    int64     `json:"amount_cents"`
	Currency       string    `json:"currency"`
	Reference      string    `json:"reference,omitempty"`
	IdempotencyKey string    `json:"idempotency_key"`
	CreatedAt      time.Time `json:"created_at"`
}

// Charge is money actually taken: one per capture.
type Charge struct {
	ID              string    `json:"charge_id"`
	AuthorizationID string    `json:"authorization_id"`
	Status          string    `json:"status"` // captured
	AmountCents     int64     `json:"amount_cents"`
	Currency        string    `json:"currency"`
	Reference       string    `json:"reference,omitempty"`
	IdempotencyKey  string    `json:"idempotency_key"`
	CreatedAt       time.Time `json:"created_at"`
}

// MaxAmountCents bounds one payment.
const MaxAmountCents = 100_000_000

// Ledger is the answer of GET /v1/charges.
type Ledger struct {
	// LedgerID names this process's ledger: random, chosen at start. A
	// different id than an earlier read means the provider restarted and
	// the charges recorded before are gone.
	LedgerID  string    `json:"ledger_id"`
	StartedAt time.Time `json:"started_at"`
	Charges   []Charge  `json:"charges"`
	Count     int       `json:"count"`
}

// Provider is the in-memory provider; safe for concurrent use.
type Provider struct {
	opts      Options
	idem      *idempotency
	ledgerID  string
	startedAt time.Time
	seed      int64

	mu      sync.Mutex
	rng     *rand.Rand // FailureRate draws; guarded by mu
	auths   map[string]*Authorization
	charges []Charge
}

// NewProvider returns a provider with the given knobs and a new, empty
// ledger with its own id.
func NewProvider(o Options) (*Provider, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var seed int64
	if o.Seed != nil {
		seed = *o.Seed
	} else {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = int64(binary.LittleEndian.Uint64(b[:]) & (1<<53 - 1))
	}
	return &Provider{opts: o, idem: newIdempotency(), ledgerID: newID("ledger_"), startedAt: time.Now().UTC(), seed: seed,
		rng: rand.New(rand.NewPCG(uint64(seed), 0xfa11)), auths: map[string]*Authorization{}}, nil
}

// LedgerID is the id of this process's ledger (see Ledger).
func (p *Provider) LedgerID() string { return p.ledgerID }

// Seed is the seed of the FailureRate draws.
func (p *Provider) Seed() int64 { return p.seed }

// fail draws whether a new request is answered provider_unavailable.
func (p *Provider) fail() bool {
	if p.opts.FailureRate <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < p.opts.FailureRate
}

// Register adds the provider's routes to mux.
func (p *Provider) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/authorize", p.handleAuthorize)
	mux.HandleFunc("POST /v1/capture", p.handleCapture)
	mux.HandleFunc("GET /v1/charges", p.handleCharges)
	mux.HandleFunc("GET /v1/authorizations", p.handleAuthorizations)
}

// Charges returns a copy of the ledger's charges, oldest first.
func (p *Provider) Charges() []Charge {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Charge(nil), p.charges...)
}

func newID(prefix string) string {
	var b [8]byte
	crand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// idempotencyKey reads and checks the Idempotency-Key header.
func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", platform.Errorf(http.StatusBadRequest, "missing_idempotency_key",
			"%s %s needs an Idempotency-Key header so that a retry never charges twice", r.Method, r.URL.Path)
	}
	if len(k) > 255 || strings.IndexFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
		return "", platform.Errorf(http.StatusBadRequest, "bad_idempotency_key", "Idempotency-Key must be 1..255 printable ASCII characters")
	}
	return k, nil
}

// ParseAuthorize decodes and validates an authorize body.
func ParseAuthorize(r *http.Request) (AuthorizeRequest, error) {
	var req AuthorizeRequest
	if err := platform.ParseJSON(r.Body, &req); err != nil {
		return req, err
	}
	if req.AmountCents <= 0 || req.AmountCents > MaxAmountCents {
		return req, platform.Errorf(http.StatusBadRequest, "bad_amount", "amount_cents must be 1..%d, got %d", MaxAmountCents, req.AmountCents)
	}
	if req.Currency == "" {
		req.Currency = "USD"
	}
	if len(req.Currency) != 3 || strings.ToUpper(req.Currency) != req.Currency || strings.IndexFunc(req.Currency, func(c rune) bool { return c < 'A' || c > 'Z' }) >= 0 {
		return req, platform.Errorf(http.StatusBadRequest, "bad_currency", "currency must be three capital letters such as USD, got %q", req.Currency)
	}
	if len(req.Reference) > 200 {
		return req, platform.Errorf(http.StatusBadRequest, "bad_reference", "reference is over 200 bytes")
	}
	return req, nil
}

// ParseCapture decodes and validates a capture body.
func ParseCapture(r *http.Request) (CaptureRequest, error) {
	var req CaptureRequest
	if err := platform.ParseJSON(r.Body, &req); err != nil {
		return req, err
	}
	if req.AuthorizationID == "" || len(req.AuthorizationID) > 100 {
		return req, platform.Errorf(http.StatusBadRequest, "bad_authorization_id", "authorization_id is required (the id /v1/authorize returned)")
	}
	if req.AmountCents < 0 || req.AmountCents > MaxAmountCents {
		return req, platform.Errorf(http.StatusBadRequest, "bad_amount", "amount_cents must be 0 (full amount) or 1..%d, got %d", MaxAmountCents, req.AmountCents)
	}
	return req, nil
}

// idempotent runs op at most once per (scope, key, body) and replays its
// answer afterwards. Errors of op that mean "nothing happened" (APIError
// with status ≥ 500) release the key; other answers are stored.
func (p *Provider) idempotent(w http.ResponseWriter, r *http.Request, scope string, req any, op func(key string) (int, any, error)) {
	key, err := idempotencyKey(r)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	payload, _ := json.Marshal(req)
	claim, replay, err := p.idem.begin(r.Context(), scope, key, payload)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	if replay != nil {
		w.Header().Set("Idempotent-Replayed", "true")
		p.answer(w, r, replay.status, replay.body)
		return
	}
	if p.fail() {
		p.idem.abandon(scope, key, claim)
		platform.WriteError(w, http.StatusServiceUnavailable, "provider_unavailable", "payment provider unavailable (injected by --failure-rate): retry with the same Idempotency-Key")
		return
	}
	status, body, err := op(key)
	if err != nil {
		var ae *platform.APIError
		if !errors.As(err, &ae) || ae.Status >= 500 {
			p.idem.abandon(scope, key, claim)
			platform.WriteErr(w, err)
			return
		}
		status, body = ae.Status, ae
	}
	p.idem.finish(claim, status, body)
	p.answer(w, r, status, body)
}

// answer waits the configured latency (the operation is already recorded)
// and writes the answer; a caller that gave up simply misses it.
func (p *Provider) answer(w http.ResponseWriter, r *http.Request, status int, body any) {
	if p.opts.Latency > 0 {
		t := time.NewTimer(p.opts.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	platform.WriteJSON(w, status, body)
}

func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	req, err := ParseAuthorize(r)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	p.idempotent(w, r, "authorize", req, func(key string) (int, any, error) {
		a := &Authorization{ID: newID("auth_"), Status: "authorized", AmountCents: req.AmountCents, Currency: req.Currency,
			Reference: req.Reference, IdempotencyKey: key, CreatedAt: time.Now().UTC()}
		p.mu.Lock()
		p.auths[a.ID] = a
		cp := *a
		p.mu.Unlock()
		return http.StatusOK, cp, nil
	})
}

func (p *Provider) handleCapture(w http.ResponseWriter, r *http.Request) {
	req, err := ParseCapture(r)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	p.idempotent(w, r, "capture", req, func(key string) (int, any, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		a, ok := p.auths[req.AuthorizationID]
		if !ok {
			return 0, nil, platform.Errorf(http.StatusNotFound, "authorization_not_found", "no authorization %q", req.AuthorizationID)
		}
		amount := req.AmountCents
		if amount == 0 {
			amount = a.AmountCents
		}
		if amount > a.AmountCents {
			return 0, nil, platform.Errorf(http.StatusBadRequest, "amount_exceeds_authorization",
				"capture of %d cents exceeds the %d cents authorised", amount, a.AmountCents)
		}
		if a.Status == "captured" {
			return 0, nil, platform.Errorf(http.StatusConflict, "already_captured",
				"authorization %s is already captured (under another Idempotency-Key)", a.ID)
		}
		a.Status = "captured"
		c := Charge{ID: newID("ch_"), AuthorizationID: a.ID, Status: "captured", AmountCents: amount, Currency: a.Currency,
			Reference: a.Reference, IdempotencyKey: key, CreatedAt: time.Now().UTC()}
		p.charges = append(p.charges, c)
		return http.StatusOK, c, nil
	})
}

func (p *Provider) handleCharges(w http.ResponseWriter, r *http.Request) {
	cs := p.Charges()
	if cs == nil {
		cs = []Charge{} // an empty ledger is [], not null
	}
	platform.WriteJSON(w, http.StatusOK, Ledger{LedgerID: p.ledgerID, StartedAt: p.startedAt, Charges: cs, Count: len(cs)})
}

func (p *Provider) handleAuthorizations(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	as := make([]Authorization, 0, len(p.auths))
	for _, a := range p.auths {
		as = append(as, *a)
	}
	p.mu.Unlock()
	sort.Slice(as, func(i, j int) bool { return as[i].CreatedAt.Before(as[j].CreatedAt) })
	platform.WriteJSON(w, http.StatusOK, map[string]any{"authorizations": as, "count": len(as)})
}

// Main runs the payment service: storefront payment [flags].
func Main(ctx context.Context, args []string) error {
	fs := platform.NewFlagSet("payment")
	latency := fs.Duration("latency", 0, "latency added to every authorize/capture answer (after the ledger is updated)")
	failure := fs.Float64("failure-rate", 0, "fraction of authorize/capture requests answered 503 provider_unavailable")
	seed := fs.Int64("seed", 0, "seed of the --failure-rate draws (0: a random seed, logged at start)")
	cfg, err := fs.Parse(args, nil)
	if err != nil {
		return err
	}
	o := Options{Latency: *latency, FailureRate: *failure}
	if *seed != 0 {
		o.Seed = seed
	}
	p, err := NewProvider(o)
	if err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	srv, err := platform.New(cfg)
	if err != nil {
		return fmt.Errorf("start payment: %w", err)
	}
	srv.Log.Info("payment ledger started", "ledger_id", p.LedgerID(), "failure_rate", o.FailureRate, "seed", p.Seed())
	p.Register(srv.Mux)
	return srv.Run(ctx)
}
