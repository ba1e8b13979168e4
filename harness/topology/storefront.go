package topology

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
)

// The storefront's regions (ARCHITECTURE.md "The storefront").
const (
	RegionUSEast1  = "us-east-1"
	RegionEUWest1  = "eu-west-1"
	RegionProvider = "provider" // the simulated third-party payment provider
	// HomeRegion holds the global services: identity, checkout, orders, monitoring.
	HomeRegion = RegionUSEast1
)

// Storefront ports inside a container (CONTRACT.md defaults).
const (
	StorefrontHTTPPort  = 8080
	StorefrontAdminPort = 9090
	PostgresPort        = 5432
	RedisPort           = 6379
)

// Policy presets understood by the storefront (`--policy`).
const (
	PolicyFragile  = "fragile"
	PolicyHardened = "hardened"
)

// StorefrontOptions tunes the built-in topology.
type StorefrontOptions struct {
	// Policy is the preset for every dependency ("" = fragile).
	Policy string
	// EdgePolicy overrides the preset per edge name (`--policy-override`).
	EdgePolicy map[string]string
	// PaymentLatency and PaymentFailureRate are the provider's own knobs
	// (storefront `payment --latency --failure-rate`); zero leaves defaults.
	PaymentLatency     string
	PaymentFailureRate float64
}

