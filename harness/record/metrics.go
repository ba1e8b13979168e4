package record

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Dependency attempt outcomes (CONTRACT.md storefront_dependency_requests_total).
var depClasses = [...]string{"timeout", "refused", "reset", "5xx", "4xx", "breaker_open", "bulkhead_full", "dns", "other"}

const numDepClasses = len(depClasses)

func depClass(outcome string) int {
	for i, c := range depClasses {
		if c == outcome {
			return i
		}
	}
	return numDepClasses - 1 // other
}

// cumulative is one scrape of a storefront component, reduced to the
// counters the recorder keeps. All values are cumulative since process start.
type cumulative struct {
	requests, in5xx, in4xx float64
	latency                []leCount // inbound duration histogram, summed over routes
	depAttempts            map[string]float64
	depErr                 map[string]*[numDepClasses]float64
	depCalls               map[string]float64
	fallback               float64
	breaker                int // max over dependencies; -1: no gauge
}

type leCount struct {
	le    float64
	count float64
}

// parseMetrics reads Prometheus text format and keeps what the recorder needs.
// Unknown metrics are ignored; malformed text is an error.
func parseMetrics(r io.Reader) (*cumulative, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return reduce(fams), nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func counterValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	if u := m.GetUntyped(); u != nil {
		return u.GetValue()
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return 0
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

func reduce(fams map[string]*dto.MetricFamily) *cumulative {
	c := &cumulative{
		depAttempts: map[string]float64{},
		depErr:      map[string]*[numDepClasses]float64{},
		depCalls:    map[string]float64{},
		breaker:     -1,
	}
	if f := fams["storefront_http_requests_total"]; f != nil {
		for _, m := range f.GetMetric() {
			v := finite(counterValue(m))
			c.requests += v
			switch code := label(m, "code"); {
			case strings.HasPrefix(code, "5"):
				c.in5xx += v
			case strings.HasPrefix(code, "4"):
				c.in4xx += v
			}
		}
	}
	if f := fams["storefront_http_request_duration_seconds"]; f != nil {
		sum := map[float64]float64{}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			hasInf := false
			for _, b := range h.GetBucket() {
				le := b.GetUpperBound()
				if math.IsNaN(le) {
					continue
				}
				hasInf = hasInf || math.IsInf(le, 1)
				sum[le] += finite(float64(b.GetCumulativeCount()))
			}
			if !hasInf {
				sum[math.Inf(1)] += finite(float64(h.GetSampleCount()))
			}
		}
		for le, n := range sum {
			c.latency = append(c.latency, leCount{le, n})
		}
		sort.Slice(c.latency, func(i, j int) bool { return c.latency[i].le < c.latency[j].le })
	}
	if f := fams["storefront_dependency_requests_total"]; f != nil {
		for _, m := range f.GetMetric() {
			dep := label(m, "dependency")
			v := finite(counterValue(m))
			c.depAttempts[dep] += v
			if o := label(m, "outcome"); o != "ok" {
				e := c.depErr[dep]
				if e == nil {
					e = new([numDepClasses]float64)
					c.depErr[dep] = e
				}
				e[depClass(o)] += v
			}
		}
	}
	if f := fams["storefront_dependency_calls_total"]; f != nil {
		for _, m := range f.GetMetric() {
			c.depCalls[label(m, "dependency")] += finite(counterValue(m))
		}
	}
	if f := fams["storefront_fallback_served_total"]; f != nil {
		for _, m := range f.GetMetric() {
			c.fallback += finite(counterValue(m))
		}
	}
	if f := fams["storefront_breaker_state"]; f != nil {
		for _, m := range f.GetMetric() {
			v := int(finite(counterValue(m)))
			if v > 2 {
				v = 2
			}
			if v > c.breaker {
				c.breaker = v
			}
		}
	}
	return c
}

// delta returns cur - prev for a counter, treating a decrease as a restart
// (the counter began again from 0).
func delta(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// quantileFromBuckets estimates quantile q (0..1) from cumulative bucket
// deltas the way PromQL's histogram_quantile does (linear within a bucket).
// Returns NaN when there are no observations.
func quantileFromBuckets(q float64, buckets []leCount) float64 {
	if len(buckets) == 0 {
		return math.NaN()
	}
	total := buckets[len(buckets)-1].count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, b := range buckets {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return prevLe // the highest finite bound is all we know
			}
			if b.count == prevCount {
				return b.le
			}
			return prevLe + (b.le-prevLe)*(rank-prevCount)/(b.count-prevCount)
		}
		prevLe, prevCount = b.le, b.count
	}
	return prevLe
}

// histDelta subtracts two cumulative histograms bucket by bucket (matching le).
func histDelta(prev, cur []leCount) []leCount {
	out := make([]leCount, len(cur))
	pm := make(map[float64]float64, len(prev))
	for _, b := range prev {
		pm[b.le] = b.count
	}
	restarted := false
	for _, b := range cur {
		if b.count < pm[b.le] {
			restarted = true
		}
	}
	for i, b := range cur {
		if restarted {
			out[i] = b
		} else {
			out[i] = leCount{b.le, b.count - pm[b.le]}
		}
	}
	// Cumulative counts must not decrease with le.
	for i := 1; i < len(out); i++ {
		if out[i].count < out[i-1].count {
			out[i].count = out[i-1].count
		}
	}
	return out
}

// toxiproxyBytes reads Toxiproxy's /metrics: bytes per proxy and direction
// (upstream: client → server).
func toxiproxyBytes(r io.Reader) (map[string][2]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse toxiproxy metrics: %w", err)
	}
	out := map[string][2]float64{}
	if f := fams["toxiproxy_proxy_sent_bytes_total"]; f != nil {
		for _, m := range f.GetMetric() {
			v := out[label(m, "proxy")]
			if label(m, "direction") == "upstream" {
				v[0] += finite(counterValue(m))
			} else {
				v[1] += finite(counterValue(m))
			}
			out[label(m, "proxy")] = v
		}
	}
	return out, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
