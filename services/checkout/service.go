package checkout

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/outagelab/outagelab/services/orders"
	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// Result is the answer of a successful checkout.
type Result struct {
	OrderID    string        `json:"order_id"`
	Status     string        `json:"status"`
	TotalCents int64         `json:"total_cents"`
	Items      []orders.Item `json:"items"`
	// Replayed is true when the idempotency key had already completed: the
	// earlier order is returned and nothing was charged again.
	Replayed bool `json:"replayed"`
}

// Service orchestrates one checkout across identity, cart, orders and payment.
type Service struct {
	auth    *authenticator
	carts   map[string]*resilience.Dependency // region → cart dependency
	orders  *resilience.Dependency
	payment *resilience.Dependency
	region  string // default cart region
	log     *slog.Logger
	keys    keyLocks
}

// unavailable is the answer when a dependency failed: 503
// checkout_unavailable where the dependency's policy allows a fallback
// (hardened), 502 dependency_failed otherwise (fragile).
func (s *Service) unavailable(d *resilience.Dependency, err error) error {
	dep := d.Name()
	s.log.Warn("checkout dependency failed", "dependency", dep, "outcome", resilience.Classify(err), "error", err.Error())
	if d.FallbackAllowed() {
		return platform.Errorf(http.StatusServiceUnavailable, "checkout_unavailable",
			"checkout is unavailable: %s did not answer (%s); nothing was charged twice, retry with the same Idempotency-Key",
			dep, resilience.Classify(err))
	}
	return platform.Errorf(http.StatusBadGateway, "dependency_failed", "%s failed: %s", dep, resilience.Classify(err))
}

// remote returns the callee's own 4xx answer (status and code) when err is
// one, else nil.
func remote(err error) *resilience.HTTPError {
	var he *resilience.HTTPError
	if errors.As(err, &he) && he.Status < 500 {
		return he
	}
	return nil
}

// Checkout runs one checkout. Every error is an *platform.APIError.
//
//  1. verify the token (identity, or locally with the cached key)
//  2. read the cart of the region
//  3. reserve stock under the idempotency key (a retry gets the same order)
//  4. authorise and capture the payment with the same key (charged once)
//  5. confirm the order (committed before we answer), then clear the cart
//
// Compensation: when the payment is refused or fails before capture, the
// reservation is cancelled and its stock released. After a capture the
// order is never cancelled: a failed confirmation is retried by the client
// with the same key, which resumes at step 4 without charging again.
func (s *Service) Checkout(ctx context.Context, req Request) (Result, error) {
	user, err := s.auth.verify(ctx, req.Token)
	if err != nil {
		return Result{}, err
	}
	region := req.Region
	if region == "" {
		region = s.region
	}
	cart, ok := s.carts[region]
	if !ok {
		return Result{}, platform.Errorf(http.StatusBadRequest, "unknown_region", "unknown region %q: use one of %s", region, s.regionList())
	}

	unlock := s.keys.lock(req.IdempotencyKey)
	defer unlock()

	items, err := s.cartItems(ctx, cart, req.Token, user)
	if err != nil {
		return Result{}, err
	}
	var o orders.Order
	if len(items) == 0 {
		// An empty cart may be a retry of a checkout that already emptied it.
		o, err = s.orderByKey(ctx, req.IdempotencyKey)
		if err != nil {
			return Result{}, err
		}
	} else {
		o, err = s.reserve(ctx, req.IdempotencyKey, user, items)
		if err != nil {
			return Result{}, err
		}
	}
	if o.UserID != user {
		return Result{}, platform.Errorf(http.StatusConflict, "idempotency_key_reused",
			"this Idempotency-Key belongs to another checkout: use a new key")
	}
	switch o.Status {
	case orders.StatusConfirmed:
		return resultOf(o, true), nil
	case orders.StatusCancelled:
		return Result{}, platform.Errorf(http.StatusConflict, "checkout_failed",
			"an earlier checkout with this Idempotency-Key failed and was rolled back (order %s): start a new checkout with a new key", o.ID)
	}

	paymentID, err := s.pay(ctx, req.IdempotencyKey, o)
	if err != nil {
		return Result{}, err
	}
	var confirmed orders.Order
	// Confirm and cancel are idempotent; the key header lets the policy retry them.
	err = s.orders.CallJSON(ctx, http.MethodPost, "/v1/orders/"+url.PathEscape(o.ID)+"/confirm", keyHeader(req.IdempotencyKey),
		orders.ConfirmRequest{PaymentID: paymentID}, &confirmed)
	if err != nil {
		// Paid but not confirmed: keep the reservation (never cancel after a
		// capture); a retry with the same key confirms without a new charge.
		s.log.Error("payment captured but order not confirmed", "order_id", o.ID, "error", err.Error())
		return Result{}, s.unavailable(s.orders, err)
	}
	if err := s.clearCart(ctx, cart, req.Token, user); err != nil {
		// The order stands; a stale cart is a nuisance, not a failure.
		s.log.Warn("clear cart failed after checkout", "order_id", o.ID, "error", err.Error())
	}
	return resultOf(confirmed, false), nil
}

