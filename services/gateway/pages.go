package gateway

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/outagelab/outagelab/services/platform"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages holds one parsed template set per page (each page defines "content").
type pages struct {
	byName map[string]*template.Template
}

var pageNames = []string{"home", "product", "cart", "checkout", "order", "login", "error"}

func newPages() (*pages, error) {
	funcs := template.FuncMap{"money": money}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range pageNames {
		t, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", n, err)
		}
		p.byName[n] = t
	}
	return p, nil
}

// money formats cents as dollars: 1234 → "$12.34".
func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}

// view is what every page gets; page-specific data rides in the embedded fields.
type view struct {
	Title    string
	Region   string
	User     string
	Query    string
	Error    string
	Degraded []string

	Products        []Product
	Product         *Product
	Recommendations []Product
	Lines           []cartLine
	TotalCents      int64
	IdempotencyKey  string
	Unavailable     string
	Order           *orderView
	Username        string
	Next            string
	Heading         string
	Message         string
}

type cartLine struct {
	ProductID     string
	Name          string
	Qty           int
	PriceCents    int64
	SubtotalCents int64
}

type orderView struct {
	ID         string          `json:"order_id"`
	Status     string          `json:"status"`
	TotalCents int64           `json:"total_cents"`
	Items      []orderItemView `json:"items"`
}

type orderItemView struct {
	ProductID  string `json:"product_id"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"price_cents"`
}

var degradedText = map[string]string{
	"recommendations": "Recommendations are unavailable right now.",
	"catalog-cache":   "The catalog is unavailable: showing recently cached products and prices.",
	"session-cache":   "Sign-in service unavailable: your session was checked with a cached key.",
}

// render executes page into a buffer first, so a template failure is a
// clean 500 page rather than half a page.
func (g *Gateway) render(w http.ResponseWriter, status int, page string, v *view, deg degraded) {
	v.Region = g.region
	for _, d := range deg {
		if t, ok := degradedText[d]; ok {
			v.Degraded = append(v.Degraded, t)
		}
	}
	setDegraded(w, deg)
	var buf bytes.Buffer
	if err := g.pages.byName[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		g.log.Error("render page", "page", page, "error", err.Error())
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderErr shows err as an error page with its status (an *APIError's, 500 otherwise).
func (g *Gateway) renderErr(w http.ResponseWriter, v *view, deg degraded, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on our side."
	var ae *platform.APIError
	if errors.As(err, &ae) {
		status, msg = ae.Status, ae.Message
	}
	v.Title, v.Heading, v.Message = http.StatusText(status), http.StatusText(status), msg
	g.render(w, status, "error", v, deg)
}

// pageSession reads the sf_token cookie. Without one (or with a bad one)
// user is empty and err is nil: pages decide whether they need a login.
// Identity failures are returned.
func (g *Gateway) pageSession(r *http.Request, deg *degraded) (session, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return session{}, nil
	}
	s, err := g.verify(r.Context(), c.Value, deg)
	var ae *platform.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return session{}, nil
	}
	return s, err
}

func redirectLogin(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
}

func (g *Gateway) pageHome(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	v := &view{Title: "Products"}
	s, _ := g.pageSession(r, &deg)
	v.User = s.user
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	v.Query = q
	if q != "" {
		v.Title = "Search"
		v.Products, err = g.searchProducts(r.Context(), q, &deg)
	} else {
		v.Products, err = g.listProducts(r.Context(), 48, &deg)
	}
	if err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	g.render(w, http.StatusOK, "home", v, deg)
}

func (g *Gateway) pageProduct(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	v := &view{Title: "Product"}
	s, _ := g.pageSession(r, &deg)
	v.User = s.user
	id := r.PathValue("id")
	if err := ValidProductID(id); err != nil {
		g.renderErr(w, v, deg, platform.Errorf(http.StatusNotFound, "product_not_found", "no such product"))
		return
	}
	p, err := g.getProduct(r.Context(), id, &deg)
	if err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	v.Product, v.Title = &p, p.Name
	v.Recommendations, err = g.recommendations(r.Context(), id, &deg)
	if err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	g.render(w, http.StatusOK, "product", v, deg)
}

// cartLines resolves names and prices of the cart's products (from the
// catalog, or its fallback cache); an unresolvable product shows its id.
func (g *Gateway) cartLines(r *http.Request, c Cart, deg *degraded) ([]cartLine, int64) {
	var (
		lines []cartLine
		total int64
	)
	for _, it := range c.Items {
		l := cartLine{ProductID: it.ProductID, Name: it.ProductID, Qty: it.Qty}
		if p, err := g.getProduct(r.Context(), it.ProductID, deg); err == nil {
			l.Name, l.PriceCents = p.Name, p.PriceCents
			l.SubtotalCents = p.PriceCents * int64(it.Qty)
			total += l.SubtotalCents
		}
		lines = append(lines, l)
	}
	return lines, total
}

// cartPage prepares a page that shows the signed-in user's cart (cart,
// checkout). ok is false when it already answered: an error page, or a
// redirect to the login page.
func (g *Gateway) cartPage(w http.ResponseWriter, r *http.Request, title string, deg *degraded) (v *view, ok bool) {
	v = &view{Title: title}
	s, err := g.pageSession(r, deg)
	if err != nil {
		g.renderErr(w, v, *deg, err)
		return v, false
	}
	if s.user == "" {
		redirectLogin(w, r)
		return v, false
	}
	v.User = s.user
	c, err := g.getCart(r.Context(), s)
	if err != nil {
		g.renderErr(w, v, *deg, err)
		return v, false
	}
	v.Lines, v.TotalCents = g.cartLines(r, c, deg)
	return v, true
}

func (g *Gateway) pageCart(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	v, ok := g.cartPage(w, r, "Cart", &deg)
	if !ok {
		return
	}
	g.render(w, http.StatusOK, "cart", v, deg)
}

// DecodeCartForm reads the add-to-cart form.
func DecodeCartForm(form url.Values) (CartItemRequest, error) {
	req := CartItemRequest{ProductID: form.Get("product_id"), Qty: 1}
	if q := form.Get("qty"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil {
			return req, platform.Errorf(http.StatusBadRequest, "invalid_qty", "qty must be a whole number 1..%d", MaxCartQty)
		}
		req.Qty = n
	}
	return req, validCartItem(req)
}

func (g *Gateway) pageAddToCart(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	v := &view{Title: "Cart"}
	s, err := g.pageSession(r, &deg)
	if err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	if s.user == "" {
		redirectLogin(w, r)
		return
	}
	v.User = s.user
	if err := r.ParseForm(); err != nil {
		g.renderErr(w, v, deg, platform.Errorf(http.StatusBadRequest, "bad_form", "could not read the form"))
		return
	}
	req, err := DecodeCartForm(r.PostForm)
	if err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	if _, err := g.addItem(r, s, req, &deg); err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return "web-" + hex.EncodeToString(b[:])
}

func (g *Gateway) pageCheckout(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	v, ok := g.cartPage(w, r, "Checkout", &deg)
	if !ok {
		return
	}
	// One key per checkout page: a double-submitted form places one order.
	v.IdempotencyKey = newKey()
	g.render(w, http.StatusOK, "checkout", v, deg)
}

func (g *Gateway) pagePlaceOrder(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	v := &view{Title: "Checkout"}
	s, err := g.pageSession(r, &deg)
	if err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	if s.user == "" {
		redirectLogin(w, r)
		return
	}
	v.User = s.user
	if err := r.ParseForm(); err != nil {
		g.renderErr(w, v, deg, platform.Errorf(http.StatusBadRequest, "bad_form", "could not read the form"))
		return
	}
	key := r.PostForm.Get("idempotency_key")
	if err := validFormKey(key); err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	out, err := g.placeOrder(r, s, key)
	var ae *platform.APIError
	if errors.As(err, &ae) && ae.Code == "checkout_unavailable" {
		v.Unavailable = ae.Message
		g.render(w, http.StatusServiceUnavailable, "checkout", v, deg)
		return
	}
	if err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	http.Redirect(w, r, "/orders/"+url.PathEscape(out.OrderID), http.StatusSeeOther)
}

func validFormKey(k string) error {
	if k == "" || len(k) > 200 || strings.IndexFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
		return platform.Errorf(http.StatusBadRequest, "invalid_idempotency_key", "the checkout form is stale: open the checkout page again")
	}
	return nil
}

