package gateway

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/outagelab/outagelab/services/platform"
)

// Limits on gateway input.
const (
	DefaultLimit   = 20
	MaxLimit       = 100
	MaxQueryLen    = 100
	MaxProductID   = 64
	MaxCartQty     = 100
	MaxCredentials = 128
)

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// CartItemRequest is the body of POST /api/cart/items.
type CartItemRequest struct {
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

// DecodeLogin reads and validates a login body. Errors are 4xx *platform.APIError.
func DecodeLogin(r io.Reader) (LoginRequest, error) {
	var req LoginRequest
	if err := platform.ParseJSON(r, &req); err != nil {
		return req, err
	}
	return req, validLogin(req)
}

func validLogin(req LoginRequest) error {
	if req.Username == "" || req.Password == "" {
		return platform.Errorf(http.StatusBadRequest, "missing_field", "username and password are required")
	}
	if len(req.Username) > MaxCredentials || len(req.Password) > MaxCredentials {
		return platform.Errorf(http.StatusBadRequest, "invalid_request", "username and password must be at most %d bytes", MaxCredentials)
	}
	return nil
}

// DecodeCartItem reads and validates an add-to-cart body.
func DecodeCartItem(r io.Reader) (CartItemRequest, error) {
	var req CartItemRequest
	if err := platform.ParseJSON(r, &req); err != nil {
		return req, err
	}
	return req, validCartItem(req)
}

func validCartItem(req CartItemRequest) error {
	if err := ValidProductID(req.ProductID); err != nil {
		return err
	}
	if req.Qty < 1 || req.Qty > MaxCartQty {
		return platform.Errorf(http.StatusBadRequest, "invalid_qty", "qty must be 1..%d", MaxCartQty)
	}
	return nil
}

// ValidProductID checks a product id: 1..64 of [A-Za-z0-9_-].
func ValidProductID(id string) error {
	if id == "" || len(id) > MaxProductID {
		return platform.Errorf(http.StatusBadRequest, "invalid_product_id", "product_id must be 1..%d characters", MaxProductID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return platform.Errorf(http.StatusBadRequest, "invalid_product_id", "product_id may hold only letters, digits, '-' and '_'")
		}
	}
	return nil
}

// ParseLimit reads ?limit= (default DefaultLimit, 1..MaxLimit).
func ParseLimit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, platform.Errorf(http.StatusBadRequest, "invalid_limit", "limit must be an integer 1..%d", MaxLimit)
	}
	return n, nil
}

// ParseQuery reads ?q= for search: trimmed, valid UTF-8, at most MaxQueryLen bytes.
func ParseQuery(q url.Values) (string, error) {
	s := strings.TrimSpace(q.Get("q"))
	if !utf8.ValidString(s) || len(s) > MaxQueryLen {
		return "", platform.Errorf(http.StatusBadRequest, "invalid_query", "q must be valid UTF-8 of at most %d bytes", MaxQueryLen)
	}
	return s, nil
}
