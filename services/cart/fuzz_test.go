package cart

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/outagelab/outagelab/services/platform"
)

func FuzzDecodeAddItem(f *testing.F) {
	for _, s := range []string{`{"product_id":"p0001","qty":1}`, `{"product_id":"p0001","qty":100}`, `{`, `null`, `[]`,
		`{"product_id":"a/b","qty":1}`, `{"product_id":"p","qty":1e400}`, `{"product_id":"p","qty":1}{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/carts/u/items", strings.NewReader(body))
		req, err := DecodeAddItem(r)
		if err != nil {
			var ae *platform.APIError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 {
				t.Fatalf("not a 4xx APIError: %v", err)
			}
			return
		}
		if req.Qty < MinQty || req.Qty > MaxQty || ValidProductID(req.ProductID) != nil {
			t.Fatalf("accepted %+v from %q", req, body)
		}
	})
}

func FuzzValidUser(f *testing.F) {
	for _, s := range []string{"user0001", "", "a b", "ü", strings.Repeat("a", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if err := ValidUser(u); err == nil && (u == "" || len(u) > MaxIDLen || strings.ContainsAny(u, " /:{}\x00")) {
			t.Fatalf("accepted %q", u)
		}
	})
}
