package record

import (
	"math"
	"strings"
	"testing"
)

const exposition = `# HELP storefront_http_requests_total x
# TYPE storefront_http_requests_total counter
storefront_http_requests_total{service="gateway",region="us-east-1",route="/api/products",code="200"} 90
storefront_http_requests_total{service="gateway",region="us-east-1",route="/api/checkout",code="503"} 7
storefront_http_requests_total{service="gateway",region="us-east-1",route="/api/login",code="401"} 3
# TYPE storefront_http_request_duration_seconds histogram
storefront_http_request_duration_seconds_bucket{service="gateway",region="us-east-1",route="/a",le="0.01"} 50
storefront_http_request_duration_seconds_bucket{service="gateway",region="us-east-1",route="/a",le="0.1"} 90
storefront_http_request_duration_seconds_bucket{service="gateway",region="us-east-1",route="/a",le="1"} 100
storefront_http_request_duration_seconds_bucket{service="gateway",region="us-east-1",route="/a",le="+Inf"} 100
storefront_http_request_duration_seconds_sum{service="gateway",region="us-east-1",route="/a"} 3
storefront_http_request_duration_seconds_count{service="gateway",region="us-east-1",route="/a"} 100
# TYPE storefront_dependency_requests_total counter
storefront_dependency_requests_total{service="gateway",region="us-east-1",dependency="catalog",outcome="ok"} 40
storefront_dependency_requests_total{service="gateway",region="us-east-1",dependency="catalog",outcome="timeout"} 10
storefront_dependency_requests_total{service="gateway",region="us-east-1",dependency="identity",outcome="reset"} 5
storefront_dependency_requests_total{service="gateway",region="us-east-1",dependency="identity",outcome="weird"} 1
# TYPE storefront_dependency_calls_total counter
storefront_dependency_calls_total{service="gateway",region="us-east-1",dependency="catalog",result="ok"} 30
storefront_dependency_calls_total{service="gateway",region="us-east-1",dependency="catalog",result="error"} 2
# TYPE storefront_breaker_state gauge
storefront_breaker_state{service="gateway",region="us-east-1",dependency="catalog"} 0
storefront_breaker_state{service="gateway",region="us-east-1",dependency="identity"} 2
# TYPE storefront_fallback_served_total counter
storefront_fallback_served_total{service="gateway",region="us-east-1",dependency="recommendations"} 4
# TYPE go_goroutines gauge
go_goroutines 12
`

func TestParseMetrics(t *testing.T) {
	c, err := parseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if c.requests != 100 || c.in5xx != 7 || c.in4xx != 3 {
		t.Errorf("inbound %v/%v/%v", c.requests, c.in5xx, c.in4xx)
	}
	if c.depAttempts["catalog"] != 50 || c.depAttempts["identity"] != 6 {
		t.Errorf("attempts %v", c.depAttempts)
	}
	if c.depErr["catalog"][depClass("timeout")] != 10 || c.depErr["identity"][depClass("reset")] != 5 || c.depErr["identity"][depClass("other")] != 1 {
		t.Errorf("errors %v %v", c.depErr["catalog"], c.depErr["identity"])
	}
	if c.depCalls["catalog"] != 32 || c.fallback != 4 || c.breaker != 2 {
		t.Errorf("calls %v fallback %v breaker %v", c.depCalls, c.fallback, c.breaker)
	}
	if len(c.latency) != 4 || !math.IsInf(c.latency[3].le, 1) || c.latency[3].count != 100 {
		t.Errorf("latency %v", c.latency)
	}
	if _, err := parseMetrics(strings.NewReader("storefront_http_requests_total{code=\"200\" 1\n")); err == nil {
		t.Error("malformed text accepted")
	}
}

