package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/services/checkout/storetest"
	"github.com/outagelab/outagelab/services/gateway"
)

var allServices = []string{"identity", "catalog", "cart", "recommendations", "orders", "payment", "checkout", "gateway"}

func startStack(t testing.TB, policy string) *storetest.Stack {
	t.Helper()
	return storetest.Start(t, storetest.Options{
		Policy:     policy,
		Services:   allServices,
		ExtraMains: map[string]func(context.Context, []string) error{"gateway": gateway.Main},
	})
}

type reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func call(t testing.TB, client *http.Client, method, u string, body any, hdr map[string]string) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case url.Values:
		rd = strings.NewReader(b.Encode())
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := body.(url.Values); ok {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, u, raw)
		}
	}
	return r
}

func apiLogin(t testing.TB, s *storetest.Stack, user string) string {
	t.Helper()
	r := call(t, nil, "POST", s.URL("gateway")+"/api/login", map[string]string{"username": user, "password": "pw-" + user}, nil)
	if r.Status != 200 || r.Body["token"] == "" || r.Body["expires_at"] == nil {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	return r.Body["token"].(string)
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestGatewayAPIJourney(t *testing.T) {
	s := startStack(t, "fragile")
	gw := s.URL("gateway")

	r := call(t, nil, "GET", gw+"/api/products?limit=5", nil, nil)
	if r.Status != 200 || len(r.Body["products"].([]any)) != 5 {
		t.Fatalf("browse: %d %s", r.Status, r.Raw)
	}
	p := r.Body["products"].([]any)[0].(map[string]any)
	for _, f := range []string{"id", "name", "price_cents", "stock"} {
		if _, ok := p[f]; !ok {
			t.Fatalf("product lacks %q: %v", f, p)
		}
	}
	name := p["name"].(string)
	r = call(t, nil, "GET", gw+"/api/search?q="+url.QueryEscape(strings.Fields(name)[1]), nil, nil)
	if r.Status != 200 || len(r.Body["products"].([]any)) == 0 {
		t.Fatalf("search: %d %s", r.Status, r.Raw)
	}
	r = call(t, nil, "GET", gw+"/api/products/p0001", nil, nil)
	if r.Status != 200 || r.Body["product"].(map[string]any)["id"] != "p0001" || r.Header.Get("X-Degraded") != "" {
		t.Fatalf("product: %d %v %s", r.Status, r.Header, r.Raw)
	}
	if _, ok := r.Body["recommendations"].([]any); !ok {
		t.Fatalf("no recommendations list: %s", r.Raw)
	}

	tok := apiLogin(t, s, "user0011")
	r = call(t, nil, "POST", gw+"/api/cart/items", map[string]any{"product_id": "p0003", "qty": 2}, bearer(tok))
	if r.Status != 200 || len(r.Body["items"].([]any)) != 1 {
		t.Fatalf("add: %d %s", r.Status, r.Raw)
	}
	r = call(t, nil, "GET", gw+"/api/cart", nil, bearer(tok))
	item := r.Body["items"].([]any)[0].(map[string]any)
	if r.Status != 200 || item["product_id"] != "p0003" || item["qty"].(float64) != 2 {
		t.Fatalf("cart: %d %s", r.Status, r.Raw)
	}
	h := bearer(tok)
	h["Idempotency-Key"] = "gw-1"
	r = call(t, nil, "POST", gw+"/api/checkout", nil, h)
	if r.Status != 200 || r.Body["status"] != "confirmed" || r.Body["total_cents"].(float64) <= 0 {
		t.Fatalf("checkout: %d %s", r.Status, r.Raw)
	}
	again := call(t, nil, "POST", gw+"/api/checkout", nil, h)
	if again.Status != 200 || again.Body["order_id"] != r.Body["order_id"] {
		t.Fatalf("retried checkout: %d %s", again.Status, again.Raw)
	}
}

func TestGatewayDegradesRecommendations(t *testing.T) {
	s := startStack(t, "hardened")
	gw := s.URL("gateway")
	s.StopService("recommendations")

	r := call(t, nil, "GET", gw+"/api/products/p0001", nil, nil)
	if r.Status != 200 || r.Header.Get("X-Degraded") != "recommendations" || len(r.Body["recommendations"].([]any)) != 0 {
		t.Fatalf("API product without recommendations: %d %v %s", r.Status, r.Header.Get("X-Degraded"), r.Raw)
	}
	r = call(t, nil, "GET", gw+"/products/p0001", nil, nil)
	if r.Status != 200 || r.Header.Get("X-Degraded") != "recommendations" || !strings.Contains(r.Raw, "Add to cart") ||
		strings.Contains(r.Raw, "You may also like") {
		t.Fatalf("product page without recommendations: %d %v", r.Status, r.Header.Get("X-Degraded"))
	}
	m := call(t, nil, "GET", gw+"/metrics", nil, nil)
	if !regexp.MustCompile(`(?m)^storefront_fallback_served_total\{[^}]*dependency="recommendations"[^}]*\} [1-9]`).MatchString(m.Raw) {
		t.Fatalf("gateway metrics do not count the recommendations fallback:\n%s", grepLines(m.Raw, "fallback"))
	}
	// Recovery: once recommendations is back and the breaker (open after
	// the failures, hardened) lets a probe through, the page is whole again.
	s.StartService("recommendations")
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = call(t, nil, "GET", gw+"/products/p0001", nil, nil)
		if r.Status == 200 && r.Header.Get("X-Degraded") == "" && strings.Contains(r.Raw, "You may also like") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 20s: %d %v", r.Status, r.Header.Get("X-Degraded"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestGatewayFragileSurfacesFailures(t *testing.T) {
	s := startStack(t, "fragile")
	gw := s.URL("gateway")
	tok := apiLogin(t, s, "user0012")
	s.StopService("recommendations")
	s.StopService("checkout")
	if r := call(t, nil, "GET", gw+"/api/products/p0001", nil, nil); r.Status != 502 || r.Body["code"] != "dependency_failed" {
		t.Fatalf("fragile product without recommendations: %d %s", r.Status, r.Raw)
	}
	h := bearer(tok)
	h["Idempotency-Key"] = "frag-1"
	if r := call(t, nil, "POST", gw+"/api/checkout", nil, h); r.Status != 502 {
		t.Fatalf("fragile checkout down: %d %s", r.Status, r.Raw)
	}
	call(t, nil, "GET", gw+"/api/products?limit=3", nil, nil)
	s.StopService("catalog")
	if r := call(t, nil, "GET", gw+"/api/products?limit=3", nil, nil); r.Status != 502 || r.Header.Get("X-Degraded") != "" {
		t.Fatalf("fragile catalog down: %d %s", r.Status, r.Raw)
	}
}

func TestGatewayCatalogCacheAndCheckoutUnavailable(t *testing.T) {
	s := startStack(t, "hardened")
	gw := s.URL("gateway")
	tok := apiLogin(t, s, "user0013")
	warm := call(t, nil, "GET", gw+"/api/products?limit=7", nil, nil)
	if warm.Status != 200 {
		t.Fatalf("warm: %d", warm.Status)
	}
	call(t, nil, "GET", gw+"/api/products/p0002", nil, nil)

	s.StopService("catalog")
	r := call(t, nil, "GET", gw+"/api/products?limit=7", nil, nil)
	if r.Status != 200 || r.Header.Get("X-Degraded") != "catalog-cache" || len(r.Body["products"].([]any)) != 7 {
		t.Fatalf("cached browse: %d %v %s", r.Status, r.Header.Get("X-Degraded"), r.Raw)
	}
	r = call(t, nil, "GET", gw+"/", nil, nil)
	if r.Status != 503 {
		t.Fatalf("home with an uncached listing: %d", r.Status)
	}
	if r := call(t, nil, "GET", gw+"/api/products?limit=8", nil, nil); r.Status != 503 || r.Body["code"] != "catalog_unavailable" {
		t.Fatalf("uncached browse: %d %s", r.Status, r.Raw)
	}
	// Adding a cached product still works while the catalog is down.
	if r := call(t, nil, "POST", gw+"/api/cart/items", map[string]any{"product_id": "p0002", "qty": 1}, bearer(tok)); r.Status != 200 ||
		r.Header.Get("X-Degraded") != "catalog-cache" {
		t.Fatalf("add cached product: %d %v %s", r.Status, r.Header.Get("X-Degraded"), r.Raw)
	}

	s.StopService("checkout")
	h := bearer(tok)
	h["Idempotency-Key"] = "unavail-1"
	r = call(t, nil, "POST", gw+"/api/checkout", nil, h)
	if r.Status != 503 || r.Body["code"] != "checkout_unavailable" {
		t.Fatalf("checkout down: %d %s", r.Status, r.Raw)
	}
	// The HTML checkout shows a clear page, not a 500.
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(gw)
	jar.SetCookies(u, []*http.Cookie{{Name: gateway.CookieName, Value: tok}})
	browser := &http.Client{Jar: jar}
	r = call(t, browser, "POST", gw+"/checkout", url.Values{"idempotency_key": {"unavail-2"}}, nil)
	if r.Status != 503 || !strings.Contains(r.Raw, "Checkout is unavailable") {
		t.Fatalf("checkout page: %d %s", r.Status, r.Raw)
	}
}

func TestGatewayIdentityDownKeepsSessions(t *testing.T) {
	s := startStack(t, "hardened")
	gw := s.URL("gateway")
	tok := apiLogin(t, s, "user0014")
	s.StopService("identity")
	r := call(t, nil, "GET", gw+"/api/cart", nil, bearer(tok))
	if r.Status != 200 {
		t.Fatalf("cart with identity down (hardened, cached key): %d %s", r.Status, r.Raw)
	}
	if r := call(t, nil, "POST", gw+"/api/login", map[string]string{"username": "user0014", "password": "pw-user0014"}, nil); r.Status != 503 {
		t.Fatalf("login with identity down: %d %s", r.Status, r.Raw)
	}
}

// A hardened gateway whose region has its own identity replica keeps
// logging shoppers in when the global identity is gone (the regional STS
// endpoint lesson of AWS 2021-12-07); a fragile one uses the global
// identity only and fails, as naive code does.
func TestGatewayLogsInThroughRegionalIdentity(t *testing.T) {
	for _, tc := range []struct {
		policy, replica string
		want            int
	}{
		{"hardened", gateway.DepRegionalIdentity, 200}, {"fragile", gateway.DepRegionalIdentity, 502},
		// The home region's gateway fails over to another region's replica.
		{"hardened", gateway.DepFailoverIdentity, 200}, {"fragile", gateway.DepFailoverIdentity, 502},
	} {
		t.Run(tc.policy+"/"+tc.replica, func(t *testing.T) {
			s := storetest.Start(t, storetest.Options{
				Policy:     tc.policy,
				Services:   append([]string{"identity-regional"}, allServices...),
				ExtraMains: map[string]func(context.Context, []string) error{"gateway": gateway.Main},
				ReplicaDep: tc.replica,
			})
			gw := s.URL("gateway")
			s.StopService("identity")
			r := call(t, nil, "POST", gw+"/api/login", map[string]string{"username": "user0021", "password": "pw-user0021"}, nil)
			if r.Status != tc.want {
				t.Fatalf("login with the global identity down: %d %s, want %d", r.Status, r.Raw, tc.want)
			}
			if tc.want != 200 {
				return
			}
			tok, _ := r.Body["token"].(string)
			if c := call(t, nil, "GET", gw+"/api/cart", nil, bearer(tok)); c.Status != 200 {
				t.Fatalf("cart with a token from the regional identity: %d %s", c.Status, c.Raw)
			}
			if b := call(t, nil, "POST", gw+"/api/login", map[string]string{"username": "user0021", "password": "wrong"}, nil); b.Status != 401 {
				t.Fatalf("bad password through the regional identity: %d %s", b.Status, b.Raw)
			}
		})
	}
}

func TestGatewayBadInput(t *testing.T) {
	s := startStack(t, "fragile")
	gw := s.URL("gateway")
	tok := apiLogin(t, s, "user0015")
	auth := bearer(tok)
	withKey := bearer(tok)
	withKey["Idempotency-Key"] = "bad-key-1"
	cases := []struct {
		name, method, path string
		body               any
		hdr                map[string]string
		status             int
		code               string
	}{
		{"malformed login", "POST", "/api/login", `{"username":`, nil, 400, "bad_json"},
		{"empty login", "POST", "/api/login", ``, nil, 400, "empty_body"},
		{"bad credentials", "POST", "/api/login", map[string]string{"username": "user0015", "password": "nope"}, nil, 401, "bad_credentials"},
		{"oversized login", "POST", "/api/login", `{"username":"` + strings.Repeat("u", 70<<10) + `"}`, nil, 413, "body_too_large"},
		{"unknown product", "GET", "/api/products/p9999", nil, nil, 404, "product_not_found"},
		{"bad product id", "GET", "/api/products/a.b", nil, nil, 400, "invalid_product_id"},
		{"bad limit", "GET", "/api/products?limit=0", nil, nil, 400, "invalid_limit"},
		{"long query", "GET", "/api/search?q=" + strings.Repeat("q", 101), nil, nil, 400, "invalid_query"},
		{"add unknown product", "POST", "/api/cart/items", map[string]any{"product_id": "p9999", "qty": 1}, auth, 404, "product_not_found"},
		{"add bad qty", "POST", "/api/cart/items", map[string]any{"product_id": "p0001", "qty": 0}, auth, 400, "invalid_qty"},
		{"add malformed", "POST", "/api/cart/items", `{"product_id":"p0001","qty":"x"}`, auth, 400, "bad_json"},
		{"cart bad token", "GET", "/api/cart", nil, bearer("garbage"), 401, "invalid_token"},
		{"cart no token", "GET", "/api/cart", nil, nil, 401, "missing_token"},
		{"cart forged token", "GET", "/api/cart", nil, bearer(tok[:len(tok)-6] + "AAAAAA"), 401, "invalid_token"},
		{"checkout no key", "POST", "/api/checkout", nil, auth, 400, "missing_idempotency_key"},
		{"checkout empty cart", "POST", "/api/checkout", nil, withKey, 400, "cart_empty"},
		{"checkout bad token", "POST", "/api/checkout", nil, map[string]string{"Authorization": "Bearer x.y", "Idempotency-Key": "k"}, 401, "invalid_token"},
		{"unknown route", "GET", "/api/nope", nil, nil, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, nil, c.method, gw+c.path, c.body, c.hdr)
			if r.Status != c.status || r.Body["code"] != c.code || r.Body["error"] == "" {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Raw, c.status, c.code)
			}
		})
	}
	if r := call(t, nil, "GET", gw+"/products/p9999", nil, nil); r.Status != 404 || !strings.Contains(r.Raw, "<html") {
		t.Fatalf("unknown product page: %d", r.Status)
	}
}

