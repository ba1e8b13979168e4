package catalog

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkListProducts is one GET /v1/products?limit=20 through the whole
// service (HTTP, resilience Dependency, pgx, PostgreSQL).
func BenchmarkListProducts(b *testing.B) {
	base := startCatalog(b, newTestDSN(b))
	for b.Loop() {
		resp, err := http.Get(base + "/v1/products?limit=20")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

func BenchmarkSearch(b *testing.B) {
	base := startCatalog(b, newTestDSN(b))
	for b.Loop() {
		resp, err := http.Get(base + "/v1/search?q=kettle")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
