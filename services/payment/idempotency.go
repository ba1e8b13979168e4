package payment

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"

	"github.com/outagelab/outagelab/services/platform"
)

// stored is a finished answer kept under an idempotency key.
type stored struct {
	status int
	body   any
}

// idemEntry is one key's record: the request fingerprint and, once the first
// request finished, its answer. done is closed when the answer is known or
// the attempt was abandoned (then ans is nil and the next request retries).
type idemEntry struct {
	fingerprint [32]byte
	done        chan struct{}
	ans         *stored
}

// idempotency remembers answers by (scope, key) so that a retried request is
// answered from memory and never executed twice. Scope is the endpoint, so a
// caller may reuse one key for authorize and capture.
type idempotency struct {
	mu      sync.Mutex
	entries map[string]*idemEntry
}

func newIdempotency() *idempotency { return &idempotency{entries: map[string]*idemEntry{}} }

// begin claims key for a request with this fingerprint. It returns either a
// stored answer to replay, or a claim (the caller executes and calls finish
// or abandon), or an *platform.APIError (409 on a fingerprint mismatch, or
// the context's end while waiting for a concurrent request with the same key).
func (s *idempotency) begin(ctx context.Context, scope, key string, payload []byte) (claim *idemEntry, replay *stored, err error) {
	fp := sha256.Sum256(payload)
	id := scope + "\x00" + key
	for {
		s.mu.Lock()
		e, ok := s.entries[id]
		if !ok {
			e = &idemEntry{fingerprint: fp, done: make(chan struct{})}
			s.entries[id] = e
			s.mu.Unlock()
			return e, nil, nil
		}
		s.mu.Unlock()
		if e.fingerprint != fp {
			return nil, nil, platform.Errorf(http.StatusConflict, "idempotency_key_reuse",
				"Idempotency-Key %q was already used for a different request to %s: use a new key for a new request", key, scope)
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, nil, platform.Errorf(http.StatusConflict, "request_in_progress",
				"a request with Idempotency-Key %q is still being processed: retry later with the same key", key)
		}
		if e.ans != nil {
			return nil, e.ans, nil
		}
		// The first attempt was abandoned; loop to claim the key ourselves.
	}
}

// finish stores the answer of a claim.
func (s *idempotency) finish(e *idemEntry, status int, body any) {
	e.ans = &stored{status: status, body: body}
	close(e.done)
}

// abandon releases a claim without an answer (nothing happened): the key may
// be used again.
func (s *idempotency) abandon(scope, key string, e *idemEntry) {
	s.mu.Lock()
	if s.entries[scope+"\x00"+key] == e {
		delete(s.entries, scope+"\x00"+key)
	}
	s.mu.Unlock()
	close(e.done)
}
