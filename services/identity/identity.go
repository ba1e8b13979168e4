// Package identity is the storefront's identity service: login for the
// generated users (user0001…user1000, password "pw-<name>") and ed25519
// signed tokens that callers verify locally with a published, cached key.
//
//	client ──POST /v1/login──▶ identity ──▶ token = base64url(claims).base64url(sig)
//	gateway/checkout ──GET /v1/keys (once, cached)──▶ identity
//	gateway/checkout: Verifier.Verify(token)
//	    hardened: checks the signature with the cached key (works while identity is down)
//	    fragile:  POST /v1/verify on every request (identity down ⇒ nobody is logged in)
//
// Identity is a global service (us-east-1 only, ARCHITECTURE.md).
package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/outagelab/outagelab/services/platform"
)

// DefaultTokenTTL is how long a token is valid unless --token-ttl says otherwise.
const DefaultTokenTTL = time.Hour

// Service holds the signing key and answers the identity API.
type Service struct {
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	region string
	ttl    time.Duration
	now    func() time.Time
}

// NewService returns a service signing with the ed25519 key of seed (32
// bytes); a nil seed generates a random key.
func NewService(seed []byte, region string, ttl time.Duration) (*Service, error) {
	if seed == nil {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("generate signing key: %w", err)
		}
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing seed must be %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("token TTL must be > 0, got %s", ttl)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Service{priv: priv, pub: priv.Public().(ed25519.PublicKey), region: region, ttl: ttl, now: time.Now}, nil
}

// ParseSeed decodes a --signing-seed value (64 hex digits).
func ParseSeed(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("--signing-seed wants %d hex digits (%d bytes), got %q", 2*ed25519.SeedSize, ed25519.SeedSize, s)
	}
	return b, nil
}

// KeyID is the id of the service's signing key.
func (s *Service) KeyID() string { return KeyID(s.pub) }

// Keys returns the published key set.
func (s *Service) Keys() KeySet { return KeySet{Keys: []Key{PublishKey(s.pub)}} }

// Login checks the credentials and returns a signed token.
func (s *Service) Login(username, password string) (token string, c Claims, err error) {
	if !CheckPassword(username, password) {
		return "", Claims{}, platform.Errorf(http.StatusUnauthorized, "bad_credentials", "unknown user or wrong password")
	}
	now := s.now()
	c = Claims{Sub: username, Region: s.region, IssuedAt: now.Unix(), Expires: now.Add(s.ttl).Unix()}
	token, err = Sign(s.priv, c)
	if err != nil {
		return "", Claims{}, err
	}
	c.Kid = s.KeyID()
	return token, c, nil
}

// Verify checks token against the service's own key.
func (s *Service) Verify(token string) (Claims, error) {
	return Verify(token, map[string]ed25519.PublicKey{s.KeyID(): s.pub}, s.now())
}

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResponse is the answer of POST /v1/login.
type LoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      string    `json:"user"`
}

// VerifyRequest is the body of POST /v1/verify.
type VerifyRequest struct {
	Token string `json:"token"`
}

// VerifyResponse is the answer of POST /v1/verify for a valid token.
type VerifyResponse struct {
	Valid     bool      `json:"valid"`
	Sub       string    `json:"sub"`
	Region    string    `json:"region"`
	ExpiresAt time.Time `json:"expires_at"`
}

// DecodeLogin decodes and validates a login body (strict JSON, both fields).
func DecodeLogin(r *http.Request) (LoginRequest, error) {
	var req LoginRequest
	if err := decodeBody(r, &req); err != nil {
		return req, err
	}
	if req.Username == "" || req.Password == "" {
		return req, platform.Errorf(http.StatusBadRequest, "missing_field", "username and password are required")
	}
	return req, nil
}

// DecodeVerify decodes a verify body; the token may instead come as
// "Authorization: Bearer <token>" with an empty body.
func DecodeVerify(r *http.Request) (VerifyRequest, error) {
	var req VerifyRequest
	if r.ContentLength == 0 && r.Header.Get("Authorization") != "" {
		tok, ok := BearerToken(r)
		if !ok {
			return req, platform.Errorf(http.StatusUnauthorized, "invalid_token", "Authorization header is not \"Bearer <token>\"")
		}
		req.Token = tok
		return req, nil
	}
	if err := decodeBody(r, &req); err != nil {
		return req, err
	}
	if req.Token == "" {
		return req, platform.Errorf(http.StatusBadRequest, "missing_field", "token is required")
	}
	return req, nil
}

// decodeBody is platform.ParseJSON plus the Content-Type check of
// platform.DecodeJSON, returning the error instead of writing it.
func decodeBody(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return platform.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q is not application/json", ct)
		}
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	return platform.ParseJSON(body, dst)
}

// BearerToken returns the token of an "Authorization: Bearer <token>" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Routes registers the identity API on mux.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/login", s.handleLogin)
	mux.HandleFunc("GET /v1/keys", s.handleKeys)
	mux.HandleFunc("POST /v1/verify", s.handleVerify)
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeLogin(r)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	token, c, err := s.Login(req.Username, req.Password)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, LoginResponse{Token: token, ExpiresAt: c.ExpiresAt(), User: c.Sub})
}

func (s *Service) handleKeys(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	platform.WriteJSON(w, http.StatusOK, s.Keys())
}

func (s *Service) handleVerify(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeVerify(r)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	c, err := s.Verify(req.Token)
	if err != nil {
		platform.WriteErr(w, tokenAPIError(err))
		return
	}
	platform.WriteJSON(w, http.StatusOK, VerifyResponse{Valid: true, Sub: c.Sub, Region: c.Region, ExpiresAt: c.ExpiresAt()})
}

// tokenAPIError maps a token error to its 401 answer.
func tokenAPIError(err error) error {
	code := "invalid_token"
	if errors.Is(err, ErrExpired) {
		code = "token_expired"
	}
	return platform.Errorf(http.StatusUnauthorized, code, "%v", err)
}

// Main runs the identity service: `storefront identity [flags]`.
func Main(ctx context.Context, args []string) error {
	fs := platform.NewFlagSet("identity")
	seedHex := fs.String("signing-seed", "", "ed25519 signing key seed, 64 hex digits (random when empty)")
	ttl := fs.Duration("token-ttl", DefaultTokenTTL, "how long a token is valid")
	cfg, err := fs.Parse(args, nil)
	if err != nil {
		return err
	}
	var seed []byte
	if *seedHex != "" {
		if seed, err = ParseSeed(*seedHex); err != nil {
			return fmt.Errorf("identity: %w", err)
		}
	}
	svc, err := NewService(seed, cfg.Region, *ttl)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	srv, err := platform.New(cfg)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	svc.Routes(srv.Mux)
	srv.Log.Info("identity ready", "kid", svc.KeyID(), "users", NumUsers, "token_ttl", ttl.String())
	return srv.Run(ctx)
}
