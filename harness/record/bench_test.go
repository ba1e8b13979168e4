package record

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// syntheticMetrics renders a storefront-like exposition whose counters grow
// with the bucket number (4 routes, 5 dependencies, 12 histogram buckets).
func syntheticMetrics(buf *bytes.Buffer, comp, b int) {
	buf.Reset()
	n := b * 40
	buf.WriteString("# TYPE storefront_http_requests_total counter\n")
	for _, route := range []string{"/api/products", "/api/search", "/api/cart", "/api/checkout"} {
		fmt.Fprintf(buf, "storefront_http_requests_total{service=\"s%d\",region=\"r\",route=%q,code=\"200\"} %d\n", comp, route, n)
		fmt.Fprintf(buf, "storefront_http_requests_total{service=\"s%d\",region=\"r\",route=%q,code=\"503\"} %d\n", comp, route, b)
	}
	buf.WriteString("# TYPE storefront_http_request_duration_seconds histogram\n")
	les := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}
	for i, le := range les {
		fmt.Fprintf(buf, "storefront_http_request_duration_seconds_bucket{service=\"s%d\",region=\"r\",route=\"/api/products\",le=%q} %d\n", comp, le, n*(i+1)/len(les))
	}
	fmt.Fprintf(buf, "storefront_http_request_duration_seconds_sum{service=\"s%d\",region=\"r\",route=\"/api/products\"} %d\n", comp, n/10)
	fmt.Fprintf(buf, "storefront_http_request_duration_seconds_count{service=\"s%d\",region=\"r\",route=\"/api/products\"} %d\n", comp, n)
	buf.WriteString("# TYPE storefront_dependency_requests_total counter\n")
	buf.WriteString("# TYPE storefront_dependency_calls_total counter\n")
	buf.WriteString("# TYPE storefront_breaker_state gauge\n")
	for _, dep := range []string{"catalog", "cart", "identity", "checkout", "recommendations"} {
		for _, o := range []string{"ok", "timeout", "refused", "5xx"} {
			fmt.Fprintf(buf, "storefront_dependency_requests_total{service=\"s%d\",region=\"r\",dependency=%q,outcome=%q} %d\n", comp, dep, o, n/4)
		}
		fmt.Fprintf(buf, "storefront_dependency_calls_total{service=\"s%d\",region=\"r\",dependency=%q,result=\"ok\"} %d\n", comp, dep, n/5)
		fmt.Fprintf(buf, "storefront_breaker_state{service=\"s%d\",region=\"r\",dependency=%q} 0\n", comp, dep)
	}
}

// BenchmarkRecorderHour stores a 1-hour run at 1 s buckets for 20 components
// and 30 edges through the real parse → delta → commit path, and reports the
// heap the recorder holds afterwards (goal: tens of MB). Use -benchtime=1x.
func BenchmarkRecorderHour(b *testing.B) {
	const comps, edges, buckets = 20, 30, 3600
	for i := 0; i < b.N; i++ {
		var targets []Target
		for c := 0; c < comps; c++ {
			targets = append(targets, Target{Name: fmt.Sprintf("c%02d", c), Region: "r", MetricsURL: "http://127.0.0.1:1/metrics", HealthURL: "http://127.0.0.1:1/healthz"})
		}
		var es []Edge
		for e := 0; e < edges; e++ {
			es = append(es, Edge{Name: fmt.Sprintf("e%02d", e), From: fmt.Sprintf("c%02d", e%comps), To: fmt.Sprintf("c%02d", (e+1)%comps), Dependency: "catalog"})
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := New(Config{Components: targets, Edges: es, Bucket: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		obs := make([]observation, comps)
		tox := map[string][2]float64{}
		for bk := -1; bk < buckets; bk++ {
			for c := 0; c < comps; c++ {
				syntheticMetrics(&buf, c, bk+1)
				cum, err := parseMetrics(&buf)
				if err != nil {
					b.Fatal(err)
				}
				s := emptySample()
				s.flags = fScraped | fScrapeOK | fProbed | fHealthOK
				obs[c] = observation{cum, s}
			}
			for e := 0; e < edges; e++ {
				tox[fmt.Sprintf("e%02d", e)] = [2]float64{float64(bk * 1000), float64(bk * 9000)}
			}
			r.commit(bk, obs, tox, &MonitorView{Known: 1, Names: []string{"c00"}}, false)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		b.ReportMetric(held/1e6, "MB-held")
		b.ReportMetric(held/float64(comps*buckets), "B/component-bucket")
		runtime.KeepAlive(r)
	}
}
