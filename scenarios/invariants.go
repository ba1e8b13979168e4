package scenarios

import (
	"context"
)

// checkInvariants checks the data invariants after the run.
//
// LEAD: harness/invariants (issue 5, helper "load-record") had no exported
// API when this was written. Wire it here: pass r.gen.Orders() (every order
// the load generator saw acknowledged) and the deployment's datastore
// addresses, and append each invariant to r.res.Invariants. Until then the
// result says, as an event, that invariants were not checked — it never
// claims they held.
func (r *runner) checkInvariants(ctx context.Context) {
	_ = ctx
	r.event("note", "invariants not checked: harness/invariants is not wired into the engine yet (%d acknowledged orders recorded)", len(r.gen.Orders()))
}
