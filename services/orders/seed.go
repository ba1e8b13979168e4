package orders

import "github.com/outagelab/outagelab/services/catalog"

// DefaultStock is the stock seeded for an ordinary product; the catalog's
// low-stock products (every tenth) keep catalog.LowStock.
const DefaultStock = catalog.DefaultStock

// SeedStock returns the inventory seeded on first start: one row per
// product of catalog.SeedProducts(n) (the same ids and prices the catalog
// seeds), with stock for ordinary products and the catalog's low stock for
// the low-stock ones.
func SeedStock(n, stock int) []StockItem {
	ps := catalog.SeedProducts(n)
	out := make([]StockItem, 0, len(ps))
	for _, p := range ps {
		s := p.Stock
		if s == catalog.DefaultStock {
			s = stock
		}
		out = append(out, StockItem{ProductID: p.ID, PriceCents: p.PriceCents, Stock: s})
	}
	return out
}