func TestGatewayHTMLJourney(t *testing.T) {
	s := startStack(t, "hardened")
	gw := s.URL("gateway")
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}

	home := call(t, browser, "GET", gw+"/", nil, nil)
	if home.Status != 200 || !strings.Contains(home.Raw, `href="/products/p0001"`) {
		t.Fatalf("home: %d", home.Status)
	}
	if r := call(t, browser, "GET", gw+"/cart", nil, nil); r.Status != 200 || !strings.Contains(r.Raw, "Log in") {
		t.Fatalf("cart while logged out should lead to the login page: %d", r.Status)
	}
	if r := call(t, browser, "POST", gw+"/login", url.Values{"username": {"user0016"}, "password": {"wrong"}}, nil); r.Status != 401 ||
		!strings.Contains(r.Raw, "wrong password") {
		t.Fatalf("bad login page: %d", r.Status)
	}
	r := call(t, browser, "POST", gw+"/login", url.Values{"username": {"user0016"}, "password": {"pw-user0016"}, "next": {"/cart"}}, nil)
	if r.Status != 200 || !strings.Contains(r.Raw, "Your cart") || !strings.Contains(r.Raw, "user0016") {
		t.Fatalf("login → cart: %d", r.Status)
	}
	if r := call(t, browser, "GET", gw+"/products/p0004", nil, nil); r.Status != 200 || !strings.Contains(r.Raw, "You may also like") {
		t.Fatalf("product page: %d", r.Status)
	}
	r = call(t, browser, "POST", gw+"/cart/items", url.Values{"product_id": {"p0004"}, "qty": {"2"}}, nil)
	if r.Status != 200 || !strings.Contains(r.Raw, `href="/products/p0004"`) {
		t.Fatalf("add to cart → cart: %d %s", r.Status, r.Raw)
	}
	r = call(t, browser, "GET", gw+"/checkout", nil, nil)
	m := regexp.MustCompile(`name="idempotency_key" value="([^"]+)"`).FindStringSubmatch(r.Raw)
	if r.Status != 200 || m == nil {
		t.Fatalf("checkout page: %d", r.Status)
	}
	r = call(t, browser, "POST", gw+"/checkout", url.Values{"idempotency_key": {m[1]}}, nil)
	if r.Status != 200 || !strings.Contains(r.Raw, "Thank you! Order ord_") || !strings.Contains(r.Raw, "confirmed") {
		t.Fatalf("place order → confirmation: %d %s", r.Status, r.Raw)
	}
	// A double-submitted form shows the same order.
	again := call(t, browser, "POST", gw+"/checkout", url.Values{"idempotency_key": {m[1]}}, nil)
	id := regexp.MustCompile(`Order (ord_[0-9a-f]+)`)
	if again.Status != 200 || id.FindString(again.Raw) != id.FindString(r.Raw) {
		t.Fatalf("double submit: %d", again.Status)
	}
	if r := call(t, browser, "POST", gw+"/logout", nil, nil); r.Status != 200 || !strings.Contains(r.Raw, "Log in") {
		t.Fatalf("logout: %d", r.Status)
	}
	for _, external := range []string{"http://", "https://", "src="} {
		if strings.Contains(home.Raw, external) {
			t.Fatalf("home page references %q: pages must be self-contained", external)
		}
	}
}

func BenchmarkGatewayHome(b *testing.B) {
	s := startStack(b, "hardened")
	gw := s.URL("gateway") + "/"
	client := &http.Client{}
	for b.Loop() {
		resp, err := client.Get(gw)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("home: %d", resp.StatusCode)
		}
	}
}
