package record

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/outagelab/outagelab/reports/result"
)

// obsOf is one component's observation: probes passed, and a scrape that
// answered with cumulative requests (req >= 0) or failed (req < 0).
func obsOf(req float64) []observation {
	s := emptySample()
	s.flags = fProbed | fHealthOK | fScraped
	if req < 0 {
		return []observation{{s: s}}
	}
	s.flags |= fScrapeOK
	cum := &cumulative{requests: req, in5xx: req / 100, depAttempts: map[string]float64{"b": req}, depErr: map[string]*[numDepClasses]float64{},
		depCalls: map[string]float64{"b": req}, breaker: 0}
	return []observation{{cum: cum, s: s}, {s: emptySample()}}
}

func gapRecorder(t *testing.T) *Recorder {
	t.Helper()
	r, err := New(Config{Components: []Target{{Name: "a", MetricsURL: "http://127.0.0.1:1/metrics", HealthURL: "http://127.0.0.1:1/healthz"}, {Name: "b"}},
		Edges: []Edge{{Name: "a-b", From: "a", To: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fill(r *Recorder) *result.Result {
	res := &result.Result{}
	r.Fill(res)
	return res
}

// A scrape that failed at the end of bucket 2 (identity in a real run:
// requests [40 39 0 46], the 0 bucket "degraded") is unknown, and the next
// answer's traffic is spread over both buckets.
func TestMissedScrapeIsUnknownAndSpread(t *testing.T) {
	r := gapRecorder(t)
	for b, cum := range []float64{0, 40, 79, -1, 165, 205} {
		obs := obsOf(cum)
		if len(obs) == 1 {
			obs = append(obs, observation{s: emptySample()})
		}
		r.commit(b-1, obs, nil, nil, false)
	}
	res := fill(r)
	a := res.Components[0]
	if got := fmt.Sprint(a.Requests, a.State); got != "[40 39 43 43 40] [healthy healthy unknown healthy healthy]" {
		t.Errorf("requests and states: %s", got)
	}
	if got := fmt.Sprint(res.Edges[0].CallerRequests, res.Edges[0].CalleeRequests); got != "[40 39 43 43 40] [40 39 43 43 40]" {
		t.Errorf("edge counts: %s", got)
	}
}

// A final, partial bucket that covers little is judged on its probes alone;
// one that covers most of a bucket on what it measured. Neither is down when
// nothing failed.
func TestFinalPartialBucket(t *testing.T) {
	for _, c := range []struct {
		covered float64
		want    string
	}{{0.05, Unknown}, {0.8, Healthy}} {
		r := gapRecorder(t)
		for b, cum := range []float64{0, 40, 80} {
			r.commit(b-1, obsOf(cum), nil, nil, false)
		}
		r.finalCovered = c.covered
		r.commit(2, obsOf(80+40*c.covered), nil, nil, true)
		st := fill(r).Components[0].State
		if got := st[len(st)-1]; got != c.want || len(st) != 3 || st[0] != Healthy || st[1] != Healthy {
			t.Errorf("covered %.2f: states %v, want the last %s", c.covered, st, c.want)
		}
	}
}

// Without a baseline scrape, bucket 0 has nothing to subtract: unknown, not
// healthy on zero requests.
func TestFirstBucketWithoutBaseline(t *testing.T) {
	r := gapRecorder(t)
	r.commit(-1, obsOf(-1), nil, nil, false)
	r.commit(0, obsOf(500), nil, nil, false)
	r.commit(1, obsOf(540), nil, nil, false)
	a := fill(r).Components[0]
	if got := fmt.Sprint(a.Requests, a.State); got != "[0 40] [unknown healthy]" {
		t.Errorf("requests and states: %s", got)
	}
}

func TestUnknownBucketsInDerivations(t *testing.T) {
	// Recovery: unknown buckets neither break nor count toward the run.
	if rec := recoveryTime(states("DDhh?h"), 1000, 1500, 3); rec == nil || *rec != 2000-1500 {
		t.Errorf("recovery %v", rec)
	}
	if rec := recoveryTime(states("DDhh??"), 1000, 1500, 3); rec != nil {
		t.Errorf("recovery from 2 healthy buckets: %v", *rec)
	}
	// Detection: an unknown bucket does not detect.
	if l := detectionLag(states("h??d"), 1000, span{applied: 500, removed: -1}, 3); l == nil || *l != 3500 {
		t.Errorf("lag %v", l)
	}
	// Cascade: d ? d is one spell, not two onsets.
	got := cascade([]string{"a"}, map[string][]string{"a": states("hd?dh")}, nil, []span{{id: "f", applied: 1000, removed: 4000, targets: []string{"a"}}}, 1000, 3)
	if len(got) != 1 || got[0].bucket != 1 {
		t.Errorf("cascade %+v", got)
	}
	if got := cascade([]string{"a"}, map[string][]string{"a": states("d")}, nil, []span{{id: "f", applied: 0, removed: -1, targets: []string{"a"}}}, 1000, 3); len(got) != 1 {
		t.Errorf("onset in bucket 0: %+v", got)
	}
}

// slowSvc answers every request after delay, so a Stop right after a
// bucket boundary arrives while that boundary's scrape is in flight.
func slowSvc(t *testing.T, delay time.Duration) string {
	s := newSvc(t, "slow", func(s *svc, w http.ResponseWriter, r *http.Request) int { return 200 })
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		resp, err := http.Get(s.url + r.URL.Path)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}))
}

// In a real run every component's last bucket was down: Stop cancelled the
// boundary scrape in flight, which read as a failed probe.
func TestStopDuringScrapeInventsNoOutage(t *testing.T) {
	url := slowSvc(t, 60*time.Millisecond)
	bucket := 200 * time.Millisecond
	epoch := time.Now()
	r, err := New(Config{Epoch: epoch, Bucket: bucket, ProbeTimeout: 150 * time.Millisecond,
		Components: []Target{{Name: "a", MetricsURL: url + "/metrics", HealthURL: url + "/healthz"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(epoch.Add(3*bucket + 15*time.Millisecond))) // inside boundary 3's scrape
	r.Stop()
	st := fill(r).Components[0].State
	for b, s := range st {
		if s == Down || s == Degraded {
			t.Errorf("bucket %d of %v is %s: nothing failed", b, st, s)
		}
	}
	if len(st) < 3 || st[1] != Healthy {
		t.Errorf("states %v", st)
	}
}

// The baseline is taken at the epoch, not when Start is called: traffic
// before a future epoch is not bucket 0's. The service logs, under one lock
// with its traffic, the count every scrape saw and when, so the test knows
// exactly which requests fell before the baseline and in each bucket however
// slow the host is: no outcome depends on how long the traffic took.
func TestBaselineAtFutureEpoch(t *testing.T) {
	s := newScrapeLogSvc(t)
	bucket := 200 * time.Millisecond
	epoch := time.Now().Add(300 * time.Millisecond)
	r, err := New(Config{Epoch: epoch, Bucket: bucket, ProbeTimeout: 150 * time.Millisecond,
		Components: []Target{{Name: "a", MetricsURL: s.url + "/metrics", HealthURL: s.url + "/healthz"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	for i := 0; i < 30; i++ {
		resp, err := http.Get(s.url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The baseline and the scrapes closing buckets 0 and 1.
	scrapes := s.waitScrapes(t, 3, 30*time.Second)
	r.Stop()
	a := fill(r).Components[0]

	if scrapes[0].at.Before(epoch) {
		t.Fatalf("baseline scraped %v before the epoch: taken at Start, not at the epoch", epoch.Sub(scrapes[0].at))
	}
	if scrapes[0].total == 0 {
		t.Fatal("no request reached the service in the 300ms between Start and the epoch: " +
			"the host stalled for longer than that, so this run proved nothing")
	}
	if len(a.Requests) < 2 || len(a.State) < 2 {
		t.Fatalf("requests %v states %v: want at least two buckets", a.Requests, a.State)
	}
	for b := 0; b < 2; b++ {
		if a.State[b] == Unknown {
			t.Fatalf("bucket %d is unknown (states %v): its closing scrape did not answer within the 150ms probe timeout", b, a.State)
		}
		if want := int64(scrapes[b+1].total - scrapes[b].total); a.Requests[b] != want {
			t.Errorf("bucket %d: %d requests, want %d (the service saw %d before the baseline, then %d, %d): traffic before the epoch counted",
				b, a.Requests[b], want, scrapes[0].total, scrapes[1].total, scrapes[2].total)
		}
	}
	if strings.Contains(strings.Join(a.State, ","), Down) {
		t.Errorf("states %v", a.State)
	}
}

// scrapeLogSvc serves storefront request metrics and logs, for every
// /metrics scrape, when it came and the request count it served.
type scrapeLogSvc struct {
	url      string
	mu       sync.Mutex // serialises requests and scrapes: a scrape's count is exactly what it served
	total    int
	scrapes  []scrapeSeen
	requests *prometheus.CounterVec
	scraped  chan struct{} // a token per scrape
}

type scrapeSeen struct {
	at    time.Time
	total int
}

func newScrapeLogSvc(t *testing.T) *scrapeLogSvc {
	s := &scrapeLogSvc{scraped: make(chan struct{}, 1024)}
	reg := prometheus.NewRegistry()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "storefront_http_requests_total"}, []string{"service", "region", "route", "code"})
	reg.MustRegister(s.requests)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.scrapes = append(s.scrapes, scrapeSeen{at: time.Now(), total: s.total})
		metrics.ServeHTTP(w, r)
		s.scraped <- struct{}{}
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) })
	mux.HandleFunc("/x", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests.WithLabelValues("a", "r1", r.URL.Path, "200").Inc()
		s.total++
	})
	s.url = serve(t, mux)
	return s
}

// waitScrapes waits for n scrapes, failing after limit, and returns the log.
func (s *scrapeLogSvc) waitScrapes(t *testing.T, n int, limit time.Duration) []scrapeSeen {
	t.Helper()
	deadline := time.After(limit)
	for i := 0; i < n; i++ {
		select {
		case <-s.scraped:
		case <-deadline:
			t.Fatalf("only %d of %d scrapes within %v", i, n, limit)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scrapes)
}
