package catalog

import "fmt"

// DefaultProducts is how many products are seeded unless --products says
// otherwise (at least MinProducts).
const (
	DefaultProducts = 60
	MinProducts     = 50
	MaxProducts     = 10000
)

// DefaultStock is the listed stock of an ordinary seeded product; every
// tenth product is a low-stock one (LowStock) so that "the last item" races
// happen under load. The orders service owns the real inventory and seeds it
// from the same list (SeedProducts).
const (
	DefaultStock = 10000
	LowStock     = 3
)

var (
	categories = []string{"books", "games", "kitchen", "garden", "audio", "outdoors"}
	adjectives = []string{"Sturdy", "Quiet", "Bright", "Compact", "Vintage", "Rugged", "Elegant", "Nimble",
		"Cosy", "Swift", "Classic", "Modular", "Tiny", "Grand", "Solar", "Arctic", "Amber"}
	nouns = map[string][]string{
		"books":    {"Atlas", "Cookbook", "Novel", "Field Guide", "Almanac", "Anthology"},
		"games":    {"Board Game", "Puzzle", "Card Deck", "Chess Set", "Dice Tower"},
		"kitchen":  {"Kettle", "Skillet", "Teapot", "Knife Set", "Grinder", "Colander"},
		"garden":   {"Trowel", "Planter", "Hose Reel", "Seed Kit", "Pruner"},
		"audio":    {"Headphones", "Speaker", "Turntable", "Microphone", "Radio"},
		"outdoors": {"Tent", "Lantern", "Backpack", "Hammock", "Compass", "Water Bottle"},
	}
)

// ProductID returns the id of the i-th seeded product (1-based): "p0007".
func ProductID(i int) string { return fmt.Sprintf("p%04d", i) }

// SeedProducts returns the n products seeded on first start. The list is a
// pure function of n: every process (catalog, orders, tests) agrees on ids,
// names and prices without talking to each other.
func SeedProducts(n int) []Product {
	out := make([]Product, 0, n)
	x := uint32(20211207) // xorshift32 state: deterministic, no math/rand
	next := func() uint32 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return x
	}
	for i := 1; i <= n; i++ {
		cat := categories[(i-1)%len(categories)]
		adj := adjectives[next()%uint32(len(adjectives))]
		noun := nouns[cat][next()%uint32(len(nouns[cat]))]
		price := int64(199 + next()%24800) // $1.99 … $249.98
		price = price/100*100 + 99         // prices end in .99
		stock := DefaultStock
		if i%10 == 0 {
			stock = LowStock
		}
		name := fmt.Sprintf("%s %s", adj, noun)
		out = append(out, Product{
			ID:          ProductID(i),
			Name:        name,
			Description: fmt.Sprintf("The %s, no. %d in our %s range: %s.", name, i, cat, blurb(next())),
			PriceCents:  price,
			Category:    cat,
			Stock:       stock,
		})
	}
	return out
}

func blurb(r uint32) string {
	b := []string{
		"built to last through every outage",
		"ships from both regions",
		"a favourite of on-call engineers",
		"tested under chaos",
		"handmade in small batches",
		"returns accepted within 30 days",
	}
	return b[r%uint32(len(b))]
}
