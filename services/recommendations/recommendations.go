// Package recommendations is the storefront's non-critical service: given a
// product id it returns related products (same category first, then the
// nearest price), computed from the catalog's product list. It is cheap to
// lose: the gateway shows a product page without it.
//
//	gateway ──GET /v1/recommendations?product_id=──▶ recommendations ──GET /v1/products?limit=100──▶ catalog
//	                                                   │ catalog failed and the policy allows a fallback:
//	                                                   └─▶ last good product list (X-Degraded: catalog-cache)
package recommendations

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// Limits of GET /v1/recommendations.
const (
	DefaultLimit = 4
	MaxLimit     = 20
	MaxIDLen     = 64
	// catalogPage is how many products one catalog call asks for (catalog's maximum).
	catalogPage = 100
)

// Product is a product as the catalog returns it.
type Product struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	PriceCents  int64  `json:"price_cents"`
	Category    string `json:"category,omitempty"`
	Stock       int    `json:"stock"`
}

// Response is the answer of GET /v1/recommendations.
type Response struct {
	ProductID       string    `json:"product_id"`
	Recommendations []Product `json:"recommendations"`
}

// Query is a decoded GET /v1/recommendations query.
type Query struct {
	ProductID string
	Limit     int
}

// DecodeQuery validates ?product_id=&limit=.
func DecodeQuery(v url.Values) (Query, error) {
	q := Query{ProductID: v.Get("product_id"), Limit: DefaultLimit}
	if q.ProductID == "" || len(q.ProductID) > MaxIDLen {
		return q, platform.Errorf(http.StatusBadRequest, "bad_product_id", "product_id is required (1..%d bytes)", MaxIDLen)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return q, platform.Errorf(http.StatusBadRequest, "bad_limit", "limit must be an integer in 1..%d, got %q", MaxLimit, s)
		}
		q.Limit = n
	}
	return q, nil
}

// Service computes recommendations from the catalog.
type Service struct {
	catalog *resilience.Dependency
	ttl     time.Duration

	mu      sync.Mutex
	last    []Product // last good list: the fallback
	fetched time.Time
}

// New returns a Service over the catalog dependency. A ttl > 0 serves the
// last list without calling the catalog while it is younger than ttl.
func New(catalog *resilience.Dependency, ttl time.Duration) *Service {
	return &Service{catalog: catalog, ttl: ttl}
}

// products returns the catalog's list; degraded is true when the list
// came from the fallback (the last good answer).
func (s *Service) products(ctx context.Context) (ps []Product, degraded bool, err error) {
	s.mu.Lock()
	if s.ttl > 0 && s.last != nil && time.Since(s.fetched) < s.ttl {
		ps = s.last
		s.mu.Unlock()
		return ps, false, nil
	}
	s.mu.Unlock()
	var out struct {
		Products []Product `json:"products"`
	}
	degraded, err = s.catalog.DoFallback(ctx, func(ctx context.Context) error {
		return s.catalog.CallJSON(ctx, http.MethodGet, "/v1/products?limit="+strconv.Itoa(catalogPage), nil, nil, &out)
	}, func(ctx context.Context, cause error) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.last == nil {
			return fmt.Errorf("no earlier catalog answer to fall back on")
		}
		out.Products = s.last
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if !degraded {
		s.mu.Lock()
		s.last, s.fetched = out.Products, time.Now()
		s.mu.Unlock()
	}
	return out.Products, degraded, nil
}

// Related picks up to limit products related to id: same category first,
// then nearest price, ties by id. An id not in the list gets a stable
// pseudo-random pick (recommendations never 404: they are decoration).
func Related(ps []Product, id string, limit int) []Product {
	var self *Product
	cands := make([]Product, 0, len(ps))
	for i := range ps {
		if ps[i].ID == id {
			self = &ps[i]
			continue
		}
		cands = append(cands, ps[i])
	}
	if self == nil {
		h := func(p Product) uint64 {
			f := fnv.New64a()
			f.Write([]byte(id + "\x00" + p.ID))
			return f.Sum64()
		}
		sort.Slice(cands, func(i, j int) bool { return h(cands[i]) < h(cands[j]) })
	} else {
		dist := func(p Product) int64 {
			d := p.PriceCents - self.PriceCents
			if d < 0 {
				d = -d
			}
			return d
		}
		sort.Slice(cands, func(i, j int) bool {
			a, b := cands[i], cands[j]
			sa, sb := a.Category == self.Category, b.Category == self.Category
			if sa != sb {
				return sa
			}
			if da, db := dist(a), dist(b); da != db {
				return da < db
			}
			return a.ID < b.ID
		})
	}
	if len(cands) > limit {
		cands = cands[:limit]
	}
	return cands
}

func (s *Service) handle(w http.ResponseWriter, r *http.Request) {
	q, err := DecodeQuery(r.URL.Query())
	if err != nil {
		platform.WriteErr(w, err)
		return
	}
	ps, degraded, err := s.products(r.Context())
	if err != nil {
		platform.WriteError(w, http.StatusServiceUnavailable, "catalog_unavailable",
			"recommendations need the catalog, which failed: "+resilience.Classify(err))
		return
	}
	if degraded {
		w.Header().Set("X-Degraded", "catalog-cache")
	}
	platform.WriteJSON(w, http.StatusOK, Response{ProductID: q.ProductID, Recommendations: Related(ps, q.ProductID, q.Limit)})
}

// Register adds GET /v1/recommendations to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/recommendations", s.handle)
}

// Main runs the recommendations service: storefront recommendations --dep catalog=URL [flags].
func Main(ctx context.Context, args []string) error {
	fs := platform.NewFlagSet("recommendations")
	ttl := fs.Duration("catalog-ttl", 0, "reuse the catalog's product list for this long (0: ask the catalog on every request)")
	cfg, err := fs.Parse(args, nil)
	if err != nil {
		return err
	}
	if *ttl < 0 {
		return fmt.Errorf("recommendations: --catalog-ttl must be ≥ 0, got %s", *ttl)
	}
	srv, err := platform.New(cfg)
	if err != nil {
		return fmt.Errorf("start recommendations: %w", err)
	}
	catalog, err := srv.Dependency("catalog")
	if err != nil {
		return fmt.Errorf("start recommendations: %w", err)
	}
	New(catalog, *ttl).Register(srv.Mux)
	srv.AddReadiness("catalog", platform.HTTPReadiness(catalog))
	return srv.Run(ctx)
}
