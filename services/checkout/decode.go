package checkout

import (
	"io"
	"net/http"
	"strings"

	"github.com/outagelab/outagelab/services/orders"
	"github.com/outagelab/outagelab/services/platform"
)

// Request is one checkout: who (the bearer token), which cart (the region)
// and the client's idempotency key.
type Request struct {
	Token          string `json:"-"`
	IdempotencyKey string `json:"idempotency_key"`
	Region         string `json:"region"`
}

// DecodeRequest reads a checkout request: the Authorization bearer token,
// the Idempotency-Key header (or body field) and the region (X-Region
// header, else the body field). The body is optional. Every error is a 4xx
// *platform.APIError.
func DecodeRequest(body io.Reader, hdr http.Header) (Request, error) {
	var req Request
	b, err := io.ReadAll(io.LimitReader(body, platform.MaxBodyBytes+1))
	if err != nil {
		return req, platform.Errorf(http.StatusBadRequest, "bad_body", "read body: %v", err)
	}
	if len(b) > platform.MaxBodyBytes {
		return req, platform.Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body is over %d bytes", platform.MaxBodyBytes)
	}
	if strings.TrimSpace(string(b)) != "" {
		if err := platform.ParseJSON(strings.NewReader(string(b)), &req); err != nil {
			return req, err
		}
	}
	tok, err := BearerToken(hdr.Get("Authorization"))
	if err != nil {
		return req, err
	}
	req.Token = tok
	if k := hdr.Get("Idempotency-Key"); k != "" {
		req.IdempotencyKey = k
	}
	if err := orders.ValidKey(req.IdempotencyKey); err != nil {
		return req, err
	}
	if r := hdr.Get("X-Region"); r != "" {
		req.Region = r
	}
	if len(req.Region) > 32 {
		return req, platform.Errorf(http.StatusBadRequest, "unknown_region", "region is longer than 32 characters")
	}
	return req, nil
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header.
func BearerToken(h string) (string, error) {
	if h == "" {
		return "", platform.Errorf(http.StatusUnauthorized, "missing_token", "log in first: send Authorization: Bearer <token>")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 4096 {
		return "", platform.Errorf(http.StatusUnauthorized, "invalid_token", "Authorization must be \"Bearer <token>\"")
	}
	return tok, nil
}