func (g *Gateway) pageOrder(w http.ResponseWriter, r *http.Request) {
	var deg degraded
	v := &view{Title: "Order"}
	s, err := g.pageSession(r, &deg)
	if err != nil {
		g.renderErr(w, v, deg, err)
		return
	}
	if s.user == "" {
		redirectLogin(w, r)
		return
	}
	v.User = s.user
	id := r.PathValue("id")
	if id == "" || len(id) > 64 || strings.ContainsAny(id, "/?#%") {
		g.renderErr(w, v, deg, platform.Errorf(http.StatusNotFound, "order_not_found", "no such order"))
		return
	}
	var o orderView
	err = g.checkout.CallJSON(r.Context(), http.MethodGet, "/v1/orders/"+url.PathEscape(id), bearer(s.token), nil, &o)
	if he := remote4xx(err); he != nil {
		g.renderErr(w, v, deg, platform.Errorf(he.Status, he.Code, "%s", he.Message))
		return
	}
	if err != nil {
		g.renderErr(w, v, deg, depFailed(g.checkout, "checkout_unavailable", err))
		return
	}
	v.Order, v.Title = &o, "Order "+o.ID
	g.render(w, http.StatusOK, "order", v, deg)
}

func (g *Gateway) pageLogin(w http.ResponseWriter, r *http.Request) {
	v := &view{Title: "Log in", Next: safeNext(r.URL.Query().Get("next"))}
	g.render(w, http.StatusOK, "login", v, nil)
}

// safeNext keeps redirects on this site: only absolute paths, never "//host".
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.HasPrefix(n, "/\\") || len(n) > 200 {
		return "/"
	}
	return n
}

func (g *Gateway) pageDoLogin(w http.ResponseWriter, r *http.Request) {
	v := &view{Title: "Log in"}
	if err := r.ParseForm(); err != nil {
		g.renderErr(w, v, nil, platform.Errorf(http.StatusBadRequest, "bad_form", "could not read the form"))
		return
	}
	req := LoginRequest{Username: r.PostForm.Get("username"), Password: r.PostForm.Get("password")}
	v.Username, v.Next = req.Username, safeNext(r.PostForm.Get("next"))
	if err := validLogin(req); err != nil {
		v.Error = "Enter a username and a password."
		g.render(w, http.StatusBadRequest, "login", v, nil)
		return
	}
	out, err := g.login(r, req)
	var ae *platform.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		v.Error = "Unknown user or wrong password."
		g.render(w, http.StatusUnauthorized, "login", v, nil)
		return
	}
	if err != nil {
		g.renderErr(w, v, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: out.Token, Path: "/", Expires: out.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

func (g *Gateway) pageLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
