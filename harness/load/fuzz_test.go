package load

import (
	"testing"
)

// The generator decodes three storefront answers: the cart, the product
// list (to learn ids) and the checkout acknowledgement. None may panic.
func FuzzParseCart(f *testing.F) {
	f.Add([]byte(`{"items":[{"product_id":"p1","qty":2}]}`))
	f.Add([]byte(`{"items":[{"product_id":7,"qty":1}]}`))
	f.Add([]byte(`{"items":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := parseCart(b)
		if err == nil && items == nil {
			t.Fatal("nil items without error")
		}
	})
}

func FuzzLearnProducts(f *testing.F) {
	f.Add([]byte(`{"products":[{"id":"p01"},{"id":12}]}`))
	f.Add([]byte(`{"products":[{"id":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := New(Config{Regions: []Region{{Name: "r", BaseURL: "http://127.0.0.1:1", Rate: 1}}, Users: 1})
		if err != nil {
			t.Fatal(err)
		}
		g.learnFrom(b)
		for i := uint64(0); i < uint64(g.productCount())+1; i++ {
			raw, path := g.product(i)
			if len(raw) == 0 || path == "" && string(raw) != `""` {
				t.Fatalf("product %d: raw %q path %q", i, raw, path)
			}
		}
	})
}

func TestParseCartNumericIDs(t *testing.T) {
	items, err := parseCart([]byte(`{"items":[{"product_id":7,"qty":1},{"product_id":"p2","qty":3}]}`))
	if err != nil || len(items) != 2 || items[0].ProductID != "7" || items[1].ProductID != "p2" || items[1].Qty != 3 {
		t.Fatalf("%+v %v", items, err)
	}
	if _, err := parseCart([]byte(`[`)); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func TestAddToCartSkipsLowStock(t *testing.T) {
	g, err := New(Config{Regions: []Region{{Name: "r", BaseURL: "http://127.0.0.1:1", Rate: 1}}, Users: 1})
	if err != nil {
		t.Fatal(err)
	}
	g.learnFrom([]byte(`{"products":[{"id":"low","stock":3},{"id":"ok","stock":10000},{"id":"low2","stock":0}]}`))
	for x := uint64(0); x < 9; x++ {
		if _, id := g.product(x, true); id != "ok" {
			t.Fatalf("x=%d picked %s", x, id)
		}
	}
	seen := map[string]bool{}
	for x := uint64(0); x < 9; x++ {
		_, id := g.product(x)
		seen[id] = true
	}
	if len(seen) != 3 {
		t.Errorf("browsing should reach every product, saw %v", seen)
	}
}