func TestQuantileAndDeltas(t *testing.T) {
	b := []leCount{{0.01, 50}, {0.1, 90}, {1, 100}, {math.Inf(1), 100}}
	if q := quantileFromBuckets(0.5, b); math.Abs(q-0.01) > 1e-9 {
		t.Errorf("p50 %v", q)
	}
	if q := quantileFromBuckets(0.7, b); math.Abs(q-0.055) > 1e-9 { // halfway through (0.01, 0.1]
		t.Errorf("p70 %v", q)
	}
	if q := quantileFromBuckets(0.99, b); math.Abs(q-0.91) > 1e-9 {
		t.Errorf("p99 %v", q)
	}
	if !math.IsNaN(quantileFromBuckets(0.5, []leCount{{1, 0}, {math.Inf(1), 0}})) {
		t.Error("empty histogram quantile not NaN")
	}
	// Beyond the last finite bound: the bound is all we know.
	if q := quantileFromBuckets(0.99, []leCount{{0.1, 1}, {math.Inf(1), 10}}); q != 0.1 {
		t.Errorf("overflow quantile %v", q)
	}
	prev := []leCount{{0.1, 10}, {math.Inf(1), 10}}
	cur := []leCount{{0.1, 15}, {math.Inf(1), 30}}
	d := histDelta(prev, cur)
	if d[0].count != 5 || d[1].count != 20 {
		t.Errorf("delta %v", d)
	}
	// A restarted process: counters start again from zero.
	d = histDelta(cur, prev)
	if d[0].count != 10 || d[1].count != 10 {
		t.Errorf("restart delta %v", d)
	}
	if delta(10, 4) != 4 || delta(4, 10) != 6 {
		t.Error("counter delta")
	}
}

func TestToxiproxyBytes(t *testing.T) {
	text := `# TYPE toxiproxy_proxy_sent_bytes_total counter
toxiproxy_proxy_sent_bytes_total{direction="upstream",listener="127.0.0.1:1",proxy="gw-catalog",upstream="x"} 100
toxiproxy_proxy_sent_bytes_total{direction="downstream",listener="127.0.0.1:1",proxy="gw-catalog",upstream="x"} 2000
`
	m, err := toxiproxyBytes(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if m["gw-catalog"] != [2]float64{100, 2000} {
		t.Errorf("%v", m)
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add(exposition)
	f.Add("")
	f.Add("storefront_breaker_state NaN\n")
	f.Add("# TYPE storefront_http_request_duration_seconds histogram\nstorefront_http_request_duration_seconds_bucket{le=\"x\"} 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseMetrics(strings.NewReader(s))
		if err != nil {
			return
		}
		if c.requests < 0 || c.in5xx < 0 || math.IsNaN(c.requests) {
			t.Fatalf("negative or NaN counters from %q", s)
		}
		var s2 sample
		fillDelta(&s2, c, c)
		_ = quantileFromBuckets(0.99, c.latency)
	})
}

func TestParseMonitorStatus(t *testing.T) {
	cases := map[string][]string{
		`{"components":[{"name":"catalog","healthy":true},{"name":"cart","status":"down"},{"name":"identity","healthy":false}]}`: {"cart", "identity"},
		`{"targets":{"catalog":{"up":true},"cart":"down","orders":"ok"}}`:                                                        {"cart"},
		`{"catalog":"ok","cart":false}`: {"cart"},
	}
	for in, want := range cases {
		v, err := ParseMonitorStatus([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if strings.Join(v.Unhealthy, ",") != strings.Join(want, ",") {
			t.Errorf("%s: unhealthy %v want %v", in, v.Unhealthy, want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"components":[]}`, `{"components":5}`, `nope`} {
		if _, err := ParseMonitorStatus([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseMonitorStatus(f *testing.F) {
	f.Add([]byte(`{"components":[{"name":"a","healthy":true}]}`))
	f.Add([]byte(`{"targets":{"a":"down"}}`))
	f.Add([]byte(`{"a":{"status":"ok"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseMonitorStatus(b)
		if err == nil && (v.Known == 0 || len(v.Unhealthy) > v.Known) {
			t.Fatalf("inconsistent view %+v", v)
		}
	})
}
