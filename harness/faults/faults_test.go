package faults

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
)

func storefront(t testing.TB) *topology.Topology {
	t.Helper()
	topo, err := topology.Storefront(topology.StorefrontOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestRegistry(t *testing.T) {
	want := []string{"bandwidth", "delay", "down", "empty_discovery", "http_error", "kill", "latency", "limit_data",
		"partition", "pause", "reset_peer", "restart", "slicer", "slow_close", "stop", "timeout"}
	if got := KindNames(); !slices.Equal(got, want) {
		t.Fatalf("kinds = %v\nwant    %v", got, want)
	}
	for _, k := range Kinds() {
		f := k.New()
		if f == nil {
			t.Errorf("%s: New returned nil", k.Name)
			continue
		}
		// Defaults of kinds without required parameters must be valid.
		switch k.Name {
		case "latency", "bandwidth", "slow_close", "limit_data", "delay":
			if f.Validate() == nil {
				t.Errorf("%s: zero parameters validate, but they are required", k.Name)
			}
		default:
			if err := f.Validate(); err != nil {
				t.Errorf("%s: defaults invalid: %v", k.Name, err)
			}
		}
		if k.Summary == "" {
			t.Errorf("%s: no summary", k.Name)
		}
	}
	if _, err := New("lag"); err == nil || !strings.Contains(err.Error(), "latency") {
		t.Errorf("unknown kind error = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate Register did not panic")
		}
	}()
	Register(Kind{Name: "latency", Scope: ScopeEdge, New: func() Fault { return &Latency{} }})
}

func TestDecodeParams(t *testing.T) {
	f, err := DecodeParams("latency", json.RawMessage(`{"latency":"800ms","jitter":100,"stream":"both"}`))
	if err != nil {
		t.Fatal(err)
	}
	l := f.(*Latency)
	if l.Latency.D() != 800*time.Millisecond || l.Jitter.D() != 100*time.Millisecond || l.Toxicity != 1 || l.Stream != StreamBoth {
		t.Errorf("decoded %+v", l)
	}
	_, err = DecodeParams("latency", json.RawMessage(`{"latenc":"800ms"}`))
	if err == nil || !strings.Contains(err.Error(), `unknown field "latenc"`) || !strings.Contains(err.Error(), "jitter") {
		t.Errorf("unknown attribute: %v", err)
	}
	_, err = DecodeParams("latency", json.RawMessage(`{"latency":"soon"}`))
	if err == nil || !strings.Contains(err.Error(), "invalid duration") {
		t.Errorf("bad duration: %v", err)
	}
	if got := Attributes("slicer"); !slices.Equal(got, []string{"average_size", "delay", "size_variation", "stream", "toxicity"}) {
		t.Errorf("slicer attributes = %v", got)
	}
}

// TestValidateEveryError: every problem of one fault is reported together.
func TestValidateEveryError(t *testing.T) {
	cases := []struct {
		f    Fault
		want []string
	}{
		{&Latency{Latency: Duration(-1), Jitter: Duration(-1), ToxicParams: ToxicParams{Toxicity: 2, Stream: "sideways"}},
			[]string{"latency: -1ns is negative", "jitter: -1ns is negative", "toxicity: 2 out of range", `stream: "sideways" unknown`}},
		{&Latency{Latency: Duration(10 * time.Millisecond), Jitter: Duration(20 * time.Millisecond), ToxicParams: DefaultToxic()}, []string{"jitter: 20ms is larger than latency"}},
		{&Latency{Latency: Duration(time.Microsecond), ToxicParams: DefaultToxic()}, []string{"below Toxiproxy's 1ms resolution"}},
		{&Bandwidth{Rate: 0, ToxicParams: DefaultToxic()}, []string{"rate: 0 KB/s must be > 0"}},
		{&Slicer{AverageSize: 0, SizeVariation: -1, Delay: Duration(-1), ToxicParams: DefaultToxic()}, []string{"average_size", "size_variation", "delay"}},
		{&LimitData{ToxicParams: DefaultToxic()}, []string{"bytes: 0 must be > 0"}},
		{&Timeout{Timeout: Duration(-time.Second), ToxicParams: DefaultToxic()}, []string{"timeout: -1s is negative"}},
		{&ResetPeer{Timeout: Duration(-time.Second), ToxicParams: DefaultToxic()}, []string{"timeout: -1s is negative"}},
		{&SlowClose{ToxicParams: DefaultToxic()}, []string{"delay: 0s must be > 0"}},
		{&Partition{Mode: "drop"}, []string{`mode: "drop" unknown`}},
		{&HTTPError{Rate: 0, Status: 200}, []string{"rate: 0 must be in (0, 1]", "status: 200"}},
		{&Delay{}, []string{"delay: 0s must be > 0"}},
	}
	for _, c := range cases {
		err := c.f.Validate()
		if err == nil {
			t.Errorf("%T: no error", c.f)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%T: missing %q in %v", c.f, w, err)
			}
		}
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{`"1.5s"`: 1500 * time.Millisecond, `250`: 250 * time.Millisecond, `"0"`: 0, `"40"`: 40 * time.Millisecond} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.D() != want {
			t.Errorf("%s → %v %v, want %v", in, d, err, want)
		}
	}
	for _, in := range []string{`"fast"`, `true`, `"1x"`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	b, _ := json.Marshal(Duration(2 * time.Second))
	if string(b) != `"2s"` {
		t.Errorf("marshal = %s", b)
	}
}

func names(ts []Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name())
	}
	return out
}

