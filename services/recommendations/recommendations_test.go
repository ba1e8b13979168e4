package recommendations

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/outagelab/outagelab/services/platform"
)

var products = []Product{
	{ID: "p1", Name: "Mug", PriceCents: 1000, Category: "kitchen"},
	{ID: "p2", Name: "Cup", PriceCents: 1200, Category: "kitchen"},
	{ID: "p3", Name: "Plate", PriceCents: 3000, Category: "kitchen"},
	{ID: "p4", Name: "Lamp", PriceCents: 1050, Category: "home"},
	{ID: "p5", Name: "Rug", PriceCents: 900, Category: "home"},
}

func TestRelated(t *testing.T) {
	got := Related(products, "p1", 3)
	ids := []string{}
	for _, p := range got {
		ids = append(ids, p.ID)
	}
	if fmt.Sprint(ids) != "[p2 p3 p4]" {
		t.Fatalf("Related(p1) = %v, want same category by price, then nearest price", ids)
	}
	a, b := Related(products, "zz", 2), Related(products, "zz", 2)
	if len(a) != 2 || a[0].ID != b[0].ID || a[1].ID != b[1].ID {
		t.Fatalf("unknown id not stable: %v %v", a, b)
	}
	if len(Related(nil, "p1", 4)) != 0 || len(Related(products, "p1", 10)) != 4 {
		t.Fatal("limits wrong")
	}
}

// catalog serves the catalog's GET /v1/products contract over real HTTP.
func catalog(t *testing.T, up *atomic.Bool, calls *atomic.Int32) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !up.Load() {
			platform.WriteError(w, 503, "unavailable", "down")
			return
		}
		if r.URL.Path != "/v1/products" || r.URL.Query().Get("limit") != "100" {
			platform.WriteError(w, 400, "bad", r.URL.String())
			return
		}
		platform.WriteJSON(w, 200, map[string]any{"products": products, "total": len(products)})
	}))
	t.Cleanup(s.Close)
	return s
}

func service(t *testing.T, policy, catalogURL string) http.Handler {
	cfg, err := platform.NewFlagSet("recommendations").Parse([]string{"--dep", "catalog=" + catalogURL, "--policy", policy},
		func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := platform.NewWithLogger(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dep, err := srv.Dependency("catalog")
	if err != nil {
		t.Fatal(err)
	}
	New(dep, 0).Register(srv.Mux)
	return srv.Handler()
}

func get(h http.Handler, q string) (*httptest.ResponseRecorder, Response) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/recommendations?"+q, nil))
	var r Response
	json.Unmarshal(rec.Body.Bytes(), &r)
	return rec, r
}

func TestServeAndDegrade(t *testing.T) {
	for _, policy := range []string{"hardened", "fragile"} {
		t.Run(policy, func(t *testing.T) {
			var up atomic.Bool
			var calls atomic.Int32
			up.Store(true)
			cat := catalog(t, &up, &calls)
			h := service(t, policy, cat.URL)
			rec, r := get(h, "product_id=p1&limit=2")
			if rec.Code != 200 || len(r.Recommendations) != 2 || r.Recommendations[0].ID != "p2" || rec.Header().Get("X-Degraded") != "" {
				t.Fatalf("healthy: %d %s", rec.Code, rec.Body)
			}
			up.Store(false)
			rec, r = get(h, "product_id=p1&limit=2")
			if policy == "hardened" {
				if rec.Code != 200 || rec.Header().Get("X-Degraded") != "catalog-cache" || len(r.Recommendations) != 2 {
					t.Fatalf("hardened with catalog down: %d %s %q", rec.Code, rec.Body, rec.Header().Get("X-Degraded"))
				}
			} else if rec.Code != 503 {
				t.Fatalf("fragile with catalog down: %d %s", rec.Code, rec.Body)
			}
			m := httptest.NewRecorder()
			h.ServeHTTP(m, httptest.NewRequest("GET", "/metrics", nil))
			want := `storefront_dependency_requests_total{dependency="catalog",outcome="5xx",region="us-east-1",service="recommendations"}`
			if !strings.Contains(m.Body.String(), want) {
				t.Fatalf("metrics lack %s", want)
			}
		})
	}
}

func TestNoFallbackWithoutHistory(t *testing.T) {
	var up atomic.Bool
	var calls atomic.Int32
	h := service(t, "hardened", catalog(t, &up, &calls).URL)
	if rec, _ := get(h, "product_id=p1"); rec.Code != 503 {
		t.Fatalf("catalog never up: %d %s", rec.Code, rec.Body)
	}
}

func TestBadQueries(t *testing.T) {
	var up atomic.Bool
	var calls atomic.Int32
	up.Store(true)
	h := service(t, "fragile", catalog(t, &up, &calls).URL)
	for _, q := range []string{"", "limit=2", "product_id=p1&limit=0", "product_id=p1&limit=21", "product_id=p1&limit=x"} {
		rec, _ := get(h, q)
		var e map[string]string
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 400 || e["code"] == "" {
			t.Errorf("?%s: %d %s", q, rec.Code, rec.Body)
		}
	}
	if calls.Load() != 0 {
		t.Error("bad queries reached the catalog")
	}
}

func FuzzDecodeQuery(f *testing.F) {
	f.Add("product_id=p1&limit=4")
	f.Add("limit=-1")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := DecodeQuery(v)
		if err == nil && (q.ProductID == "" || q.Limit < 1 || q.Limit > MaxLimit) {
			t.Fatalf("accepted %+v", q)
		}
	})
}

func BenchmarkRelated(b *testing.B) {
	ps := make([]Product, 100)
	for i := range ps {
		ps[i] = Product{ID: fmt.Sprintf("p%03d", i), PriceCents: int64(i * 37 % 1000), Category: fmt.Sprint(i % 5)}
	}
	for b.Loop() {
		Related(ps, "p050", DefaultLimit)
	}
}
