package resilience

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the dependency metrics of one service (CONTRACT.md
// "Metrics"). The service and region labels are constant per process.
type Metrics struct {
	requests *prometheus.CounterVec
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	fallback *prometheus.CounterVec
	inflight *prometheus.GaugeVec

	mu     sync.Mutex
	states map[string]func() float64 // breaker state per dependency
	desc   *prometheus.Desc
}

// DurationBuckets are the latency histogram buckets (seconds), shared by the
// inbound and dependency histograms: fine around loopback latencies, wide
// enough to see a 5 s fragile timeout.
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics creates the dependency metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer, service, region string) (*Metrics, error) {
	cl := prometheus.Labels{"service": service, "region": region}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storefront_dependency_requests_total", ConstLabels: cl,
			Help: "Attempts to call a dependency (retries included), by outcome class.",
		}, []string{"dependency", "outcome"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storefront_dependency_calls_total", ConstLabels: cl,
			Help: "Logical calls to a dependency after retries, by result (ok, error, fallback).",
		}, []string{"dependency", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "storefront_dependency_duration_seconds", ConstLabels: cl, Buckets: DurationBuckets,
			Help: "Duration of each attempt to call a dependency.",
		}, []string{"dependency"}),
		fallback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storefront_fallback_served_total", ConstLabels: cl,
			Help: "Degraded answers served instead of a dependency's answer.",
		}, []string{"dependency"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "storefront_inflight", ConstLabels: cl,
			Help: "Attempts to a dependency currently in flight.",
		}, []string{"dependency"}),
		states: map[string]func() float64{},
		desc: prometheus.NewDesc("storefront_breaker_state",
			"Circuit breaker state: 0 closed, 1 half-open, 2 open (0 when the policy has no breaker).",
			[]string{"dependency"}, cl),
	}
	for _, c := range []prometheus.Collector{m.requests, m.calls, m.duration, m.fallback, m.inflight, m} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register dependency metrics: %w", err)
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector for the breaker state gauge.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// Collect implements prometheus.Collector. The state is read at scrape time,
// so an open breaker whose timeout passed reads as half-open, as gobreaker
// would treat the next call.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for dep, f := range m.states {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, f(), dep)
	}
}

// register pre-creates every series of a dependency so that scrapes show
// zeros rather than missing series before the first failure.
func (m *Metrics) register(dep string, state func() float64) {
	for _, o := range Outcomes {
		m.requests.WithLabelValues(dep, o)
	}
	for _, r := range []string{ResultOK, ResultError, ResultFallback} {
		m.calls.WithLabelValues(dep, r)
	}
	m.duration.WithLabelValues(dep)
	m.fallback.WithLabelValues(dep)
	m.inflight.WithLabelValues(dep)
	m.mu.Lock()
	m.states[dep] = state
	m.mu.Unlock()
}
