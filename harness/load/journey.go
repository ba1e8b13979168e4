package load

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// Journey is what a shopper does on one visit.
type Journey string

// The storefront's journeys.
const (
	Browse    Journey = "browse"      // GET /api/products
	Search    Journey = "search"      // GET /api/search?q=
	Product   Journey = "product"     // GET /api/products/{id}
	Login     Journey = "login"       // POST /api/login
	AddToCart Journey = "add_to_cart" // [login] POST /api/cart/items
	Checkout  Journey = "checkout"    // [login] [add item] GET /api/cart, POST /api/checkout
)

// Journeys lists the known journeys in a stable order.
func Journeys() []Journey {
	return []Journey{Browse, Search, Product, Login, AddToCart, Checkout}
}

// ParseJourney accepts a journey name.
func ParseJourney(s string) (Journey, error) {
	for _, j := range Journeys() {
		if string(j) == s {
			return j, nil
		}
	}
	names := make([]string, 0, 6)
	for _, j := range Journeys() {
		names = append(names, string(j))
	}
	return "", fmt.Errorf("unknown journey %q (known: %s)", s, strings.Join(names, ", "))
}

// Mix weights journeys; weights need not sum to anything in particular.
type Mix map[Journey]float64

// DefaultMix is a shop's usual traffic: mostly browsing.
var DefaultMix = Mix{Browse: 45, Search: 15, Product: 15, Login: 5, AddToCart: 12, Checkout: 8}

// picker draws journeys by weight with a seeded source.
type picker struct {
	journeys []Journey
	cum      []float64
}

func newPicker(m Mix) (*picker, error) {
	if len(m) == 0 {
		m = DefaultMix
	}
	keys := make([]Journey, 0, len(m))
	for j, w := range m {
		if _, err := ParseJourney(string(j)); err != nil {
			return nil, fmt.Errorf("journey mix: %w", err)
		}
		if w < 0 {
			return nil, fmt.Errorf("journey mix: %s has negative weight %v", j, w)
		}
		if w > 0 {
			keys = append(keys, j)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("journey mix: every weight is 0; give at least one journey a positive weight")
	}
	// Sort so map iteration order cannot change the sequence for a seed.
	sort.Slice(keys, func(a, b int) bool { return keys[a] < keys[b] })
	p := &picker{journeys: keys}
	var sum float64
	for _, j := range keys {
		sum += m[j]
		p.cum = append(p.cum, sum)
	}
	for i := range p.cum {
		p.cum[i] /= sum
	}
	return p, nil
}

func (p *picker) pick(r *rand.Rand) Journey {
	x := r.Float64()
	i := sort.SearchFloat64s(p.cum, x)
	if i >= len(p.journeys) {
		i = len(p.journeys) - 1
	}
	// SearchFloat64s finds the first cum >= x; x == cum[i] belongs to i+1's
	// half-open interval only when x is exactly on the edge, which is fine.
	return p.journeys[i]
}

// searchTerms are what shoppers type; a search with no match is still a
// served request.
var searchTerms = []string{"mug", "shirt", "lamp", "book", "tea", "coffee", "pen", "bag", "chair", "socks", "cable", "plant"}
