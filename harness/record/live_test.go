package record

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/invariants"
	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/reports/result"
)

// TestLiveStorefront drives a storefront brought up by `outagelab up` (its
// printed endpoints saved to the file named by OUTAGELAB_UP_OUTPUT):
//
//	outagelab up --runtime local > /tmp/up.out &
//	OUTAGELAB_UP_OUTPUT=/tmp/up.out go test -run Live -v ./harness/record/
//
// Load in both regions, the recorder on every component, then the
// invariants against the real datastores. Skipped without the variable.
func TestLiveStorefront(t *testing.T) {
	path := os.Getenv("OUTAGELAB_UP_OUTPUT")
	if path == "" {
		t.Skip("set OUTAGELAB_UP_OUTPUT to the output of `outagelab up` to run against a live storefront")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gateways := map[string]string{}
	var comps []Target
	var pgURL, toxURL, paymentURL string
	redisBy := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) == 3 && fs[0] == "gateway":
			gateways[fs[1]] = fs[2]
		case len(fs) == 3 && fs[0] == "metrics":
			base := strings.TrimSuffix(fs[2], "/metrics")
			region := "us-east-1"
			if strings.HasSuffix(fs[1], "eu-west-1") {
				region = "eu-west-1"
			}
			comps = append(comps, Target{Name: fs[1], Kind: "service", Region: region, MetricsURL: fs[2], HealthURL: base + "/healthz", ReadyURL: base + "/readyz"})
			if fs[1] == "payment" {
				paymentURL = base
			}
		case len(fs) == 3 && fs[0] == "toxiproxy":
			toxURL = fs[2]
		case len(fs) == 3 && fs[1] == "postgres":
			if strings.HasPrefix(fs[0], "postgres-us-east-1") {
				pgURL = strings.TrimSuffix(fs[2], "/postgres") + "/orders?sslmode=disable"
			}
			hostPort := strings.TrimSuffix(strings.TrimPrefix(fs[2], "postgres://postgres@"), "/postgres")
			comps = append(comps, Target{Name: fs[0], Kind: "datastore", Region: strings.TrimPrefix(fs[0], "postgres-"), TCPAddr: hostPort})
		case len(fs) == 3 && fs[1] == "redis":
			addr := strings.TrimSuffix(strings.TrimPrefix(fs[2], "redis://"), "/0")
			redisBy[strings.TrimPrefix(fs[0], "redis-")] = addr
			comps = append(comps, Target{Name: fs[0], Kind: "datastore", Region: strings.TrimPrefix(fs[0], "redis-"), TCPAddr: addr})
		}
	}
	var regions []load.Region
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		regions = append(regions, load.Region{Name: r, BaseURL: gateways[r], Rate: 20})
	}
	epoch := time.Now()
	gen, err := load.New(load.Config{Regions: regions, Seed: 1, Epoch: epoch, Observer: func(r load.StepResult) {
		if !r.Outcome.Success() {
			t.Logf("step %s/%s %s: %s %d %s %s", r.Journey, r.Step, r.Region, r.Outcome, r.Status, r.Code, r.Err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var mon *Monitor
	for _, c := range comps {
		if c.Name == "monitoring" {
			mon = &Monitor{Component: "monitoring", StatusURL: strings.TrimSuffix(c.MetricsURL, "/metrics") + "/status"}
		}
	}
	// Every Toxiproxy proxy is an edge named from__to.
	var edges []Edge
	resp, err := http.Get(toxURL + "/proxies")
	if err != nil {
		t.Fatal(err)
	}
	var proxies map[string]json.RawMessage
	json.NewDecoder(resp.Body).Decode(&proxies)
	resp.Body.Close()
	for name := range proxies {
		if from, to, ok := strings.Cut(name, "__"); ok {
			edges = append(edges, Edge{Name: name, From: from, To: to})
		}
	}
	rec, err := New(Config{Epoch: epoch, Components: comps, Edges: edges, ToxiproxyURL: toxURL, Monitoring: mon, Load: gen})
	if err != nil {
		t.Fatal(err)
	}
	setEnabled := func(proxy string, on bool) time.Time {
		req, _ := http.NewRequest(http.MethodPost, toxURL+"/proxies/"+proxy, strings.NewReader(fmt.Sprintf(`{"enabled":%v}`, on)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("toggle %s: %v %v", proxy, err, resp)
		}
		resp.Body.Close()
		return time.Now()
	}
	ctx := context.Background()
	ledgerID, err := invariants.ReadLedgerID(ctx, nil, paymentURL)
	if err != nil {
		t.Fatal(err)
	}
	rec.Start(ctx)
	gen.Start(ctx)
	// Payment unreachable from checkout for 4 s.
	const cut = "checkout__payment"
	time.Sleep(4 * time.Second)
	p0 := time.Now()
	applied := setEnabled(cut, false)
	defer setEnabled(cut, true)
	time.Sleep(4 * time.Second)
	removed := setEnabled(cut, true)
	p1 := time.Now()
	time.Sleep(5 * time.Second)
	gen.Stop()
	rec.Stop()
	res := &result.Result{Phases: []result.Phase{{Name: "payment-cut", StartedAt: p0, EndedAt: p1,
		Faults: []result.Fault{{ID: "payment-cut/0", Kind: "down", Targets: []string{cut}, AppliedAt: &applied, RemovedAt: &removed}}}}}
	rec.Fill(res)
	for _, c := range res.Cascade {
		t.Logf("cascade: %s at %d ms after %s along %s", c.Component, c.AtMs, c.Cause, c.Edge)
	}
	for _, e := range res.Edges {
		if e.RetryAmplification > 0 && (e.From == "checkout" || strings.HasPrefix(e.From, "gateway")) {
			t.Logf("edge %-45s amplification %.2f (%s) during cut %.2f", e.Name, e.RetryAmplification, e.AmplificationBasis, e.AmplificationByPhase["payment-cut"])
		}
	}
	for _, b := range res.BlastRadius {
		t.Logf("blast %s: journeys %v components %v", b.Fault, b.Journeys, b.Components)
	}
	for _, c := range res.Components {
		for _, d := range c.Degradations {
			t.Logf("%s: fault %s lag %v recovery %v", c.Name, d.Fault, ptr(d.DetectionLagMs), ptr(d.RecoveryMs))
		}
	}
	for _, j := range res.Journeys {
		t.Logf("%-12s %-10s attempts %3d outcomes %v p99 %.1fms steps %d", j.Name, j.Region, j.Attempts, j.Outcomes, maxf(j.P99Ms), len(j.Steps))
		// 4xx is left out: the storefront's finite stock answers out_of_stock
		// on a long-lived deployment, a business answer and not a failure.
		if j.Name != "checkout" && j.Attempts > 3 && float64(j.Outcomes["ok"]+j.Outcomes["fallback"]) < 0.9*float64(j.Attempts-j.Outcomes["4xx"]) {
			t.Errorf("%s/%s: %v against a healthy storefront", j.Name, j.Region, j.Outcomes)
		}
	}
	for _, c := range res.Components {
		t.Logf("%-26s worst %-8s requests %v states %v", c.Name, c.WorstState, sum(c.Requests), why(rec, c.Name))
	}
	t.Logf("monitoring: %s", res.Monitoring.Summary)
	t.Logf("load: %+v", *res.Load)
	invs, err := invariants.Check(ctx, invariants.Config{OrdersDSN: pgURL, PaymentURL: paymentURL, PaymentLedgerID: ledgerID, CartRedis: redisBy, Orders: gen.Orders(), Carts: gen.Carts()})
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range invs {
		t.Logf("%s holds=%v checked=%d %s %v", inv.Name, inv.Holds, inv.Checked, inv.Details, inv.Violations)
		if !inv.Holds {
			t.Errorf("invariant %s broken on a healthy storefront", inv.Name)
		}
	}
	if len(gen.Orders()) == 0 {
		t.Error("no order acknowledged")
	}
}

func ptr(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func maxf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func sum(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

// why names the rule that made each non-healthy bucket so.
func why(r *Recorder, name string) []string {
	c := r.byName[name]
	base := r.cfg.Rules.baseline(c.samples, len(c.samples))
	var out []string
	for i, s := range c.samples {
		if st := r.cfg.Rules.state(s, base); st != Healthy {
			out = append(out, fmt.Sprintf("%d:%s flags=%b req=%d 5xx=%d dep=%d err=%v fb=%d br=%d p99=%.1f base=%.1f", i, st, s.flags, s.requests, s.in5xx, s.depReq, s.depErr, s.fallback, s.breaker, s.p99, base))
		}
	}
	return out
}
