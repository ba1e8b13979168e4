// Package checkout is the storefront's checkout service: it orchestrates
// one purchase across identity, the region's cart, orders and payment, with
// the client's idempotency key carried end to end.
//
//	client ─POST /v1/checkout (Bearer, Idempotency-Key, X-Region)─▶ checkout
//	   1 identity  verify token (hardened: locally with the cached key)
//	   2 cart-<region>  read the user's cart
//	   3 orders   POST /v1/reservations        (Idempotency-Key) ─┐ compensation:
//	   4 payment  POST /v1/authorize, /capture (Idempotency-Key)  ├▶ POST /v1/orders/{id}/cancel
//	   5 orders   POST /v1/orders/{id}/confirm                   ─┘ (only before a capture)
//	   6 cart-<region>  clear (best effort)
//
// A retried checkout (same key) returns the same order and never charges
// twice: the orders service keeps the key unique, payment deduplicates by
// the key, and a checkout that stopped half-way resumes where it stopped.
package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/outagelab/outagelab/services/identity"
	"github.com/outagelab/outagelab/services/orders"
	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// Regions whose cart a checkout can read (dependency "cart-<region>").
var Regions = []string{"us-east-1", "eu-west-1"}

// Main runs the checkout service until ctx ends or SIGTERM arrives.
func Main(ctx context.Context, args []string) error {
	srv, err := Setup(ctx, args)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// Setup parses args and builds the service without serving it.
func Setup(ctx context.Context, args []string) (*platform.Server, error) {
	fs := platform.NewFlagSet("checkout")
	cfg, err := fs.Parse(args, nil)
	if err != nil {
		return nil, err
	}
	srv, err := platform.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	svc, err := New(srv)
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	svc.Register(srv.Mux)
	go func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		svc.auth.warm(wctx)
	}()
	return srv, nil
}

// New builds the service on srv's dependencies: identity, orders, payment
// and at least one of cart-us-east-1, cart-eu-west-1.
func New(srv *platform.Server) (*Service, error) {
	s := &Service{carts: map[string]*resilience.Dependency{}, region: srv.Config.Region, log: srv.Log}
	var err error
	for _, name := range []string{"identity", "orders", "payment"} {
		d, derr := srv.Dependency(name)
		if derr != nil {
			return nil, derr
		}
		srv.AddReadiness(name, platform.HTTPReadiness(d))
		switch name {
		case "identity":
			s.auth, err = newAuthenticator(d, srv.Log)
			if err != nil {
				return nil, err
			}
		case "orders":
			s.orders = d
		case "payment":
			s.payment = d
		}
	}
	for _, r := range Regions {
		name := "cart-" + r
		if _, ok := srv.Config.Deps[name]; !ok {
			continue
		}
		d, err := srv.Dependency(name)
		if err != nil {
			return nil, err
		}
		s.carts[r] = d
		srv.AddReadiness(name, platform.HTTPReadiness(d))
	}
	if len(s.carts) == 0 {
		return nil, fmt.Errorf("no cart configured: pass --dep cart-us-east-1=URL and/or --dep cart-eu-west-1=URL")
	}
	if _, ok := s.carts[s.region]; !ok {
		for r := range s.carts {
			s.region = r // default to a region we have
			break
		}
	}
	return s, nil
}

// Register adds the routes to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/checkout", s.handleCheckout)
	mux.HandleFunc("GET /v1/orders/{id}", s.handleOrder)
}

func (s *Service) handleCheckout(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeRequest(r.Body, r.Header)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	res, err := s.Checkout(r.Context(), req)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, res)
}

// handleOrder shows one of the caller's orders (the gateway's confirmation
// page reads it here: the gateway has no orders dependency).
func (s *Service) handleOrder(w http.ResponseWriter, r *http.Request) {
	tok, err := BearerToken(r.Header.Get("Authorization"))
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	user, err := s.auth.verify(r.Context(), tok)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	id := r.PathValue("id")
	if id == "" || len(id) > orders.MaxIDLen || strings.ContainsAny(id, "/?#") {
		platform.WriteError(w, http.StatusBadRequest, "invalid_request", "order id must be 1..64 characters")
		return
	}
	var o orders.Order
	err = s.orders.CallJSON(r.Context(), http.MethodGet, "/v1/orders/"+id, nil, nil, &o)
	if he := remote(err); he != nil {
		platform.WriteError(w, he.Status, he.Code, he.Message)
		return
	}
	if err != nil {
		platform.WriteErr(w, s.unavailable(s.orders, err))
		return
	}
	if o.UserID != user {
		// Someone else's order: as good as absent.
		platform.WriteError(w, http.StatusNotFound, "order_not_found", "no such order")
		return
	}
	platform.WriteJSON(w, http.StatusOK, o)
}

// authenticator turns a bearer token into a user name: locally with the
// cached signing key where identity's policy allows a fallback (hardened),
// by asking identity otherwise (fragile). See identity.Verifier.
type authenticator struct {
	v   *identity.Verifier
	dep *resilience.Dependency
	log *slog.Logger
}

func newAuthenticator(dep *resilience.Dependency, log *slog.Logger) (*authenticator, error) {
	v, err := identity.NewVerifier(dep, identity.VerifierOptions{})
	if err != nil {
		return nil, err
	}
	return &authenticator{v: v, dep: dep, log: log}, nil
}

// warm fetches identity's keys once at start (best effort) so a local
// verifier can ride out an identity outage that begins later.
func (a *authenticator) warm(ctx context.Context) {
	if a.v.Mode() != identity.ModeLocal {
		return
	}
	if err := a.v.Refresh(ctx); err != nil {
		a.log.Warn("could not prefetch identity keys; will retry on first use", "error", err.Error())
	}
}

func (a *authenticator) verify(ctx context.Context, token string) (string, error) {
	sess, err := a.v.Verify(ctx, token)
	switch {
	case err == nil:
		return sess.Sub, nil
	case errors.Is(err, identity.ErrExpired):
		return "", platform.Errorf(http.StatusUnauthorized, "token_expired", "your session expired: log in again")
	case errors.Is(err, identity.ErrInvalidToken):
		return "", platform.Errorf(http.StatusUnauthorized, "invalid_token", "invalid token: log in again")
	}
	a.log.Warn("token verification failed", "error", err.Error())
	if a.dep.FallbackAllowed() {
		return "", platform.Errorf(http.StatusServiceUnavailable, "checkout_unavailable",
			"checkout is unavailable: identity could not verify your session; retry shortly")
	}
	return "", platform.Errorf(http.StatusBadGateway, "dependency_failed", "identity failed: %s", resilience.Classify(err))
}