func TestSelectors(t *testing.T) {
	topo := storefront(t)
	cases := []struct {
		name  string
		sel   Selector
		scope Scope
		want  []string // exact set
		_     int
	}{
		{"edge name", Selector{Edges: []string{"gateway-us-east-1__identity"}}, ScopeEdge, []string{"gateway-us-east-1__identity"}, 0},
		{"edge glob", Selector{Edges: []string{"gateway-*__identity"}}, ScopeEdge, []string{"gateway-us-east-1__identity", "gateway-eu-west-1__identity"}, 0},
		{"to identity", Selector{To: "identity"}, ScopeEdge, []string{"gateway-us-east-1__identity", "gateway-eu-west-1__identity", "checkout__identity", "monitoring__identity"}, 0},
		{"from+to", Selector{From: "gateway-eu-*", To: "cart-*"}, ScopeEdge, []string{"gateway-eu-west-1__cart-eu-west-1"}, 0},
		{"labels of callee", Selector{Labels: map[string]string{"plane": "internal"}}, ScopeEdge, []string{"gateway-us-east-1__identity", "gateway-eu-west-1__identity", "checkout__identity", "monitoring__identity",
			"gateway-eu-west-1__identity-eu-west-1", "gateway-us-east-1__identity-eu-west-1", "monitoring__identity-eu-west-1"}, 0},
		{"crossing regions", Selector{Crossing: []string{"us-east-1", "eu-west-1"}}, ScopeEdge, []string{"gateway-eu-west-1__identity", "gateway-eu-west-1__checkout",
			"checkout__cart-eu-west-1", "monitoring__catalog-eu-west-1", "monitoring__cart-eu-west-1", "monitoring__recommendations-eu-west-1", "monitoring__gateway-eu-west-1",
			"gateway-us-east-1__identity-eu-west-1", "monitoring__identity-eu-west-1"}, 0},
		{"crossing planes minus monitoring", Selector{Crossing: []string{"data", "internal"}, From: "gateway-*"}, ScopeEdge, []string{"gateway-us-east-1__identity", "gateway-eu-west-1__identity",
			"gateway-eu-west-1__identity-eu-west-1", "gateway-us-east-1__identity-eu-west-1"}, 0},
		{"region edges", Selector{Region: "provider"}, ScopeEdge, []string{"checkout__payment", "monitoring__payment"}, 0},
		{"components by label", Selector{Labels: map[string]string{"service": "redis"}}, ScopeComponent, []string{"redis-us-east-1", "redis-eu-west-1"}, 0},
		{"components by region", Selector{Region: "eu-west-1", Components: []string{"gateway-*", "cart-*"}}, ScopeComponent, []string{"cart-eu-west-1", "gateway-eu-west-1"}, 0},
	}
	for _, c := range cases {
		got, err := c.sel.Resolve(topo, c.scope)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		g := names(got)
		a, b := slices.Clone(g), slices.Clone(c.want)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("%s: got %v\nwant %v", c.name, a, b)
		}
	}
	// Crossing is symmetric and every matched edge really crosses.
	got, _ := Selector{Crossing: []string{"eu-west-1", "!eu-west-1"}}.Resolve(topo, ScopeEdge)
	rev, _ := Selector{Crossing: []string{"!eu-west-1", "eu-west-1"}}.Resolve(topo, ScopeEdge)
	if !slices.Equal(names(got), names(rev)) {
		t.Error("crossing is not symmetric")
	}
	for _, tg := range got {
		a, b := topo.Component(tg.Edge.From).Region, topo.Component(tg.Edge.To).Region
		if (a == "eu-west-1") == (b == "eu-west-1") {
			t.Errorf("%s does not cross eu-west-1's border", tg.Name())
		}
	}
	if len(got) == 0 {
		t.Error("isolating eu-west-1 cut nothing")
	}
}

