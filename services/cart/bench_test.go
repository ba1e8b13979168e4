package cart

import (
	"net/http"
	"testing"

	"github.com/outagelab/outagelab/internal/procs"
)

// BenchmarkAddItem is one POST /v1/carts/{user}/items through the service
// (HTTP, resilience Dependency, Lua script in Redis) plus the cart read-back.
func BenchmarkAddItem(b *testing.B) {
	r := procs.NewTestRedis(b, procs.WithAppendOnly(false))
	base, _ := startCart(b, r.URL())
	for b.Loop() {
		if code, _ := add(b, base, "bench", "p0001", 1); code != http.StatusOK && code != http.StatusConflict {
			b.Fatal(code)
		}
		b.StopTimer()
		do(b, http.MethodDelete, base+"/v1/carts/bench", "", "", nil)
		b.StartTimer()
	}
}
