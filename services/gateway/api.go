package gateway

import (
	"net/http"
	"time"

	"github.com/outagelab/outagelab/services/identity"
	"github.com/outagelab/outagelab/services/orders"
	"github.com/outagelab/outagelab/services/platform"
)

func (g *Gateway) apiProducts(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	limit, err := ParseLimit(r.URL.Query())
	if err != nil {
		writeAPI(w, deg, nil, err)
		return
	}
	p, err := g.listProducts(r.Context(), limit, &deg)
	writeAPI(w, deg, map[string]any{"products": p}, err)
}

func (g *Gateway) apiSearch(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		writeAPI(w, deg, nil, err)
		return
	}
	p, err := g.searchProducts(r.Context(), q, &deg)
	writeAPI(w, deg, map[string]any{"products": p}, err)
}

func (g *Gateway) apiProduct(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	id := r.PathValue("id")
	if err := ValidProductID(id); err != nil {
		writeAPI(w, deg, nil, err)
		return
	}
	p, err := g.getProduct(r.Context(), id, &deg)
	if err != nil {
		writeAPI(w, deg, nil, err)
		return
	}
	recs, err := g.recommendations(r.Context(), id, &deg)
	writeAPI(w, deg, map[string]any{"product": p, "recommendations": recs}, err)
}

// LoginResponse is the answer of POST /api/login.
type LoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// login calls identity (hardened: the region's replica, the global one,
// another region's replica, each when the one before cannot answer); bad
// credentials are 401.
func (g *Gateway) login(r *http.Request, req LoginRequest) (LoginResponse, error) {
	var (
		out identity.LoginResponse
		err error
	)
	// Next identity only when this one could not answer: its own 4xx
	// (bad credentials) is the answer.
	for i, dep := range g.identities() {
		if i > 0 {
			g.log.Warn("identity failed; logging in through the next one", "failed", g.identities()[i-1].Name(), "next", dep.Name(), "error", err.Error())
		}
		out, err = identity.Login(r.Context(), dep, req.Username, req.Password)
		if err == nil || remote4xx(err) != nil || r.Context().Err() != nil {
			break
		}
	}
	if he := remote4xx(err); he != nil {
		if he.Status == http.StatusUnauthorized {
			return LoginResponse{}, platform.Errorf(http.StatusUnauthorized, "bad_credentials", "unknown user or wrong password")
		}
		return LoginResponse{}, platform.Errorf(he.Status, he.Code, "%s", he.Message)
	}
	if err != nil {
		return LoginResponse{}, depFailed(g.identity, "login_unavailable", err)
	}
	return LoginResponse{Token: out.Token, ExpiresAt: out.ExpiresAt}, nil
}

func (g *Gateway) apiLogin(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeLogin(r.Body)
	if err != nil {
		writeAPI(w, nil, nil, err)
		return
	}
	out, err := g.login(r, req)
	writeAPI(w, nil, out, err)
}

// apiSession verifies the request's bearer token.
func (g *Gateway) apiSession(r *http.Request, deg *degraded) (session, error) {
	tok, err := apiToken(r)
	if err != nil {
		return session{}, err
	}
	return g.verify(r.Context(), tok, deg)
}

func (g *Gateway) apiCart(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	s, err := g.apiSession(r, &deg)
	if err != nil {
		writeAPI(w, deg, nil, err)
		return
	}
	c, err := g.getCart(r.Context(), s)
	writeAPI(w, deg, c, err)
}

// addItem checks the product exists (an unknown id is a 404, never a cart
// line) and adds it to the cart.
func (g *Gateway) addItem(r *http.Request, s session, req CartItemRequest, deg *degraded) (Cart, error) {
	if _, err := g.getProduct(r.Context(), req.ProductID, deg); err != nil {
		return Cart{}, err
	}
	return g.addToCart(r.Context(), s, req)
}

func (g *Gateway) apiAddToCart(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	req, err := DecodeCartItem(r.Body)
	if err != nil {
		writeAPI(w, deg, nil, err)
		return
	}
	s, err := g.apiSession(r, &deg)
	if err != nil {
		writeAPI(w, deg, nil, err)
		return
	}
	c, err := g.addItem(r, s, req, &deg)
	writeAPI(w, deg, c, err)
}

// CheckoutResponse is the answer of POST /api/checkout: the order as
// checkout acknowledged it, lines included, so that what the shopper was
// told can be compared with what was stored.
type CheckoutResponse struct {
	OrderID    string        `json:"order_id"`
	Status     string        `json:"status"`
	TotalCents int64         `json:"total_cents"`
	Items      []orders.Item `json:"items"`
	// Replayed: an earlier request with this Idempotency-Key had completed
	// the checkout; this is that order, and nothing was charged again.
	Replayed bool `json:"replayed"`
}

// placeOrder forwards a checkout with the client's idempotency key. The
// checkout's own 4xx answers pass through; its failures become 503
// checkout_unavailable (hardened) or 502 (fragile).
func (g *Gateway) placeOrder(r *http.Request, s session, key string) (CheckoutResponse, error) {
	var out CheckoutResponse
	hdr := http.Header{
		"Authorization":   {"Bearer " + s.token},
		"Idempotency-Key": {key},
		"X-Region":        {g.region},
	}
	err := g.checkout.CallJSON(r.Context(), http.MethodPost, "/v1/checkout", hdr, nil, &out)
	if he := remote4xx(err); he != nil {
		return out, platform.Errorf(he.Status, he.Code, "%s", he.Message)
	}
	if err != nil {
		return out, depFailed(g.checkout, "checkout_unavailable", err)
	}
	return out, nil
}

func (g *Gateway) apiCheckout(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	key := r.Header.Get("Idempotency-Key")
	if err := orders.ValidKey(key); err != nil {
		writeAPI(w, deg, nil, err)
		return
	}
	s, err := g.apiSession(r, &deg)
	if err != nil {
		writeAPI(w, deg, nil, err)
		return
	}
	out, err := g.placeOrder(r, s, key)
	writeAPI(w, deg, out, err)
}
