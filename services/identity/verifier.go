package identity

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/outagelab/outagelab/services/resilience"
)

// Verifier modes.
const (
	// ModeAuto picks ModeLocal when the dependency's policy allows fallbacks
	// (hardened) and ModeRemote otherwise (fragile).
	ModeAuto = ""
	// ModeLocal verifies signatures in process with keys fetched from
	// GET /v1/keys and cached; identity is called only to refresh keys.
	ModeLocal = "local"
	// ModeRemote calls POST /v1/verify for every token.
	ModeRemote = "remote"
)

// ErrUnavailable wraps failures to reach identity when a token could not be
// checked: the caller answers 503 (or degrades), not 401.
var ErrUnavailable = errors.New("identity unavailable")

// VerifierOptions tunes a Verifier; the zero value is usable.
type VerifierOptions struct {
	// Mode is ModeAuto (default), ModeLocal or ModeRemote.
	Mode string
	// KeyTTL is how long fetched keys count as fresh (default 5 min). Stale
	// keys are refreshed on use; if identity cannot be reached and the policy
	// allows fallbacks, the stale key still verifies (static stability) and
	// the session is marked Degraded.
	KeyTTL time.Duration
	// MinRefresh spaces key refreshes triggered by unknown kids or failures
	// (default 1 s), so garbage tokens cannot hammer identity.
	MinRefresh time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Session is a verified token.
type Session struct {
	Claims
	// Degraded is true when the token was verified with a stale cached key
	// because identity could not be reached (X-Degraded: session-cache).
	Degraded bool
}

// Verifier verifies tokens for a caller of identity (gateway, checkout).
// It is safe for concurrent use.
type Verifier struct {
	dep    *resilience.Dependency
	client *http.Client
	mode   string
	opts   VerifierOptions

	mu          sync.Mutex
	keys        map[string]ed25519.PublicKey
	fetchedAt   time.Time
	lastAttempt time.Time
	refreshing  chan struct{} // non-nil while one refresh runs; closed when it ends
}

// NewVerifier returns a verifier calling identity through dep.
func NewVerifier(dep *resilience.Dependency, opts VerifierOptions) (*Verifier, error) {
	if dep == nil {
		return nil, errors.New("new verifier: nil identity dependency")
	}
	mode := opts.Mode
	if mode == ModeAuto {
		mode = ModeRemote
		if dep.FallbackAllowed() {
			mode = ModeLocal
		}
	}
	if mode != ModeLocal && mode != ModeRemote {
		return nil, fmt.Errorf("new verifier: mode %q is not %q or %q", opts.Mode, ModeLocal, ModeRemote)
	}
	if opts.KeyTTL <= 0 {
		opts.KeyTTL = 5 * time.Minute
	}
	if opts.MinRefresh <= 0 {
		opts.MinRefresh = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{dep: dep, client: resilience.NewHTTPClient(), mode: mode, opts: opts}, nil
}

// Mode is the verifier's effective mode (ModeLocal or ModeRemote).
func (v *Verifier) Mode() string { return v.mode }

// Verify checks token. A token that is malformed, badly signed, expired or
// signed by an unknown key gives an error wrapping ErrInvalidToken; when
// identity could not be reached to decide, the error wraps ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (Session, error) {
	p, err := Parse(token)
	if err != nil {
		return Session{}, err
	}
	if v.mode == ModeRemote {
		return v.verifyRemote(ctx, token)
	}
	return v.verifyLocal(ctx, p)
}

func (v *Verifier) verifyRemote(ctx context.Context, token string) (Session, error) {
	var out VerifyResponse
	err := v.dep.CallJSON(ctx, http.MethodPost, "/v1/verify", nil, VerifyRequest{Token: token}, &out)
	if err != nil {
		var he *resilience.HTTPError
		if errors.As(err, &he) && he.Status == http.StatusUnauthorized {
			if he.Code == "token_expired" {
				return Session{}, fmt.Errorf("%w: %s", ErrExpired, he.Message)
			}
			return Session{}, fmt.Errorf("%w: %s", ErrInvalidToken, he.Message)
		}
		return Session{}, fmt.Errorf("%w: verify token: %w", ErrUnavailable, err)
	}
	if !out.Valid || out.Sub == "" {
		return Session{}, fmt.Errorf("%w: identity answered an invalid verification", ErrUnavailable)
	}
	return Session{Claims: Claims{Sub: out.Sub, Region: out.Region, Expires: out.ExpiresAt.Unix()}}, nil
}

func (v *Verifier) verifyLocal(ctx context.Context, p *Parsed) (Session, error) {
	now := v.opts.Now()
	keys, fresh, recent := v.state(now)
	_, known := keys[p.Claims.Kid]
	if known && fresh {
		c, err := p.VerifyWith(keys, now)
		return Session{Claims: c}, err
	}
	if recent {
		// A refresh was tried less than MinRefresh ago: do not ask again.
		switch {
		case fresh:
			return Session{}, fmt.Errorf("%w (kid %q)", ErrUnknownKey, p.Claims.Kid)
		case known && v.dep.FallbackAllowed():
			c, err := p.VerifyWith(keys, now)
			if err != nil {
				return Session{}, err
			}
			v.dep.FallbackServed()
			return Session{Claims: c, Degraded: true}, nil
		}
		return Session{}, fmt.Errorf("%w: no usable signing key and the last key refresh failed less than %s ago", ErrUnavailable, v.opts.MinRefresh)
	}
	// Stale keys or an unknown kid: refresh. With a fallback-allowing policy
	// a failed refresh still verifies with the stale key we hold.
	degraded := false
	_, err := v.dep.DoFallback(ctx, v.refresh, func(ctx context.Context, cause error) error {
		if !known {
			return errors.New("no cached key for this token")
		}
		degraded = true
		return nil
	})
	if err != nil {
		return Session{}, fmt.Errorf("%w: fetch keys: %w", ErrUnavailable, err)
	}
	keys, _, _ = v.state(now)
	c, err := p.VerifyWith(keys, now)
	if err != nil {
		return Session{}, err
	}
	return Session{Claims: c, Degraded: degraded}, nil
}

// state returns the cached keys, whether they are fresh, and whether a
// refresh was attempted less than MinRefresh ago.
func (v *Verifier) state(now time.Time) (keys map[string]ed25519.PublicKey, fresh, recent bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.keys, v.keys != nil && now.Sub(v.fetchedAt) < v.opts.KeyTTL,
		!v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < v.opts.MinRefresh
}

// Refresh fetches the key set now (e.g. at start, to be ready before
// identity has its first outage). It goes through the dependency's policy.
func (v *Verifier) Refresh(ctx context.Context) error {
	return v.dep.Do(ctx, func(ctx context.Context) error { return v.fetch(ctx) })
}

// refresh fetches keys, or waits for the refresh another caller is running.
func (v *Verifier) refresh(ctx context.Context) error {
	v.mu.Lock()
	if ch := v.refreshing; ch != nil {
		v.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		if _, fresh, _ := v.state(v.opts.Now()); !fresh {
			return errors.New("concurrent key refresh failed")
		}
		return nil
	}
	v.lastAttempt = v.opts.Now()
	ch := make(chan struct{})
	v.refreshing = ch
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.refreshing = nil
		v.mu.Unlock()
		close(ch)
	}()
	return v.fetch(ctx)
}

// fetch is one attempt at GET /v1/keys; the caller runs it under the
// dependency's policy (Do / DoFallback), which classifies and records it.
func (v *Verifier) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.dep.URL("/v1/keys"), nil)
	if err != nil {
		return resilience.ClientError(fmt.Errorf("build keys request: %w", err))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read keys: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return &resilience.HTTPError{Dependency: v.dep.Name(), Status: resp.StatusCode, Body: body}
	}
	var ks KeySet
	if err := json.Unmarshal(body, &ks); err != nil {
		return fmt.Errorf("decode key set from identity: %w", err)
	}
	keys, err := ks.Map()
	if err != nil {
		return fmt.Errorf("bad key set from identity: %w", err)
	}
	v.mu.Lock()
	v.keys = keys
	v.fetchedAt = v.opts.Now()
	v.mu.Unlock()
	return nil
}

// Login calls POST /v1/login through dep. Bad credentials give an error
// wrapping *resilience.HTTPError with Status 401.
func Login(ctx context.Context, dep *resilience.Dependency, username, password string) (LoginResponse, error) {
	var out LoginResponse
	err := dep.CallJSON(ctx, http.MethodPost, "/v1/login", nil, LoginRequest{Username: username, Password: password}, &out)
	return out, err
}
