package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// Product is a product as the gateway shows it.
type Product struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	PriceCents  int64  `json:"price_cents"`
	Stock       int    `json:"stock"`
}

// CartItem is one cart line.
type CartItem struct {
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

// Cart is a user's cart.
type Cart struct {
	Items []CartItem `json:"items"`
}

// degraded collects the X-Degraded names of one request.
type degraded []string

func (d *degraded) add(name string) {
	for _, n := range *d {
		if n == name {
			return
		}
	}
	*d = append(*d, name)
}

// remote4xx returns the callee's own 4xx answer when err is one.
func remote4xx(err error) *resilience.HTTPError {
	var he *resilience.HTTPError
	if errors.As(err, &he) && he.Status < 500 {
		return he
	}
	return nil
}

// depFailed is the answer when a dependency failed and no fallback was
// served: 503 where the policy degrades (a clear "unavailable"), 502 where
// it does not (fragile: the failure surfaces).
func depFailed(d *resilience.Dependency, code string, err error) error {
	if d.FallbackAllowed() {
		return platform.Errorf(http.StatusServiceUnavailable, code, "%s is unavailable (%s): retry shortly", d.Name(), resilience.Classify(err))
	}
	return platform.Errorf(http.StatusBadGateway, "dependency_failed", "%s failed: %s", d.Name(), resilience.Classify(err))
}

// catalogGet calls the catalog; on success the answer is remembered in the
// stale cache, on failure (not a 4xx) a remembered answer is served when the
// policy allows a fallback, marking the request degraded "catalog-cache".
func (g *Gateway) catalogGet(ctx context.Context, path string, out any, deg *degraded) error {
	var fresh any
	fellBack, err := g.catalog.DoFallback(ctx, func(ctx context.Context) error {
		return g.catalog.CallJSON(ctx, http.MethodGet, path, nil, nil, out)
	}, func(ctx context.Context, cause error) error {
		if remote4xx(cause) != nil {
			return cause
		}
		v, ok := g.cache.get(path)
		if !ok {
			return errors.New("no cached answer")
		}
		fresh = v
		return nil
	})
	if err != nil {
		if he := remote4xx(err); he != nil {
			return err
		}
		return depFailed(g.catalog, "catalog_unavailable", err)
	}
	if fellBack {
		deg.add("catalog-cache")
		return copyCached(fresh, out)
	}
	g.cache.put(path, snapshot(out))
	return nil
}

func (g *Gateway) listProducts(ctx context.Context, limit int, deg *degraded) ([]Product, error) {
	var out struct {
		Products []Product `json:"products"`
	}
	err := g.catalogGet(ctx, "/v1/products?limit="+strconv.Itoa(limit), &out, deg)
	return nonNil(out.Products), err
}

func (g *Gateway) searchProducts(ctx context.Context, q string, deg *degraded) ([]Product, error) {
	var out struct {
		Products []Product `json:"products"`
	}
	err := g.catalogGet(ctx, "/v1/search?q="+url.QueryEscape(q), &out, deg)
	return nonNil(out.Products), err
}

// getProduct returns the product; an unknown id is a 404 APIError.
func (g *Gateway) getProduct(ctx context.Context, id string, deg *degraded) (Product, error) {
	var out struct {
		Product Product `json:"product"`
	}
	err := g.catalogGet(ctx, "/v1/products/"+url.PathEscape(id), &out, deg)
	if he := remote4xx(err); he != nil {
		if he.Status == http.StatusNotFound {
			return Product{}, platform.Errorf(http.StatusNotFound, "product_not_found", "no product %q", id)
		}
		return Product{}, platform.Errorf(http.StatusBadRequest, he.Code, "%s", he.Message)
	}
	return out.Product, err
}

// recommendations never fail the page: with a fallback-allowing policy a
// failure serves none (X-Degraded: recommendations); without one (fragile)
// the failure surfaces.
func (g *Gateway) recommendations(ctx context.Context, id string, deg *degraded) ([]Product, error) {
	var out struct {
		Recommendations []Product `json:"recommendations"`
	}
	fellBack, err := g.recs.DoFallback(ctx, func(ctx context.Context) error {
		return g.recs.CallJSON(ctx, http.MethodGet, "/v1/recommendations?product_id="+url.QueryEscape(id), nil, nil, &out)
	}, func(context.Context, error) error {
		out.Recommendations = nil
		return nil
	})
	if err != nil {
		return nil, depFailed(g.recs, "recommendations_unavailable", err)
	}
	if fellBack {
		deg.add("recommendations")
	}
	return nonNil(out.Recommendations), nil
}

func nonNil(p []Product) []Product {
	if p == nil {
		return []Product{}
	}
	return p
}

// Cart calls. The cart service keys carts by user; the gateway passes the
// verified user and the bearer token along.
func cartPath(user string) string { return "/v1/carts/" + url.PathEscape(user) }

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

func (g *Gateway) getCart(ctx context.Context, s session) (Cart, error) {
	var c Cart
	err := g.cart.CallJSON(ctx, http.MethodGet, cartPath(s.user), bearer(s.token), nil, &c)
	if he := remote4xx(err); he != nil {
		return c, platform.Errorf(he.Status, he.Code, "%s", he.Message)
	}
	if err != nil {
		return c, depFailed(g.cart, "cart_unavailable", err)
	}
	if c.Items == nil {
		c.Items = []CartItem{}
	}
	return c, nil
}

func (g *Gateway) addToCart(ctx context.Context, s session, it CartItemRequest) (Cart, error) {
	var c Cart
	err := g.cart.CallJSON(ctx, http.MethodPost, cartPath(s.user)+"/items", bearer(s.token), it, &c)
	if he := remote4xx(err); he != nil {
		return c, platform.Errorf(he.Status, he.Code, "%s", he.Message)
	}
	if err != nil {
		return c, depFailed(g.cart, "cart_unavailable", err)
	}
	if c.Items == nil {
		c.Items = []CartItem{}
	}
	return c, nil
}
