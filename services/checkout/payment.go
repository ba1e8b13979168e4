package checkout

import (
	"context"
	"net/http"

	"github.com/outagelab/outagelab/services/orders"
	"github.com/outagelab/outagelab/services/payment"
	"github.com/outagelab/outagelab/services/platform"
)

// pay authorises and captures the order's total with the checkout's
// idempotency key, so a retried checkout never charges twice; it returns
// the charge id. Before a capture can have happened, a failure releases
// the reservation (compensation); after an ambiguous capture failure the
// reservation is kept for the client's retry (same key, no new charge).
func (s *Service) pay(ctx context.Context, key string, o orders.Order) (string, error) {
	hdr := http.Header{"Idempotency-Key": {key}}
	var auth payment.Authorization
	err := s.payment.CallJSON(ctx, http.MethodPost, "/v1/authorize", hdr,
		payment.AuthorizeRequest{AmountCents: o.TotalCents, Currency: "USD", Reference: o.ID}, &auth)
	if he := remote(err); he != nil {
		if he.Code == "request_in_progress" {
			// A concurrent attempt with this key is still running: it may
			// capture, so keep the reservation.
			return "", platform.Errorf(http.StatusConflict, "checkout_in_progress",
				"a checkout with this Idempotency-Key is still running: retry shortly with the same key")
		}
		s.cancel(ctx, o, err)
		return "", platform.Errorf(http.StatusPaymentRequired, "payment_declined", "payment was declined: %s", he.Message)
	}
	if err != nil {
		// Nothing was captured (an authorisation alone charges nobody): release.
		s.cancel(ctx, o, err)
		return "", s.unavailable(s.payment, err)
	}
	var charge payment.Charge
	err = s.payment.CallJSON(ctx, http.MethodPost, "/v1/capture", hdr,
		payment.CaptureRequest{AuthorizationID: auth.ID, AmountCents: o.TotalCents}, &charge)
	if he := remote(err); he != nil {
		if he.Code == "request_in_progress" {
			return "", platform.Errorf(http.StatusConflict, "checkout_in_progress",
				"a checkout with this Idempotency-Key is still running: retry shortly with the same key")
		}
		s.cancel(ctx, o, err)
		return "", platform.Errorf(http.StatusPaymentRequired, "payment_declined", "payment capture was refused: %s", he.Message)
	}
	if err != nil {
		// Ambiguous: the provider may have captured. Keep the reservation;
		// a retry with the same key replays the capture instead of charging.
		return "", s.unavailable(s.payment, err)
	}
	return charge.ID, nil
}
