package record

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/reports/result"
)

// svc is a small real service exporting the storefront metric names of
// services/CONTRACT.md with the real Prometheus client.
type svc struct {
	name     string
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	depReq   *prometheus.CounterVec
	depCalls *prometheus.CounterVec
	url      string
}

func newSvc(t *testing.T, name string, handler func(s *svc, w http.ResponseWriter, r *http.Request) int) *svc {
	s := &svc{name: name, reg: prometheus.NewRegistry()}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "storefront_http_requests_total"}, []string{"service", "region", "route", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "storefront_http_request_duration_seconds", Buckets: prometheus.DefBuckets}, []string{"service", "region", "route"})
	s.depReq = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "storefront_dependency_requests_total"}, []string{"service", "region", "dependency", "outcome"})
	s.depCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "storefront_dependency_calls_total"}, []string{"service", "region", "dependency", "result"})
	s.reg.MustRegister(s.requests, s.duration, s.depReq, s.depCalls)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		code := handler(s, w, r)
		s.requests.WithLabelValues(name, "r1", r.URL.Path, fmt.Sprint(code)).Inc()
		s.duration.WithLabelValues(name, "r1", r.URL.Path).Observe(time.Since(t0).Seconds())
	})
	s.url = serve(t, mux)
	return s
}

func serve(t *testing.T, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestRecorderAgainstRealServicesAndToxiproxy(t *testing.T) {
	// catalog ◄── toxiproxy "gateway-catalog" ◄── gateway ◄── load generator
	catalog := newSvc(t, "catalog", func(s *svc, w http.ResponseWriter, r *http.Request) int {
		fmt.Fprint(w, `{"products":[{"id":"p1"}]}`)
		return 200
	})

	metrics := toxiproxy.NewMetricsContainer(prometheus.NewRegistry())
	metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	tox := toxiproxy.NewServer(metrics, zerolog.Nop())
	toxURL := serve(t, tox.Routes())
	proxy := toxiproxy.NewProxy(tox, "gateway-catalog", "127.0.0.1:0", strings.TrimPrefix(catalog.url, "http://"))
	if err := tox.Collection.Add(proxy, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	proxyURL := "http://" + proxy.Listen

	// The gateway retries its catalog call 3 times, naively.
	depClient := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	gateway := newSvc(t, "gateway", func(s *svc, w http.ResponseWriter, r *http.Request) int {
		for attempt := 0; attempt < 3; attempt++ {
			resp, err := depClient.Get(proxyURL + "/api/products")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				s.depReq.WithLabelValues("gateway", "r1", "catalog", "ok").Inc()
				s.depCalls.WithLabelValues("gateway", "r1", "catalog", "ok").Inc()
				fmt.Fprint(w, `{"products":[{"id":"p1"}]}`)
				return 200
			}
			s.depReq.WithLabelValues("gateway", "r1", "catalog", string(load.ClassifyError(err).String())).Inc()
		}
		s.depCalls.WithLabelValues("gateway", "r1", "catalog", "error").Inc()
		w.WriteHeader(503)
		return 503
	})

	var dark atomic.Bool
	monitoring := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		if dark.Load() {
			time.Sleep(300 * time.Millisecond) // congested: answers too late
			w.WriteHeader(503)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"components": []map[string]any{{"name": "gateway", "healthy": true}, {"name": "catalog", "healthy": true}}})
	}))

	bucket := 200 * time.Millisecond
	epoch := time.Now()
	gen, err := load.New(load.Config{Regions: []load.Region{{Name: "r1", BaseURL: gateway.url, Rate: 100}},
		Mix: load.Mix{load.Browse: 1}, Epoch: epoch, Bucket: bucket, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := New(Config{
		Epoch: epoch, Bucket: bucket, ProbeTimeout: 150 * time.Millisecond,
		Components: []Target{
			{Name: "gateway", Kind: "service", Region: "r1", MetricsURL: gateway.url + "/metrics", HealthURL: gateway.url + "/healthz"},
			{Name: "catalog", Kind: "service", Region: "r1", MetricsURL: catalog.url + "/metrics", HealthURL: catalog.url + "/healthz"},
			{Name: "monitoring", Kind: "monitoring", Region: "r1", HealthURL: monitoring + "/healthz"},
		},
		Edges:        []Edge{{Name: "gateway-catalog", From: "gateway", To: "catalog"}},
		ToxiproxyURL: toxURL,
		Monitoring:   &Monitor{Component: "monitoring", StatusURL: monitoring + "/status"},
		Load:         gen,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rec.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := gen.Start(ctx); err != nil {
		t.Fatal(err)
	}
	setEnabled := func(on bool) time.Time {
		req, _ := http.NewRequest(http.MethodPost, toxURL+"/proxies/gateway-catalog", strings.NewReader(fmt.Sprintf(`{"enabled":%v}`, on)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("toggle proxy: %v %v", err, resp)
		}
		resp.Body.Close()
		return time.Now()
	}
	time.Sleep(1200 * time.Millisecond)
	phaseStart := time.Now()
	applied := setEnabled(false)
	dark.Store(true)
	time.Sleep(1200 * time.Millisecond)
	removed := setEnabled(true)
	dark.Store(false)
	phaseEnd := time.Now()
	time.Sleep(1400 * time.Millisecond)
	live := rec.Live()
	gen.Stop()
	rec.Stop()

	res := &result.Result{Phases: []result.Phase{{Name: "outage", StartedAt: phaseStart, EndedAt: phaseEnd,
		Faults: []result.Fault{{ID: "outage/0", Kind: "down", Targets: []string{"gateway-catalog"}, AppliedAt: &applied, RemovedAt: &removed}}}}}
	rec.Fill(res)

	if live.Components["gateway"] != Healthy || len(live.Journeys) != 1 || live.Journeys[0].SuccessRate < 0.9 {
		t.Errorf("live after recovery: %+v", live)
	}
	comp := map[string]result.Component{}
	for _, c := range res.Components {
		comp[c.Name] = c
	}
	gw := comp["gateway"]
	bms := res.BucketMillis
	ab, rb := int(applied.Sub(epoch).Milliseconds()/bms), int(removed.Sub(epoch).Milliseconds()/bms)
	t.Logf("gateway states %v", gw.State)
	t.Logf("catalog states %v", comp["catalog"].State)
	for b := 1; b < ab-1; b++ {
		if gw.State[b] != Healthy {
			t.Errorf("gateway %s in bucket %d before the fault", gw.State[b], b)
		}
	}
	if gw.State[ab+2] != Down {
		t.Errorf("gateway %s during the fault, want down (every request 503)", gw.State[ab+2])
	}
	for b, s := range comp["catalog"].State {
		if s == Down {
			t.Errorf("catalog down in bucket %d: only its edge was cut", b)
		}
	}
	if len(gw.Degradations) != 1 || gw.Degradations[0].DetectionLagMs == nil || *gw.Degradations[0].DetectionLagMs > 3*bms ||
		gw.Degradations[0].RecoveryMs == nil || *gw.Degradations[0].RecoveryMs > 5*bms {
		t.Errorf("gateway degradations %+v", gw.Degradations)
	} else {
		t.Logf("gateway detection lag %d ms, recovery %d ms", *gw.Degradations[0].DetectionLagMs, *gw.Degradations[0].RecoveryMs)
	}
	if len(res.Cascade) == 0 || res.Cascade[0].Component != "gateway" || res.Cascade[0].Cause != "outage/0" || res.Cascade[0].Edge != "gateway-catalog" {
		t.Errorf("cascade %+v", res.Cascade)
	}
	if len(res.Edges) != 1 {
		t.Fatalf("edges %+v", res.Edges)
	}
	e := res.Edges[0]
	if amp := e.AmplificationByPhase["outage"]; amp < 2.2 || amp > 3.01 || e.AmplificationBasis != "logical_calls" {
		t.Errorf("amplification in outage %.2f (%s), want ~3 (three attempts per failing call)", amp, e.AmplificationBasis)
	}
	if e.RetryAmplification < 1 || e.RetryAmplification >= e.AmplificationByPhase["outage"] {
		t.Errorf("run amplification %.2f", e.RetryAmplification)
	}
	var down int64
	for _, v := range e.BytesDown {
		down += v
	}
	if down == 0 {
		t.Error("no bytes from Toxiproxy's metrics")
	}
	var browse *result.Journey
	for i := range res.Journeys {
		if res.Journeys[i].Name == "browse" {
			browse = &res.Journeys[i]
		}
	}
	if browse == nil || browse.ByPhase["outage"].SuccessRate > 0.3 || browse.Attempts < 300 {
		t.Fatalf("browse %+v", browse)
	}
	if len(res.BlastRadius) != 1 || strings.Join(res.BlastRadius[0].Journeys, ",") != "browse/r1" {
		t.Errorf("blast radius %+v", res.BlastRadius)
	}
	m := res.Monitoring
	if m == nil || m.DarkBuckets < 3 || m.DarkBuckets > rb-ab+3 {
		t.Errorf("monitoring %+v", m)
	} else {
		t.Log(m.Summary)
	}
	if res.Load == nil || res.Load.Sent < 300 || res.Load.Dropped != 0 {
		t.Errorf("load stats %+v", res.Load)
	}
	if err := res.Encode(io.Discard); err != nil {
		t.Errorf("result does not encode: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Config{Components: []Target{{Name: "a"}, {Name: "a"}, {}}, Edges: []Edge{{Name: "x", From: "a", To: "b"}},
		Monitoring: &Monitor{Component: "m"}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"given twice", "no name", "does not watch", "no status URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