// Storefront builds the two-region storefront: per region a gateway,
// catalog, cart, recommendations, postgres (catalog DB; us-east-1's also holds
// the orders DB) and redis; identity, checkout, orders and monitoring are
// global in us-east-1; payment is a provider in its own region. eu-west-1
// also has a regional identity (identity-eu-west-1, the same users and
// signing key, like a regional STS endpoint): the gateway there logs in
// through it when its policy is hardened, through the global one otherwise;
// a hardened gateway in the home region fails over to it.
// Monitoring health-checks every service. Labels: app=storefront, service,
// plane (data|internal), tier (regional|global|external).
func Storefront(opts StorefrontOptions) (*Topology, error) {
	policy := opts.Policy
	if policy == "" {
		policy = PolicyFragile
	}
	if err := checkPolicy("policy", policy); err != nil {
		return nil, err
	}
	t := &Topology{Name: "storefront", Regions: []string{RegionUSEast1, RegionEUWest1, RegionProvider}}
	svc := func(service, name, region, plane, tier string, extra ...string) *Component {
		c := &Component{
			Name: name, Kind: KindService, Region: region,
			Labels:  map[string]string{LabelApp: "storefront", LabelService: service, LabelPlane: plane, LabelTier: tier},
			Image:   ImageStorefront,
			Service: service,
			Command: append([]string{"--region", region, "--name", name, "--policy", policy}, extra...),
			Ports: []Port{
				{Name: PortHTTP, Container: StorefrontHTTPPort},
				{Name: PortAdmin, Container: StorefrontAdminPort},
			},
			Ready:     Readiness{HTTPPath: "/readyz", Port: PortHTTP},
			AdminPort: PortAdmin,
		}
		t.Components = append(t.Components, c)
		return c
	}
	store := func(image, name, region string, dbs ...string) {
		c := &Component{
			Name: name, Kind: KindDatastore, Region: region,
			Labels:    map[string]string{LabelApp: "storefront", LabelService: image, LabelPlane: "data", LabelTier: "regional"},
			Image:     image,
			Databases: dbs,
		}
		switch image {
		case ImagePostgres:
			c.Ports = []Port{{Name: PortPostgres, Container: PostgresPort}}
			c.Ready = Readiness{Port: PortPostgres}
		case ImageRedis:
			c.Ports = []Port{{Name: PortRedis, Container: RedisPort}}
			c.Ready = Readiness{Port: PortRedis}
		}
		t.Components = append(t.Components, c)
	}
	edge := func(from, to, dep, port, url string) {
		t.Edges = append(t.Edges, &Edge{Name: EdgeName(from, to), From: from, To: to, Port: port, DepName: dep, URL: url})
	}
	const httpURL = "http://{host}:{port}"
	pgURL := func(db string) string { return "postgres://postgres@{host}:{port}/" + db + "?sslmode=disable" }
	const redisURL = "redis://{host}:{port}/0"

	// Global services first so regional ones can point at them. Every
	// identity signs with one key, so a token from either verifies anywhere.
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("storefront: signing seed: %w", err)
	}
	signing := []string{"--signing-seed", hex.EncodeToString(seed)}
	svc("identity", "identity", HomeRegion, "internal", "global", signing...)
	svc("identity", RegionalIdentity(RegionEUWest1), RegionEUWest1, "internal", "regional", signing...)
	var payExtra []string
	if opts.PaymentLatency != "" {
		payExtra = append(payExtra, "--latency", opts.PaymentLatency)
	}
	if opts.PaymentFailureRate != 0 {
		payExtra = append(payExtra, "--failure-rate", fmt.Sprint(opts.PaymentFailureRate))
	}
	svc("payment", "payment", RegionProvider, "data", "external", payExtra...)
	for _, r := range []string{RegionUSEast1, RegionEUWest1} {
		pg, rd := "postgres-"+r, "redis-"+r
		dbs := []string{"catalog"}
		if r == HomeRegion {
			dbs = append(dbs, "orders")
		}
		store(ImagePostgres, pg, r, dbs...)
		store(ImageRedis, rd, r)
		svc("catalog", "catalog-"+r, r, "data", "regional")
		svc("cart", "cart-"+r, r, "data", "regional")
		svc("recommendations", "recommendations-"+r, r, "data", "regional")
		svc("gateway", "gateway-"+r, r, "data", "regional")
		edge("catalog-"+r, pg, "postgres", PortPostgres, pgURL("catalog"))
		edge("cart-"+r, rd, "redis", PortRedis, redisURL)
		edge("recommendations-"+r, "catalog-"+r, "catalog", PortHTTP, httpURL)
	}
	svc("orders", "orders", HomeRegion, "data", "global")
	edge("orders", "postgres-"+HomeRegion, "postgres", PortPostgres, pgURL("orders"))
	svc("checkout", "checkout", HomeRegion, "data", "global")
	edge("checkout", "identity", "identity", PortHTTP, httpURL)
	edge("checkout", "cart-"+RegionUSEast1, "cart-"+RegionUSEast1, PortHTTP, httpURL)
	edge("checkout", "cart-"+RegionEUWest1, "cart-"+RegionEUWest1, PortHTTP, httpURL)
	edge("checkout", "orders", "orders", PortHTTP, httpURL)
	edge("checkout", "payment", "payment", PortHTTP, httpURL)
	for _, r := range []string{RegionUSEast1, RegionEUWest1} {
		g := "gateway-" + r
		edge(g, "catalog-"+r, "catalog", PortHTTP, httpURL)
		edge(g, "recommendations-"+r, "recommendations", PortHTTP, httpURL)
		edge(g, "cart-"+r, "cart", PortHTTP, httpURL)
		edge(g, "identity", "identity", PortHTTP, httpURL)
		if r != HomeRegion {
			edge(g, RegionalIdentity(r), DepRegionalIdentity, PortHTTP, httpURL)
		} else {
			// The home region fails over to another region's replica.
			edge(g, RegionalIdentity(RegionEUWest1), DepFailoverIdentity, PortHTTP, httpURL)
		}
		edge(g, "checkout", "checkout", PortHTTP, httpURL)
	}
	mon := svc("monitoring", "monitoring", HomeRegion, "internal", "global")
	mon.Kind = KindMonitoring
	for _, c := range t.Components {
		if c.Image == ImageStorefront && c != mon {
			edge("monitoring", c.Name, c.Name, PortHTTP, httpURL)
		}
	}

	// Per-edge policy overrides become --policy-override DEP=PRESET on the caller.
	names := make([]string, 0, len(opts.EdgePolicy))
	for n := range opts.EdgePolicy {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		e := t.Edge(n)
		if e == nil {
			return nil, fmt.Errorf("storefront: policy override for unknown edge %q (edges are named <from>__<to>, e.g. %s)", n, EdgeName("gateway-"+RegionUSEast1, "catalog-"+RegionUSEast1))
		}
		p := opts.EdgePolicy[n]
		if err := checkPolicy("edge policy "+n, p); err != nil {
			return nil, err
		}
		from := t.Component(e.From)
		from.Command = append(from.Command, "--policy-override", e.DepName+"="+p)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("storefront topology: %w", err)
	}
	return t, nil
}

// Gateway dependency names of identity replicas (services/gateway): its own
// region's replica, and another region's for the home region to fail over to.
const (
	DepRegionalIdentity = "identity-regional"
	DepFailoverIdentity = "identity-failover"
)

// RegionalIdentity names the identity replica of a region other than the home region.
func RegionalIdentity(region string) string { return "identity-" + region }

func checkPolicy(what, p string) error {
	if p != PolicyFragile && p != PolicyHardened {
		return fmt.Errorf("storefront: %s %q unknown (want %s or %s)", what, p, PolicyFragile, PolicyHardened)
	}
	return nil
}
