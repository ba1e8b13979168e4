package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A token is compact and self-contained:
//
//	base64url(payload JSON) "." base64url(ed25519 signature over the first part)
//
// The payload names the key that signed it (kid), so a verifier holding the
// published keys (GET /v1/keys) checks a token without calling identity.

// Claims is a token's payload.
type Claims struct {
	// Sub is the user name ("user0042").
	Sub string `json:"sub"`
	// Region is where the user logged in.
	Region string `json:"region"`
	// Kid identifies the signing key (see KeyID).
	Kid string `json:"kid"`
	// IssuedAt and Expires are Unix seconds.
	IssuedAt int64 `json:"iat"`
	Expires  int64 `json:"exp"`
}

// ExpiresAt is Expires as a time.
func (c Claims) ExpiresAt() time.Time { return time.Unix(c.Expires, 0).UTC() }

// MaxTokenBytes bounds a token before any decoding work.
const MaxTokenBytes = 2048

// Token errors. ErrExpired, ErrBadSignature and ErrUnknownKey all wrap
// ErrInvalidToken, so errors.Is(err, ErrInvalidToken) says "the caller's
// fault: answer 401".
var (
	ErrInvalidToken = errors.New("invalid token")
	ErrMalformed    = fmt.Errorf("%w: malformed", ErrInvalidToken)
	ErrBadSignature = fmt.Errorf("%w: bad signature", ErrInvalidToken)
	ErrExpired      = fmt.Errorf("%w: expired", ErrInvalidToken)
	ErrUnknownKey   = fmt.Errorf("%w: signed by an unknown key", ErrInvalidToken)
)

// KeyID names a public key: the first 8 bytes of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

var b64 = base64.RawURLEncoding

// Sign returns the compact token of c signed with priv; c.Kid is set from
// priv's public key.
func Sign(priv ed25519.PrivateKey, c Claims) (string, error) {
	c.Kid = KeyID(priv.Public().(ed25519.PublicKey))
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	head := b64.EncodeToString(payload)
	sig := ed25519.Sign(priv, []byte(head))
	return head + "." + b64.EncodeToString(sig), nil
}

// Parsed is a token split and decoded but not yet verified.
type Parsed struct {
	Claims    Claims
	signed    []byte // the base64 payload part, which the signature covers
	signature []byte
}

// Parse splits and decodes token without checking its signature or expiry.
// Every failure wraps ErrMalformed.
func Parse(token string) (*Parsed, error) {
	if len(token) == 0 {
		return nil, fmt.Errorf("%w: empty token", ErrMalformed)
	}
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenBytes)
	}
	head, sigPart, ok := strings.Cut(token, ".")
	if !ok || strings.Contains(sigPart, ".") {
		return nil, fmt.Errorf("%w: want two dot-separated parts", ErrMalformed)
	}
	payload, err := b64.DecodeString(head)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	sig, err := b64.DecodeString(sigPart)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is not %d base64url bytes", ErrMalformed, ed25519.SignatureSize)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var c Claims
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: payload has trailing data", ErrMalformed)
	}
	if c.Sub == "" || c.Kid == "" || c.Expires == 0 {
		return nil, fmt.Errorf("%w: payload lacks sub, kid or exp", ErrMalformed)
	}
	return &Parsed{Claims: c, signed: []byte(head), signature: sig}, nil
}

// VerifyWith checks the signature with the key the token names (looked up
// in keys by kid) and that the token has not expired at now.
func (p *Parsed) VerifyWith(keys map[string]ed25519.PublicKey, now time.Time) (Claims, error) {
	pub, ok := keys[p.Claims.Kid]
	if !ok {
		return Claims{}, fmt.Errorf("%w (kid %q)", ErrUnknownKey, p.Claims.Kid)
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, p.signed, p.signature) {
		return Claims{}, ErrBadSignature
	}
	if now.Unix() >= p.Claims.Expires {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, p.Claims.ExpiresAt().Format(time.RFC3339))
	}
	return p.Claims, nil
}

// Verify parses token and verifies it against keys at now.
func Verify(token string, keys map[string]ed25519.PublicKey, now time.Time) (Claims, error) {
	p, err := Parse(token)
	if err != nil {
		return Claims{}, err
	}
	return p.VerifyWith(keys, now)
}

// Key is one published public key (GET /v1/keys).
type Key struct {
	Kid       string `json:"kid"`
	Alg       string `json:"alg"`
	PublicKey string `json:"public_key"` // base64url, 32 bytes
}

// KeySet is the body of GET /v1/keys.
type KeySet struct {
	Keys []Key `json:"keys"`
}

// Map decodes the key set into kid → key, checking every kid matches its key.
func (ks KeySet) Map() (map[string]ed25519.PublicKey, error) {
	out := make(map[string]ed25519.PublicKey, len(ks.Keys))
	for _, k := range ks.Keys {
		if k.Alg != "EdDSA" {
			return nil, fmt.Errorf("key %q: alg %q is not EdDSA", k.Kid, k.Alg)
		}
		b, err := b64.DecodeString(k.PublicKey)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %q: public_key is not %d base64url bytes", k.Kid, ed25519.PublicKeySize)
		}
		pub := ed25519.PublicKey(b)
		if KeyID(pub) != k.Kid {
			return nil, fmt.Errorf("key %q: kid does not match the key (want %s)", k.Kid, KeyID(pub))
		}
		out[k.Kid] = pub
	}
	if len(out) == 0 {
		return nil, errors.New("key set is empty")
	}
	return out, nil
}

// PublishKey returns the Key that publishes pub.
func PublishKey(pub ed25519.PublicKey) Key {
	return Key{Kid: KeyID(pub), Alg: "EdDSA", PublicKey: b64.EncodeToString(pub)}
}
