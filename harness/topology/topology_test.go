package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func mustStorefront(t *testing.T, o StorefrontOptions) *Topology {
	t.Helper()
	topo, err := Storefront(o)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// TestStorefrontDependencies checks every dependency of CONTRACT.md
// ("Dependency names by service") exists as an edge with the right --dep name.
func TestStorefrontDependencies(t *testing.T) {
	topo := mustStorefront(t, StorefrontOptions{})
	want := map[string]map[string]string{} // from -> dep name -> to
	add := func(from, dep, to string) {
		if want[from] == nil {
			want[from] = map[string]string{}
		}
		want[from][dep] = to
	}
	for _, r := range []string{RegionUSEast1, RegionEUWest1} {
		add("gateway-"+r, "catalog", "catalog-"+r)
		add("gateway-"+r, "recommendations", "recommendations-"+r)
		add("gateway-"+r, "cart", "cart-"+r)
		add("gateway-"+r, "identity", "identity")
		add("gateway-"+r, "checkout", "checkout")
		add("catalog-"+r, "postgres", "postgres-"+r)
		add("cart-"+r, "redis", "redis-"+r)
		add("recommendations-"+r, "catalog", "catalog-"+r)
	}
	add("gateway-eu-west-1", DepRegionalIdentity, "identity-eu-west-1")
	add("gateway-us-east-1", DepFailoverIdentity, "identity-eu-west-1")
	add("checkout", "identity", "identity")
	add("checkout", "cart-us-east-1", "cart-us-east-1")
	add("checkout", "cart-eu-west-1", "cart-eu-west-1")
	add("checkout", "orders", "orders")
	add("checkout", "payment", "payment")
	add("orders", "postgres", "postgres-us-east-1")
	services := 0
	for _, c := range topo.Components {
		if c.Image == ImageStorefront && c.Service != "monitoring" {
			add("monitoring", c.Name, c.Name)
			services++
		}
	}
	if services != 13 {
		t.Errorf("storefront services (without monitoring) = %d, want 13 (4 per region × 2 + identity, identity-eu-west-1, checkout, orders, payment)", services)
	}
	got := map[string]map[string]string{}
	for _, e := range topo.Edges {
		if got[e.From] == nil {
			got[e.From] = map[string]string{}
		}
		if prev, dup := got[e.From][e.DepName]; dup {
			t.Errorf("%s has two edges with dep name %q (%s, %s)", e.From, e.DepName, prev, e.To)
		}
		got[e.From][e.DepName] = e.To
		if e.Name != EdgeName(e.From, e.To) {
			t.Errorf("edge %s: name should be %s", e.Name, EdgeName(e.From, e.To))
		}
	}
	for from, deps := range want {
		for dep, to := range deps {
			if got[from][dep] != to {
				t.Errorf("missing edge %s --dep %s=%s (got %q)", from, dep, to, got[from][dep])
			}
		}
	}
	for from, deps := range got {
		for dep, to := range deps {
			if want[from][dep] != to {
				t.Errorf("unexpected edge %s --dep %s → %s", from, dep, to)
			}
		}
	}
}

func TestStorefrontPlacementAndLabels(t *testing.T) {
	topo := mustStorefront(t, StorefrontOptions{})
	cases := map[string][3]string{ // name -> region, plane, tier
		"identity":           {RegionUSEast1, "internal", "global"},
		"identity-eu-west-1": {RegionEUWest1, "internal", "regional"},
		"monitoring":         {RegionUSEast1, "internal", "global"},
		"checkout":           {RegionUSEast1, "data", "global"},
		"orders":             {RegionUSEast1, "data", "global"},
		"payment":            {RegionProvider, "data", "external"},
		"gateway-eu-west-1":  {RegionEUWest1, "data", "regional"},
		"redis-eu-west-1":    {RegionEUWest1, "data", "regional"},
	}
	for name, w := range cases {
		c := topo.Component(name)
		if c == nil {
			t.Errorf("no component %s", name)
			continue
		}
		if c.Region != w[0] || c.Label(LabelPlane) != w[1] || c.Label(LabelTier) != w[2] {
			t.Errorf("%s: region/plane/tier = %s/%s/%s, want %v", name, c.Region, c.Label(LabelPlane), c.Label(LabelTier), w)
		}
	}
	if got := topo.Component("postgres-us-east-1").Databases; !slices.Equal(got, []string{"catalog", "orders"}) {
		t.Errorf("postgres-us-east-1 databases = %v", got)
	}
	if got := topo.Component("postgres-eu-west-1").Databases; !slices.Equal(got, []string{"catalog"}) {
		t.Errorf("postgres-eu-west-1 databases = %v", got)
	}
	if topo.Component("monitoring").Kind != KindMonitoring {
		t.Error("monitoring kind")
	}
}

func TestStorefrontOrder(t *testing.T) {
	topo := mustStorefront(t, StorefrontOptions{})
	waves, err := topo.Order()
	if err != nil {
		t.Fatal(err)
	}
	wave := map[string]int{}
	n := 0
	for i, w := range waves {
		for _, c := range w {
			wave[c] = i
			n++
		}
	}
	if n != len(topo.Components) {
		t.Fatalf("order has %d components, topology %d", n, len(topo.Components))
	}
	for _, e := range topo.Edges {
		if wave[e.To] >= wave[e.From] {
			t.Errorf("edge %s: callee in wave %d, caller in wave %d", e.Name, wave[e.To], wave[e.From])
		}
	}
	if last := waves[len(waves)-1]; !slices.Equal(last, []string{"monitoring"}) {
		t.Errorf("last wave = %v, want [monitoring]", last)
	}
}

func TestOrderCycle(t *testing.T) {
	topo := &Topology{Name: "c"}
	for _, n := range []string{"a", "b", "c", "d"} {
		topo.Components = append(topo.Components, &Component{Name: n, Kind: KindUser, Image: "x", Ports: []Port{{Name: "p", Container: 1}}})
	}
	for _, e := range [][2]string{{"a", "b"}, {"b", "c"}, {"c", "a"}, {"d", "a"}} {
		topo.Edges = append(topo.Edges, &Edge{Name: EdgeName(e[0], e[1]), From: e[0], To: e[1], Port: "p"})
	}
	_, err := topo.Order()
	if err == nil || !strings.Contains(err.Error(), "a → b → c → a") {
		t.Fatalf("cycle error = %v", err)
	}
}

func TestStorefrontPolicy(t *testing.T) {
	topo := mustStorefront(t, StorefrontOptions{Policy: PolicyHardened, EdgePolicy: map[string]string{"gateway-us-east-1__identity": PolicyFragile}})
	gw := topo.Component("gateway-us-east-1")
	args := strings.Join(gw.Command, " ")
	if !strings.Contains(args, "--policy hardened") || !strings.Contains(args, "--policy-override identity=fragile") {
		t.Errorf("gateway command = %s", args)
	}
	if _, err := Storefront(StorefrontOptions{Policy: "brittle"}); err == nil {
		t.Error("unknown policy accepted")
	}
	if _, err := Storefront(StorefrontOptions{EdgePolicy: map[string]string{"nope": PolicyFragile}}); err == nil {
		t.Error("unknown edge accepted")
	}
}

func TestArgs(t *testing.T) {
	topo := mustStorefront(t, StorefrontOptions{})
	port := 20000
	ports := map[string]int{}
	addr := func(e *Edge) (string, int) {
		if ports[e.Name] == 0 {
			port++
			ports[e.Name] = port
		}
		return "toxiproxy", ports[e.Name]
	}
	args, err := topo.Args(topo.Component("catalog-eu-west-1"), addr)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("--dep postgres=postgres://postgres@toxiproxy:%d/catalog?sslmode=disable", ports["catalog-eu-west-1__postgres-eu-west-1"])
	if args[0] != "catalog" || !strings.Contains(strings.Join(args, " "), want) {
		t.Errorf("args = %v, want to contain %q", args, want)
	}
	args, _ = topo.Args(topo.Component("cart-us-east-1"), addr)
	if !strings.Contains(strings.Join(args, " "), "redis=redis://toxiproxy:") {
		t.Errorf("cart args = %v", args)
	}
}

func TestPlaceholders(t *testing.T) {
	topo := &Topology{Name: "p", Components: []*Component{
		{Name: "api", Kind: KindUser, Image: "api", Ports: []Port{{Name: "http", Container: 80}},
			Command: []string{"serve", "--db=${edge:db.url}"},
			Env:     map[string]string{"DB": "${edge:db}", "H": "${edge:api__db.host}:${edge:db.port}"}},
		{Name: "db", Kind: KindDatastore, Image: "postgres", Ports: []Port{{Name: "pg", Container: 5432}}},
	}, Edges: []*Edge{{Name: "api__db", From: "api", To: "db", Port: "pg", URL: "postgres://u@{host}:{port}/x"}}}
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	addr := func(e *Edge) (string, int) { return "127.0.0.1", 4242 }
	api := topo.Component("api")
	env, err := topo.Env(api, addr)
	if err != nil {
		t.Fatal(err)
	}
	if env["DB"] != "127.0.0.1:4242" || env["H"] != "127.0.0.1:4242" {
		t.Errorf("env = %v", env)
	}
	args, _ := topo.Args(api, addr)
	if args[1] != "--db=postgres://u@127.0.0.1:4242/x" {
		t.Errorf("args = %v", args)
	}
	if !topo.UsesPlaceholders(api, topo.Edges[0]) {
		t.Error("UsesPlaceholders = false")
	}
	api.Env["X"] = "${edge:cache}"
	err = topo.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "components[0].env.X" {
		t.Errorf("unknown placeholder: err = %v", err)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	topo := &Topology{Components: []*Component{
		{Name: "A", Kind: "thing", Ports: []Port{{Name: "p", Container: 0}}},
		{Name: "b", Kind: KindUser, Image: "x", Ports: []Port{{Name: "p", Container: 1}, {Name: "p", Container: 2}}},
		{Name: "b", Kind: KindUser, Image: "x"},
	}, Edges: []*Edge{{Name: "e", From: "b", To: "zz", Port: "p"}}}
	err := topo.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"name: required", "components[0].name", "components[0].kind", "components[0].image: required",
		"components[0].ports[0].container", "components[1].ports[1].name: duplicate", "components[2].name: duplicate", "edges[0].to: unknown component"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestEdgeAddress(t *testing.T) {
	e := &Edge{}
	if got := e.Address("h", 1); got != "h:1" {
		t.Errorf("default = %s", got)
	}
	e.URL = "http://{host}:{port}/x"
	if got := e.Address("h", 1); got != "http://h:1/x" {
		t.Errorf("url = %s", got)
	}
}

// Both identities sign with one key (a token from either verifies in every
// region), and a new topology gets a new key.
func TestStorefrontIdentitiesShareOneSigningKey(t *testing.T) {
	seedOf := func(c *Component) string {
		i := slices.Index(c.Command, "--signing-seed")
		if i < 0 || i+1 >= len(c.Command) {
			t.Fatalf("%s has no --signing-seed: %v", c.Name, c.Command)
		}
		return c.Command[i+1]
	}
	a := mustStorefront(t, StorefrontOptions{Policy: PolicyHardened})
	global, regional := seedOf(a.Component("identity")), seedOf(a.Component(RegionalIdentity(RegionEUWest1)))
	if global != regional || len(global) != 64 {
		t.Errorf("identity seeds differ or are malformed: %q vs %q", global, regional)
	}
	if b := mustStorefront(t, StorefrontOptions{}); seedOf(b.Component("identity")) == global {
		t.Error("two topologies share a signing key")
	}
}
