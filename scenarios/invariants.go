package scenarios

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/outagelab/outagelab/harness/invariants"
	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/reports/result"
)

// destructive are the component faults that may lose a datastore's memory:
// a Redis without persistence loses its carts when killed or restarted.
var destructive = map[string]bool{"kill": true, "stop": true, "restart": true}

// checkInvariants checks the data invariants after the load generator has
// stopped: acknowledged orders durable, no double charge, stock never
// negative, acknowledged carts intact. A violation is recorded (the verdict
// becomes fail); a datastore that cannot be reached is an infrastructure
// error (the verdict becomes error), never a pass.
func (r *runner) checkInvariants(ctx context.Context) error {
	cfg, err := r.invariantConfig()
	if err != nil {
		r.event("error", "invariants not checked: %v", err)
		return fmt.Errorf("invariants: %w", err)
	}
	if r.o.BeforeInvariants != nil {
		if err := r.o.BeforeInvariants(ctx, &cfg); err != nil {
			return fmt.Errorf("invariants: before-check hook: %w", err)
		}
	}
	ictx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	invs, err := invariants.Check(ictx, cfg)
	r.mu.Lock()
	r.res.Invariants = append(r.res.Invariants, invs...)
	r.mu.Unlock()
	for _, iv := range invs {
		switch {
		case iv.Passed():
			r.event("invariant", "%s holds: %s", iv.Name, iv.Details)
		case iv.Outcome() == result.InvariantUnknown:
			r.event("invariant", "%s UNKNOWN: %s", iv.Name, iv.Details)
		default:
			r.event("invariant", "%s VIOLATED: %s: %s", iv.Name, iv.Details, strings.Join(iv.Violations, ", "))
		}
	}
	if err != nil {
		r.event("error", "invariants could not all be checked: %v", err)
		return fmt.Errorf("invariants: %w", err)
	}
	return nil
}

// notePaymentLedger reads the payment ledger's id before the load: the
// provider keeps charges in memory, and no_double_charge compares this id
// with the one at the check. A failed read is reported; the invariant is
// then unknown and the run cannot pass.
func (r *runner) notePaymentLedger(ctx context.Context) {
	c := r.env.Topology().Component("payment")
	if c == nil || c.Service != "payment" {
		return
	}
	u, err := r.env.Endpoint(c.Name, topology.PortHTTP)
	if err == nil {
		r.paymentLedger, err = invariants.ReadLedgerID(ctx, nil, u)
	}
	if err != nil {
		r.event("error", "%s will be unknown: the payment ledger id was not read before the load: %v", invariants.NoDoubleCharge, err)
		return
	}
	r.event("load", "payment ledger %s noted before the load", r.paymentLedger)
}

// InvariantConfig is what the engine checks after a run; RunOptions.BeforeInvariants sees it.
type InvariantConfig = invariants.Config

// invariantConfig finds the storefront's datastores as seen from this host:
// the orders database (the orders service's postgres edge), the payment
// provider and each region's cart Redis (the cart services' redis edges).
// A topology without them (a user's own) checks what it has.
func (r *runner) invariantConfig() (invariants.Config, error) {
	t := r.env.Topology()
	cfg := invariants.Config{Orders: r.gen.Orders(), Carts: r.gen.Carts(), CartRedis: map[string]string{}, PaymentLedgerID: r.paymentLedger}
	for _, e := range t.Edges {
		from := t.Component(e.From)
		if from == nil {
			continue
		}
		switch {
		case from.Service == "orders" && e.DepName == "postgres":
			addr, err := r.env.Addr(e.To, e.Port)
			if err != nil {
				return cfg, fmt.Errorf("orders database: %w", err)
			}
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return cfg, fmt.Errorf("orders database address %q: %w", addr, err)
			}
			n, err := strconv.Atoi(port)
			if err != nil {
				return cfg, fmt.Errorf("orders database address %q: %w", addr, err)
			}
			cfg.OrdersDSN = e.Address(host, n)
		case from.Service == "cart" && e.DepName == "redis":
			addr, err := r.env.Addr(e.To, e.Port)
			if err != nil {
				return cfg, fmt.Errorf("cart redis of %s: %w", from.Region, err)
			}
			cfg.CartRedis[from.Region] = addr
		}
	}
	if c := t.Component("payment"); c != nil && c.Service == "payment" {
		u, err := r.env.Endpoint(c.Name, topology.PortHTTP)
		if err != nil {
			return cfg, fmt.Errorf("payment provider: %w", err)
		}
		cfg.PaymentURL = u
	}
	cfg.Carts = r.promisedCarts(cfg.Carts)
	return cfg, nil
}

// promisedCarts drops the carts a run could honestly lose: a cart Redis
// that a scenario killed, stopped or restarted may come back empty (the
// storefront's Redis promises no persistence across a restart), so only the
// carts acknowledged after its last such fault was removed must be intact.
func (r *runner) promisedCarts(carts []load.Cart) []load.Cart {
	t := r.env.Topology()
	cutoff := map[string]time.Time{} // region → carts acknowledged before are not promised
	r.mu.Lock()
	for _, ap := range r.applied {
		if !destructive[ap.Kind] {
			continue
		}
		for _, name := range ap.Targets {
			c := t.Component(name)
			if c == nil || c.Image != topology.ImageRedis {
				continue
			}
			end := ap.RemovedAt
			if end.IsZero() {
				end = time.Now() // never removed: nothing in that region is promised
			}
			if end.After(cutoff[c.Region]) {
				cutoff[c.Region] = end
			}
		}
	}
	r.mu.Unlock()
	if len(cutoff) == 0 {
		return carts
	}
	var out []load.Cart
	dropped := map[string]int{}
	for _, c := range carts {
		if cut, ok := cutoff[c.Region]; ok && !c.At.After(cut) {
			dropped[c.Region]++
			continue
		}
		out = append(out, c)
	}
	for region, n := range dropped {
		r.event("note", "carts_intact: %d carts in %s acknowledged before its Redis was killed/restarted are not checked (no persistence promised)", n, region)
	}
	return out
}