func TestSelectorErrors(t *testing.T) {
	topo := storefront(t)
	cases := []struct {
		sel   Selector
		scope Scope
		want  string
	}{
		{Selector{}, ScopeEdge, "empty"},
		{Selector{To: "identiy"}, ScopeEdge, "matches no edge"},
		{Selector{Edges: []string{"[x"}}, ScopeEdge, "bad glob"},
		{Selector{Crossing: []string{"a"}}, ScopeEdge, "exactly two"},
		{Selector{To: "identity"}, ScopeComponent, "acts on components"},
		{Selector{Components: []string{"identity"}}, ScopeEdge, "acts on edges"},
	}
	for _, c := range cases {
		_, err := c.sel.Resolve(topo, c.scope)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.sel, err, c.want)
		}
	}
}

func TestToxicName(t *testing.T) {
	if got := ToxicName("congestion/0", "upstream"); got != "ol_congestion_0_upstream" {
		t.Errorf("ToxicName = %s", got)
	}
}

func TestHookMerge(t *testing.T) {
	got, ok := merge(map[string]hookPart{
		"a": {ErrorRate: 0.2, ErrorStatus: 500, Routes: []string{"/api/x"}},
		"b": {ErrorRate: 0.5, ErrorStatus: 503, Routes: []string{"/api/y"}},
		"c": {Delay: 100 * time.Millisecond, Routes: []string{"/api/x"}},
		"d": {EmptyDiscovery: []string{"identity"}},
		"e": {EmptyDiscovery: []string{"identity", "cart"}},
	})
	if !ok || got.ErrorRate != 0.5 || got.ErrorStatus != 503 || got.DelayMs != 100 ||
		!slices.Equal(got.EmptyDiscovery, []string{"identity", "cart"}) || !slices.Equal(got.Routes, []string{"/api/x", "/api/y"}) {
		t.Errorf("merge = %+v", got)
	}
	got, _ = merge(map[string]hookPart{"a": {Delay: time.Second, Routes: []string{"/x"}}, "b": {ErrorRate: 1, ErrorStatus: 503}})
	if got.Routes != nil {
		t.Errorf("a contribution for every route must clear routes: %+v", got)
	}
	if _, ok := merge(nil); ok {
		t.Error("empty merge reported hooks")
	}
}