func resultOf(o orders.Order, replayed bool) Result {
	return Result{OrderID: o.ID, Status: o.Status, TotalCents: o.TotalCents, Items: o.Items, Replayed: replayed}
}

func keyHeader(key string) http.Header { return http.Header{"Idempotency-Key": {key}} }

func (s *Service) reserve(ctx context.Context, key, user string, items []orders.Item) (orders.Order, error) {
	var o orders.Order
	hdr := keyHeader(key)
	err := s.orders.CallJSON(ctx, http.MethodPost, "/v1/reservations", hdr,
		orders.ReservationRequest{IdempotencyKey: key, UserID: user, Items: items}, &o)
	if he := remote(err); he != nil {
		switch he.Code {
		case "out_of_stock", "unknown_product":
			return o, platform.Errorf(http.StatusConflict, he.Code, "%s", he.Message)
		}
		return o, platform.Errorf(http.StatusBadRequest, "invalid_cart", "orders refused the cart: %s", he.Message)
	}
	if err != nil {
		return o, s.unavailable(s.orders, err)
	}
	return o, nil
}

func (s *Service) orderByKey(ctx context.Context, key string) (orders.Order, error) {
	var o orders.Order
	err := s.orders.CallJSON(ctx, http.MethodGet, "/v1/orders?idempotency_key="+url.QueryEscape(key), nil, nil, &o)
	if he := remote(err); he != nil && he.Status == http.StatusNotFound {
		return o, platform.Errorf(http.StatusBadRequest, "cart_empty", "your cart is empty: add products before checking out")
	}
	if err != nil {
		return o, s.unavailable(s.orders, err)
	}
	return o, nil
}

// cancel releases a reservation (compensation). It runs on a context that
// outlives the client's: the stock must come back even if the client left.
func (s *Service) cancel(ctx context.Context, o orders.Order, why error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.orders.CallJSON(cctx, http.MethodPost, "/v1/orders/"+url.PathEscape(o.ID)+"/cancel", keyHeader(o.IdempotencyKey), nil, nil)
	if err != nil {
		s.log.Error("compensation failed: reservation not released", "order_id", o.ID, "cause", why.Error(), "error", err.Error())
		return
	}
	s.log.Info("reservation released", "order_id", o.ID, "cause", why.Error())
}

func (s *Service) regionList() string {
	out := ""
	for r := range s.carts {
		if out != "" {
			out += ", "
		}
		out += r
	}
	return out
}

// Cart calls: the cart service keys carts by user; checkout passes the
// verified user and the client's bearer token along.
func cartPath(user string) string { return "/v1/carts/" + url.PathEscape(user) }

type cartAnswer struct {
	Items []orders.Item `json:"items"`
}

func (s *Service) cartItems(ctx context.Context, cart *resilience.Dependency, token, user string) ([]orders.Item, error) {
	var c cartAnswer
	err := cart.CallJSON(ctx, http.MethodGet, cartPath(user), http.Header{"Authorization": {"Bearer " + token}}, nil, &c)
	if he := remote(err); he != nil {
		return nil, platform.Errorf(he.Status, he.Code, "%s", he.Message)
	}
	if err != nil {
		return nil, s.unavailable(cart, err)
	}
	return c.Items, nil
}

func (s *Service) clearCart(ctx context.Context, cart *resilience.Dependency, token, user string) error {
	return cart.CallJSON(ctx, http.MethodDelete, cartPath(user), http.Header{"Authorization": {"Bearer " + token}}, nil, nil)
}
