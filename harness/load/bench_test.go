package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Benchmarks run one fixed-duration attack per iteration; use -benchtime=1x.
// OUTAGELAB_BENCH_SECONDS (default 5) sets the duration, OUTAGELAB_BENCH_RATE
// (default 2000) the rate. Both run with GOMAXPROCS=1: "one core", handler
// included, as the vegeta anchor in TOOLING.md was measured.

func benchParams() (time.Duration, float64) {
	d, rate := 5*time.Second, 2000.0
	if s, err := strconv.ParseFloat(os.Getenv("OUTAGELAB_BENCH_SECONDS"), 64); err == nil && s > 0 {
		d = time.Duration(s * float64(time.Second))
	}
	if r, err := strconv.ParseFloat(os.Getenv("OUTAGELAB_BENCH_RATE"), 64); err == nil && r > 0 {
		rate = r
	}
	return d, rate
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func trivialServer() *httptest.Server {
	body := []byte(`{"products":[]}`)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
}

type attackFigures struct {
	rate, p50, p99, cpu float64
	ok                  float64
}

func (f attackFigures) report(b *testing.B) {
	b.ReportMetric(f.rate, "req/s")
	b.ReportMetric(f.p50, "sched-p50-ms")
	b.ReportMetric(f.p99, "sched-p99-ms")
	b.ReportMetric(f.cpu, "cpu-s")
	b.ReportMetric(f.ok, "ok-ratio")
}

func attackOutageLab(b *testing.B, url string, d time.Duration, rate float64) attackFigures {
	g, err := New(Config{Regions: []Region{{Name: "r", BaseURL: url, Rate: rate}}, Mix: Mix{Browse: 1}, ProductIDs: manyIDs()})
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuSeconds()
	if err := g.Run(context.Background(), d); err != nil {
		b.Fatal(err)
	}
	cpu := cpuSeconds() - cpu0
	w, _ := g.Stats().Totals(SeriesID{Browse, "r"})
	sc := g.Stats().Schedule()
	return attackFigures{
		rate: float64(sc.Sent) / d.Seconds(),
		p50:  sc.P50.Seconds() * 1000, p99: sc.P99.Seconds() * 1000,
		cpu: cpu, ok: w.SuccessRate(),
	}
}

// manyIDs preloads 100 products so browse answers are not parsed.
func manyIDs() []string {
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}

func attackVegeta(b *testing.B, url string, d time.Duration, rate float64) attackFigures {
	atk := vegeta.NewAttacker(vegeta.Timeout(5 * time.Second))
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url + "/api/products?limit=20"})
	pacer := vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}
	interval := float64(time.Second) / rate
	cpu0 := cpuSeconds()
	began := time.Now()
	var lags []float64
	var ok, n int
	for res := range atk.Attack(tr, pacer, d, "bench") {
		intended := began.Add(time.Duration(float64(res.Seq) * interval))
		lags = append(lags, float64(res.Timestamp.Sub(intended))/1e6)
		n++
		if res.Code == 200 {
			ok++
		}
	}
	cpu := cpuSeconds() - cpu0
	sort.Float64s(lags)
	q := func(p float64) float64 {
		if len(lags) == 0 {
			return 0
		}
		return lags[int(p*float64(len(lags)-1))]
	}
	return attackFigures{rate: float64(n) / d.Seconds(), p50: q(0.5), p99: q(0.99), cpu: cpu, ok: float64(ok) / float64(max(n, 1))}
}

// BenchmarkGenerator: the budget is ≥ 2,000 req/s on one core with a median
// schedule error below 1 ms.
func BenchmarkGenerator(b *testing.B) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	srv := trivialServer()
	defer srv.Close()
	d, rate := benchParams()
	for i := 0; i < b.N; i++ {
		attackOutageLab(b, srv.URL, d, rate).report(b)
	}
}

// BenchmarkVsVegeta runs vegeta (as a library) and this generator at the same
// rate against the same trivial loopback handler.
func BenchmarkVsVegeta(b *testing.B) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	srv := trivialServer()
	defer srv.Close()
	d, rate := benchParams()
	b.Run("outagelab", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			attackOutageLab(b, srv.URL, d, rate).report(b)
		}
	})
	b.Run("vegeta", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			attackVegeta(b, srv.URL, d, rate).report(b)
		}
	})
}

func BenchmarkStatsAddJourney(b *testing.B) {
	s := NewStats(time.Now(), time.Second)
	t0 := s.Epoch()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.AddJourney(Browse, "r", t0.Add(time.Duration(i)*500*time.Microsecond), time.Duration(i%5000)*time.Microsecond, OK)
	}
}

// BenchmarkStatsHour holds a 1-hour run at 1 s buckets: 6 journeys × 2
// regions at 60 journeys/s in all, with realistic latency spread, and reports
// the heap the stats keep (they are part of the recorder's memory budget).
func BenchmarkStatsHour(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := NewStats(time.Now(), time.Second)
		t0 := s.Epoch()
		js := Journeys()
		regions := []string{"us-east-1", "eu-west-1"}
		n := 0
		for sec := 0; sec < 3600; sec++ {
			for k := 0; k < 60; k++ {
				n++
				lat := time.Duration(1000+(n*7919)%200000) * time.Microsecond
				s.AddJourney(js[n%len(js)], regions[n%2], t0.Add(time.Duration(sec)*time.Second+time.Duration(k)*16*time.Millisecond), lat, Outcome(n%3))
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "MB-held")
		runtime.KeepAlive(s)
	}
}
