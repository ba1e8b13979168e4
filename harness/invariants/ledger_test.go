package invariants

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/reports/result"
	"github.com/outagelab/outagelab/services/payment"
)

// restartablePayment runs the real payment provider on one loopback
// address and can restart it there (a new process's provider: new ledger).
type restartablePayment struct {
	t    *testing.T
	addr string
	srv  *http.Server
}

func newRestartablePayment(t *testing.T) *restartablePayment {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rp := &restartablePayment{t: t, addr: ln.Addr().String()}
	rp.serve(ln)
	t.Cleanup(func() { rp.srv.Close() })
	return rp
}

func (rp *restartablePayment) URL() string { return "http://" + rp.addr }

func (rp *restartablePayment) serve(ln net.Listener) {
	p, err := payment.NewProvider(payment.Options{})
	if err != nil {
		rp.t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux)
	rp.srv = &http.Server{Handler: mux}
	go rp.srv.Serve(ln)
}

// restart stops the provider (its in-memory ledger is gone) and starts a
// new one on the same address.
func (rp *restartablePayment) restart() {
	if err := rp.srv.Close(); err != nil {
		rp.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", rp.addr)
	if err != nil {
		rp.t.Fatalf("listen again on %s: %v", rp.addr, err)
	}
	rp.serve(ln)
}

// TestChargesUnknownAfterPaymentRestart: a double charge made before the
// provider restarted is lost with its ledger; the check must not call the
// clean new ledger a pass.
func TestChargesUnknownAfterPaymentRestart(t *testing.T) {
	ctx := context.Background()
	rp := newRestartablePayment(t)
	before, err := ReadLedgerID(ctx, nil, rp.URL())
	if err != nil {
		t.Fatal(err)
	}
	acked := []load.Order{{OrderID: "o1", IdempotencyKey: "k1"}, {OrderID: "o2", IdempotencyKey: "k2"}}
	pay(t, rp.URL(), "k1", "o1", 0)
	pay(t, rp.URL(), "k1-again", "o1", 0) // o1 charged twice...
	rp.restart()                          // ...and the evidence is gone
	pay(t, rp.URL(), "k2", "o2", 0)
	inv, err := CheckCharges(ctx, nil, rp.URL(), before, acked)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Holds || inv.State != result.InvariantUnknown || inv.Passed() {
		t.Fatalf("after a restart: %+v, want state unknown and holds false", inv)
	}
	if !strings.Contains(inv.Details, "restarted") || !strings.Contains(inv.Details, before) {
		t.Errorf("details must say the ledger changed and name the id seen before the load: %q", inv.Details)
	}
	if inv.Checked != 1 {
		t.Errorf("checked %d charges, want the 1 left after the restart", inv.Checked)
	}
	// Through Check (the engine's entry point) the same.
	invs, err := Check(ctx, Config{PaymentURL: rp.URL(), PaymentLedgerID: before, Orders: acked})
	if err != nil || len(invs) != 1 || invs[0].State != result.InvariantUnknown {
		t.Fatalf("Check: %+v %v", invs, err)
	}
	// A double charge made after the restart is still a violation.
	pay(t, rp.URL(), "k2-again", "o2", 0)
	inv, err = CheckCharges(ctx, nil, rp.URL(), before, acked)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != result.InvariantViolated || strings.Join(inv.Violations, ",") != "order o2 ×2" || !strings.Contains(inv.Details, "restarted") {
		t.Fatalf("a visible double charge after a restart: %+v, want violated (noting the restart)", inv)
	}
}

// TestChargesJudgedWhenLedgerKept: the same provider throughout: holds or
// violated as the ledger says.
func TestChargesJudgedWhenLedgerKept(t *testing.T) {
	ctx := context.Background()
	rp := newRestartablePayment(t)
	before, err := ReadLedgerID(ctx, nil, rp.URL())
	if err != nil {
		t.Fatal(err)
	}
	acked := []load.Order{{OrderID: "o1", IdempotencyKey: "k1"}}
	pay(t, rp.URL(), "k1", "o1", 1)
	inv, err := CheckCharges(ctx, nil, rp.URL(), before, acked)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Holds || inv.State != result.InvariantHolds || !inv.Passed() || inv.Checked != 1 {
		t.Fatalf("kept ledger, one charge: %+v", inv)
	}
	pay(t, rp.URL(), "k1-again", "o1", 0)
	inv, err = CheckCharges(ctx, nil, rp.URL(), before, acked)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Holds || inv.State != result.InvariantViolated || strings.Contains(inv.Details, "restarted") {
		t.Fatalf("kept ledger, o1 charged twice: %+v", inv)
	}
}

// TestChargesUnknownWithoutBaseline: no ledger id read before the load
// means a restart cannot be ruled out.
func TestChargesUnknownWithoutBaseline(t *testing.T) {
	ctx := context.Background()
	rp := newRestartablePayment(t)
	inv, err := CheckCharges(ctx, nil, rp.URL(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != result.InvariantUnknown || inv.Holds || !strings.Contains(inv.Details, "ReadLedgerID") {
		t.Fatalf("no baseline: %+v", inv)
	}
	// A provider that names no ledger cannot give a baseline.
	bare := http.NewServeMux()
	bare.HandleFunc("GET /v1/charges", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"charges":[],"count":0}`)) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: bare}
	go srv.Serve(ln)
	defer srv.Close()
	if _, err := ReadLedgerID(ctx, nil, "http://"+ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "ledger_id") {
		t.Fatalf("a provider without ledger_id: %v", err)
	}
}
