package gateway

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/services/platform"
)

func isClientErr(err error) bool {
	var ae *platform.APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500
}

func FuzzDecodeLogin(f *testing.F) {
	f.Add(`{"username":"user0001","password":"pw-user0001"}`)
	f.Add(`{"username":"","password":""}`)
	f.Add(`{"username":1}`)
	f.Add(`{`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := DecodeLogin(strings.NewReader(body))
		if err != nil {
			if !isClientErr(err) {
				t.Fatalf("not a 4xx APIError: %v", err)
			}
			return
		}
		if req.Username == "" || req.Password == "" || len(req.Username) > MaxCredentials {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func FuzzDecodeCartItem(f *testing.F) {
	f.Add(`{"product_id":"p0001","qty":1}`)
	f.Add(`{"product_id":"../x","qty":1}`)
	f.Add(`{"product_id":"p","qty":1000}`)
	f.Add(`{"product_id":"p","qty":1} trailing`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := DecodeCartItem(strings.NewReader(body))
		if err != nil {
			if !isClientErr(err) {
				t.Fatalf("not a 4xx APIError: %v", err)
			}
			return
		}
		if ValidProductID(req.ProductID) != nil || req.Qty < 1 || req.Qty > MaxCartQty {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func FuzzDecodeCartForm(f *testing.F) {
	f.Add("product_id=p0001&qty=2")
	f.Add("product_id=p0001")
	f.Add("product_id=%zz&qty=x")
	f.Add("qty=-1")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := DecodeCartForm(form)
		if err != nil {
			if !isClientErr(err) {
				t.Fatalf("not a 4xx APIError: %v", err)
			}
			return
		}
		if ValidProductID(req.ProductID) != nil || req.Qty < 1 || req.Qty > MaxCartQty {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func FuzzParseQueryLimit(f *testing.F) {
	f.Add("q=kettle&limit=5")
	f.Add("limit=0")
	f.Add("limit=101&q=%ff")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if n, err := ParseLimit(v); err != nil && !isClientErr(err) || err == nil && (n < 1 || n > MaxLimit) {
			t.Fatalf("limit %d err %v", n, err)
		}
		if q, err := ParseQuery(v); err != nil && !isClientErr(err) || err == nil && len(q) > MaxQueryLen {
			t.Fatalf("query %q err %v", q, err)
		}
	})
}

func TestMoney(t *testing.T) {
	for cents, want := range map[int64]string{0: "$0.00", 5: "$0.05", 1234: "$12.34", -199: "-$1.99", 100000: "$1000.00"} {
		if got := money(cents); got != want {
			t.Errorf("money(%d) = %q, want %q", cents, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/cart": "/cart", "": "/", "//evil.example": "/", "/\\evil": "/", "http://x": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStaleCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newStaleCache(time.Minute, 2)
	c.now = func() time.Time { return now }
	c.put("a", snapshot(map[string]int{"n": 1}))
	var out map[string]int
	v, ok := c.get("a")
	if !ok || copyCached(v, &out) != nil || out["n"] != 1 {
		t.Fatalf("get a: %v %v", ok, out)
	}
	now = now.Add(61 * time.Second)
	if _, ok := c.get("a"); ok {
		t.Fatal("entry older than max age served")
	}
	c.put("b", snapshot(1))
	c.put("c", snapshot(2))
	c.put("d", snapshot(3))
	if len(c.entries) > 2 {
		t.Fatalf("cache grew to %d entries, max 2", len(c.entries))
	}
	if _, ok := c.get("d"); !ok {
		t.Fatal("newest entry missing")
	}
}

func TestTemplatesParse(t *testing.T) {
	p, err := newPages()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.byName) != len(pageNames) {
		t.Fatalf("parsed %d pages, want %d", len(p.byName), len(pageNames))
	}
}
