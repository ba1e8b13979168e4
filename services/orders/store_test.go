package orders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testSeed() []StockItem {
	return []StockItem{
		{ProductID: "p-a", PriceCents: 1000, Stock: 10},
		{ProductID: "p-b", PriceCents: 250, Stock: 3},
		{ProductID: "p-c", PriceCents: 99, Stock: 1},
	}
}

func newTestStore(t *testing.T) *Store {
	t.Helper()
	pool := newTestPool(t)
	s := NewStore(pool)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Migrate(ctx, testSeed()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func stockOf(t *testing.T, s *Store, id string) int {
	t.Helper()
	it, err := s.Stock(context.Background(), id)
	if err != nil {
		t.Fatalf("stock %s: %v", id, err)
	}
	return it.Stock
}

func TestReserveConfirmCancel(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	o, created, err := s.Reserve(ctx, "k1", "user0001", normaliseItems([]Item{{ProductID: "p-a", Qty: 2}, {ProductID: "p-b", Qty: 1}}))
	if err != nil || !created {
		t.Fatalf("reserve: created=%v err=%v", created, err)
	}
	if o.Status != StatusReserved || o.TotalCents != 2*1000+250 || len(o.Items) != 2 {
		t.Fatalf("reserved order = %+v", o)
	}
	if got := stockOf(t, s, "p-a"); got != 8 {
		t.Fatalf("p-a stock after reserve = %d, want 8", got)
	}
	c, err := s.Confirm(ctx, o.ID, "pay_1")
	if err != nil || c.Status != StatusConfirmed || c.PaymentID != "pay_1" {
		t.Fatalf("confirm: %+v %v", c, err)
	}
	if c2, err := s.Confirm(ctx, o.ID, ""); err != nil || c2.Status != StatusConfirmed || c2.PaymentID != "pay_1" {
		t.Fatalf("second confirm: %+v %v", c2, err)
	}
	if _, err := s.Cancel(ctx, o.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("cancel confirmed: err=%v, want ErrConflict", err)
	}

	o2, _, err := s.Reserve(ctx, "k2", "user0001", []Item{{ProductID: "p-b", Qty: 2}})
	if err != nil {
		t.Fatalf("reserve 2: %v", err)
	}
	if got := stockOf(t, s, "p-b"); got != 0 {
		t.Fatalf("p-b stock = %d, want 0", got)
	}
	x, err := s.Cancel(ctx, o2.ID)
	if err != nil || x.Status != StatusCancelled {
		t.Fatalf("cancel: %+v %v", x, err)
	}
	if _, err := s.Cancel(ctx, o2.ID); err != nil {
		t.Fatalf("second cancel must be a no-op: %v", err)
	}
	if got := stockOf(t, s, "p-b"); got != 2 {
		t.Fatalf("p-b stock after cancel = %d, want 2 (released once)", got)
	}
	if _, err := s.Confirm(ctx, o2.ID, ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("confirm cancelled: err=%v, want ErrConflict", err)
	}
	// A retry with the cancelled order's key reserves it again.
	r, created, err := s.Reserve(ctx, "k2", "user0001", []Item{{ProductID: "p-a", Qty: 9}})
	if err != nil || created || r.ID != o2.ID || r.Status != StatusReserved || len(r.Items) != 1 || r.Items[0].ProductID != "p-b" {
		t.Fatalf("revive: created=%v order=%+v err=%v", created, r, err)
	}
	if got := stockOf(t, s, "p-b"); got != 0 {
		t.Fatalf("p-b stock after revive = %d, want 0", got)
	}
	if _, err := s.Cancel(ctx, o2.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStock(ctx, "p-b", 1); err != nil {
		t.Fatal(err)
	}
	var pe *ProductError
	if _, _, err := s.Reserve(ctx, "k2", "user0001", nil); !errors.As(err, &pe) || pe.Unknown {
		t.Fatalf("revive without stock: err=%v, want out of stock", err)
	}
	if got := stockOf(t, s, "p-b"); got != 1 {
		t.Fatalf("p-b stock after failed revive = %d, want 1", got)
	}
	if _, err := s.Get(ctx, "ord_missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	byKey, err := s.GetByKey(ctx, "k1")
	if err != nil || byKey.ID != o.ID {
		t.Fatalf("get by key: %+v %v", byKey, err)
	}
}

func TestReserveIdempotent(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		created atomic.Int32
		ids     sync.Map
	)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, c, err := s.Reserve(ctx, "same-key", "user0002", []Item{{ProductID: "p-a", Qty: 1}})
			if err != nil {
				t.Errorf("reserve: %v", err)
				return
			}
			if c {
				created.Add(1)
			}
			ids.Store(o.ID, true)
		}()
	}
	wg.Wait()
	n := 0
	ids.Range(func(any, any) bool { n++; return true })
	if created.Load() != 1 || n != 1 {
		t.Fatalf("created=%d distinct ids=%d, want 1 and 1", created.Load(), n)
	}
	if got := stockOf(t, s, "p-a"); got != 9 {
		t.Fatalf("stock = %d, want 9 (reserved once)", got)
	}
}

func TestReserveAllOrNothing(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	_, _, err := s.Reserve(ctx, "k", "u", normaliseItems([]Item{{ProductID: "p-a", Qty: 1}, {ProductID: "p-c", Qty: 2}}))
	var pe *ProductError
	if !errors.As(err, &pe) || pe.Unknown || pe.ProductID != "p-c" {
		t.Fatalf("err = %v, want out of stock for p-c", err)
	}
	if got := stockOf(t, s, "p-a"); got != 10 {
		t.Fatalf("p-a stock = %d, want 10 (rolled back)", got)
	}
	if _, err := s.GetByKey(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed reservation left an order: %v", err)
	}
	_, _, err = s.Reserve(ctx, "k2", "u", []Item{{ProductID: "nope", Qty: 1}})
	if !errors.As(err, &pe) || !pe.Unknown {
		t.Fatalf("err = %v, want unknown product", err)
	}
}

func TestLastItemConcurrent(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	var (
		wg  sync.WaitGroup
		ok  atomic.Int32
		oos atomic.Int32
	)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Reserve(ctx, fmt.Sprintf("last-%d", i), "u", []Item{{ProductID: "p-c", Qty: 1}})
			var pe *ProductError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &pe) && !pe.Unknown:
				oos.Add(1)
			default:
				t.Errorf("reserve: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || oos.Load() != 49 {
		t.Fatalf("ok=%d out_of_stock=%d, want 1 and 49", ok.Load(), oos.Load())
	}
	if got := stockOf(t, s, "p-c"); got != 0 {
		t.Fatalf("stock = %d, want 0", got)
	}
}

func TestMigrateConcurrentIdempotent(t *testing.T) {
	pool := newTestPool(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := NewStore(pool).Migrate(context.Background(), testSeed()); err != nil {
				t.Errorf("migrate: %v", err)
			}
		}()
	}
	wg.Wait()
	s := NewStore(pool)
	if err := s.SetStock(context.Background(), "p-a", 5); err != nil {
		t.Fatal(err)
	}
	// A later migrate must not reseed over live stock.
	if err := s.Migrate(context.Background(), testSeed()); err != nil {
		t.Fatal(err)
	}
	if got := stockOf(t, s, "p-a"); got != 5 {
		t.Fatalf("stock = %d after re-migrate, want 5", got)
	}
}
