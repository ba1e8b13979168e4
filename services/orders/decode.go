package orders

import (
	"io"
	"net/http"
	"strings"

	"github.com/outagelab/outagelab/services/platform"
)

// Limits on a reservation request.
const (
	MaxItems     = 100
	MaxQty       = 1000
	MaxKeyLen    = 200
	MaxIDLen     = 64
	MaxUserIDLen = 128
)

// ReservationRequest is the body of POST /v1/reservations. The idempotency
// key may come in the body or in the Idempotency-Key header (header wins).
type ReservationRequest struct {
	IdempotencyKey string `json:"idempotency_key"`
	UserID         string `json:"user_id"`
	Items          []Item `json:"items"`
}

// ConfirmRequest is the optional body of POST /v1/orders/{id}/confirm.
type ConfirmRequest struct {
	PaymentID string `json:"payment_id"`
}

// DecodeReservation reads and validates a reservation body. headerKey is
// the Idempotency-Key header ("" when absent). Items come back merged by
// product id and sorted. Every error is a 4xx *platform.APIError.
func DecodeReservation(r io.Reader, headerKey string) (ReservationRequest, error) {
	var req ReservationRequest
	if err := platform.ParseJSON(r, &req); err != nil {
		return req, err
	}
	if headerKey != "" {
		req.IdempotencyKey = headerKey
	}
	if err := ValidKey(req.IdempotencyKey); err != nil {
		return req, err
	}
	if req.UserID == "" || len(req.UserID) > MaxUserIDLen {
		return req, invalid("user_id must be 1..%d characters", MaxUserIDLen)
	}
	if len(req.Items) == 0 {
		return req, invalid("items must not be empty")
	}
	if len(req.Items) > MaxItems {
		return req, invalid("at most %d items per order", MaxItems)
	}
	for _, it := range req.Items {
		if it.ProductID == "" || len(it.ProductID) > MaxIDLen {
			return req, invalid("product_id must be 1..%d characters", MaxIDLen)
		}
		if it.Qty < 1 || it.Qty > MaxQty {
			return req, invalid("qty for %q must be 1..%d", it.ProductID, MaxQty)
		}
	}
	req.Items = normaliseItems(req.Items)
	for _, it := range req.Items {
		if it.Qty > MaxQty {
			return req, invalid("qty for %q must be 1..%d in total", it.ProductID, MaxQty)
		}
	}
	return req, nil
}

// DecodeConfirm reads the optional confirm body; an empty body is allowed.
func DecodeConfirm(r io.Reader) (ConfirmRequest, error) {
	var req ConfirmRequest
	b, err := io.ReadAll(io.LimitReader(r, platform.MaxBodyBytes+1))
	if err != nil {
		return req, platform.Errorf(http.StatusBadRequest, "bad_body", "read body: %v", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return req, nil
	}
	if err := platform.ParseJSON(strings.NewReader(string(b)), &req); err != nil {
		return req, err
	}
	if len(req.PaymentID) > MaxKeyLen {
		return req, invalid("payment_id longer than %d characters", MaxKeyLen)
	}
	return req, nil
}

// ValidKey checks an idempotency key: 1..200 printable ASCII characters
// without spaces.
func ValidKey(k string) error {
	if k == "" {
		return platform.Errorf(http.StatusBadRequest, "missing_idempotency_key",
			"idempotency key missing: send an Idempotency-Key header")
	}
	if len(k) > MaxKeyLen {
		return platform.Errorf(http.StatusBadRequest, "invalid_idempotency_key",
			"Idempotency-Key is longer than %d characters", MaxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return platform.Errorf(http.StatusBadRequest, "invalid_idempotency_key",
				"Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}

func invalid(format string, args ...any) error {
	return platform.Errorf(http.StatusBadRequest, "invalid_request", format, args...)
}
