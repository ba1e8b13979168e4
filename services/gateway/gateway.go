// Package gateway is the storefront's front door: HTML pages a person can
// use and the JSON API the load generator drives (CONTRACT.md "Gateway
// API"), aggregating catalog, recommendations, cart, identity and checkout.
//
//	browser / load ─▶ gateway ─┬─▶ catalog          (fallback: stale cache → X-Degraded: catalog-cache)
//	                           ├─▶ recommendations  (fallback: none shown → X-Degraded: recommendations)
//	                           ├─▶ identity         (hardened: cached key → X-Degraded: session-cache;
//	                           │                     logins through the region's identity first)
//	                           ├─▶ cart
//	                           └─▶ checkout         (hardened: 503 checkout_unavailable; fragile: 502)
//
// Fallbacks are served only where the dependency's policy allows them
// (hardened); under fragile every failure surfaces as a 5xx.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/outagelab/outagelab/services/identity"
	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// CookieName holds the session token of the HTML pages.
const CookieName = "sf_token"

// Gateway serves the pages and the API.
type Gateway struct {
	catalog, recs, cart, identity, checkout *resilience.Dependency
	// identityRegional is this region's identity replica (dependency
	// "identity-regional"), nil where identity is the region's own. A
	// hardened gateway logs in and fetches keys through it first, so its
	// shoppers do not need another region's identity (static stability);
	// fragile uses the global identity only, as naive code does.
	identityRegional *resilience.Dependency
	// identityFailover is another region's replica (dependency
	// "identity-failover") a hardened gateway logs in through when the
	// identities before it cannot answer; nil under fragile.
	identityFailover *resilience.Dependency

	verifier *identity.Verifier
	cache    *staleCache
	pages    *pages
	region   string
	log      *slog.Logger
}

// Main runs the gateway until ctx ends or SIGTERM arrives.
func Main(ctx context.Context, args []string) error {
	srv, err := Setup(ctx, args)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// Setup parses args and builds the gateway without serving it.
func Setup(ctx context.Context, args []string) (*platform.Server, error) {
	fs := platform.NewFlagSet("gateway")
	cacheAge := fs.Duration("catalog-cache-max-age", 5*time.Minute,
		"oldest catalog answer served from the fallback cache when the catalog fails")
	cfg, err := fs.Parse(args, nil)
	if err != nil {
		return nil, err
	}
	if *cacheAge < 0 {
		return nil, fmt.Errorf("gateway: --catalog-cache-max-age must be ≥ 0")
	}
	srv, err := platform.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g, err := New(srv, *cacheAge)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.Register(srv.Mux)
	go func() {
		if g.verifier.Mode() != identity.ModeLocal {
			return
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := g.verifier.Refresh(wctx); err != nil {
			g.log.Warn("could not prefetch identity keys; will retry on first use", "error", err.Error())
		}
	}()
	return srv, nil
}

// New builds the gateway on srv's dependencies.
func New(srv *platform.Server, cacheAge time.Duration) (*Gateway, error) {
	g := &Gateway{cache: newStaleCache(cacheAge, 4096), region: srv.Config.Region, log: srv.Log}
	for _, d := range []struct {
		name string
		dst  **resilience.Dependency
	}{{"catalog", &g.catalog}, {"recommendations", &g.recs}, {"cart", &g.cart}, {"identity", &g.identity}, {"checkout", &g.checkout}} {
		dep, err := srv.Dependency(d.name)
		if err != nil {
			return nil, err
		}
		*d.dst = dep
	}
	// Ready when what browsing needs answers; recommendations are optional,
	// and checkout/identity live in another region for eu-west-1.
	srv.AddReadiness("catalog", platform.HTTPReadiness(g.catalog))
	srv.AddReadiness("cart", platform.HTTPReadiness(g.cart))
	for _, d := range []struct {
		name string
		dst  **resilience.Dependency
	}{{DepRegionalIdentity, &g.identityRegional}, {DepFailoverIdentity, &g.identityFailover}} {
		if _, ok := srv.Config.Deps[d.name]; !ok {
			continue
		}
		dep, err := srv.Dependency(d.name)
		if err != nil {
			return nil, err
		}
		if dep.FallbackAllowed() { // hardened: use the replica; fragile: never
			*d.dst = dep
		}
	}
	v, err := identity.NewVerifier(g.identityFirst(), identity.VerifierOptions{})
	if err != nil {
		return nil, err
	}
	g.verifier = v
	g.pages, err = newPages()
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Dependency names of identity replicas: the region's own, and another
// region's to fail over to.
const (
	DepRegionalIdentity = "identity-regional"
	DepFailoverIdentity = "identity-failover"
)

// identityFirst is the identity to ask first: the region's replica when the
// policy uses it, else the global identity.
func (g *Gateway) identityFirst() *resilience.Dependency {
	if g.identityRegional != nil {
		return g.identityRegional
	}
	return g.identity
}

// identities lists the identities to log in through, in order: the
// region's replica (hardened), the global identity, another region's
// replica (hardened). Fragile: the global identity only.
func (g *Gateway) identities() []*resilience.Dependency {
	var out []*resilience.Dependency
	for _, d := range []*resilience.Dependency{g.identityRegional, g.identity, g.identityFailover} {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// Register adds the API and page routes to mux.
func (g *Gateway) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/products", g.apiProducts)
	mux.HandleFunc("GET /api/search", g.apiSearch)
	mux.HandleFunc("GET /api/products/{id}", g.apiProduct)
	mux.HandleFunc("POST /api/login", g.apiLogin)
	mux.HandleFunc("GET /api/cart", g.apiCart)
	mux.HandleFunc("POST /api/cart/items", g.apiAddToCart)
	mux.HandleFunc("POST /api/checkout", g.apiCheckout)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		platform.WriteError(w, http.StatusNotFound, "not_found", "no API route "+r.Method+" "+r.URL.Path)
	})

	mux.HandleFunc("GET /{$}", g.pageHome)
	mux.HandleFunc("GET /products/{id}", g.pageProduct)
	mux.HandleFunc("GET /cart", g.pageCart)
	mux.HandleFunc("POST /cart/items", g.pageAddToCart)
	mux.HandleFunc("GET /checkout", g.pageCheckout)
	mux.HandleFunc("POST /checkout", g.pagePlaceOrder)
	mux.HandleFunc("GET /orders/{id}", g.pageOrder)
	mux.HandleFunc("GET /login", g.pageLogin)
	mux.HandleFunc("POST /login", g.pageDoLogin)
	mux.HandleFunc("POST /logout", g.pageLogout)
}

// session is a verified user.
type session struct {
	user  string
	token string
}

// verify checks token. Invalid tokens are 401; an unreachable identity is
// 503 (hardened) or 502 (fragile). A token verified with a stale cached key
// marks the request degraded "session-cache".
func (g *Gateway) verify(ctx context.Context, token string, deg *degraded) (session, error) {
	if token == "" {
		return session{}, platform.Errorf(http.StatusUnauthorized, "missing_token", "log in first: send Authorization: Bearer <token>")
	}
	s, err := g.verifier.Verify(ctx, token)
	switch {
	case err == nil:
		if s.Degraded {
			deg.add("session-cache")
		}
		return session{user: s.Sub, token: token}, nil
	case errors.Is(err, identity.ErrExpired):
		return session{}, platform.Errorf(http.StatusUnauthorized, "token_expired", "your session expired: log in again")
	case errors.Is(err, identity.ErrInvalidToken):
		return session{}, platform.Errorf(http.StatusUnauthorized, "invalid_token", "invalid token: log in again")
	}
	return session{}, depFailed(g.identity, "identity_unavailable", err)
}

// apiToken reads "Authorization: Bearer <token>".
func apiToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", platform.Errorf(http.StatusUnauthorized, "invalid_token", "Authorization must be \"Bearer <token>\"")
	}
	return tok, nil
}

func setDegraded(w http.ResponseWriter, deg degraded) {
	if len(deg) > 0 {
		w.Header().Set("X-Degraded", strings.Join(deg, ","))
	}
}

// writeAPI writes v (or err) with the X-Degraded header.
func writeAPI(w http.ResponseWriter, deg degraded, v any, err error) {
	setDegraded(w, deg)
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, v)
}
