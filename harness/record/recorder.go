package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/internal/latch"
)

// Target is one component the recorder watches. Every URL must be reachable
// from the host (the harness gives the mapped ports).
type Target struct {
	Name   string
	Kind   string // service|datastore|monitoring|user
	Region string
	// MetricsURL: its Prometheus text endpoint ("" for none, e.g. a datastore).
	MetricsURL string
	// HealthURL: liveness probe (/healthz), 2xx = alive. ReadyURL: readiness.
	HealthURL string
	ReadyURL  string
	// TCPAddr: probed by a TCP connect when there is no HealthURL (datastores).
	TCPAddr string
}

// Edge is one caller → callee dependency.
type Edge struct {
	Name string
	From string
	To   string
	// Dependency is the `dependency` label the caller's storefront metrics
	// use for this edge. Default: To, else To without its "-<region>" suffix.
	Dependency string
	// Proxy is the Toxiproxy proxy name; default Name.
	Proxy string
}

// Monitor names the in-band monitoring component and its status URL.
type Monitor struct {
	Component string
	StatusURL string // GET /status
}

// JourneySource supplies journey outcomes (a *load.Generator).
type JourneySource interface {
	Stats() *load.Stats
}

// Config configures a Recorder.
type Config struct {
	Epoch        time.Time     // start of bucket 0; default: Start's time
	Bucket       time.Duration // default 1s
	Components   []Target
	Edges        []Edge
	ToxiproxyURL string // API base, e.g. http://127.0.0.1:8474; "" to skip
	Monitoring   *Monitor
	Load         JourneySource
	Client       *http.Client
	// ProbeTimeout bounds each scrape and probe; default 80% of the bucket, at most 2 s.
	ProbeTimeout time.Duration
	Rules        Rules
}

// sample is one component's bucket: compact, no raw samples kept.
type sample struct {
	requests uint32
	in5xx    uint32
	in4xx    uint32
	depReq   uint32
	depErr   [numDepClasses]uint32
	fallback uint32
	p50      float32 // ms; NaN unknown
	p95      float32
	p99      float32
	breaker  int8 // -1 unknown, 0 closed, 1 half-open, 2 open
	flags    uint8
}

const (
	fScraped  uint8 = 1 << iota // a scrape was attempted
	fScrapeOK                   // and answered with parseable metrics
	fProbed                     // a liveness probe was attempted
	fHealthOK                   // and passed
	fReadyProbed
	fReadyOK
	// fDelta: the counters are a delta over this bucket that the state
	// rule may judge: a scrape at its end answered, there was an earlier
	// one to subtract, and (last, partial bucket) it covers at least
	// MinCovered of a bucket.
	fDelta
)

// MinCovered is the part of a bucket the last, partial bucket must cover for
// its counters to be judged; below it they are kept in the series but the
// bucket is judged on its probes alone.
const MinCovered = 0.5

type edgeSample struct {
	callerReq uint32
	calls     uint32
	attempts  uint32
	bytesUp   uint32
	bytesDown uint32
}

type component struct {
	Target
	samples []sample
	prev    *cumulative
	prevAt  int // the bucket whose end prev was taken at; -1: the epoch
	// carry: probe flags taken at the last bucket boundary; they describe
	// the start of the next bucket (see commit).
	carry    uint8
	hasCarry bool
}

const probeFlags = fProbed | fHealthOK | fReadyProbed | fReadyOK

type edge struct {
	Edge
	samples []edgeSample
	prevBy  [2]float64
	prevAt  int
	hasPrev bool
}

// Recorder samples components into fixed buckets. Create with New; Start;
// Stop; then Fill a result.
type Recorder struct {
	cfg    Config
	client *http.Client
	epoch  time.Time

	mu      sync.Mutex
	comps   []*component
	byName  map[string]*component
	edges   []*edge
	monitor []int16 // per bucket: components monitoring reported unhealthy; -1 dark
	// monBad: per bucket, the watched components monitoring called
	// unhealthy (indexes into comps); monKnown: every watched component
	// monitoring ever reported on.
	monBad   [][]uint16
	monKnown map[int]bool
	monCarry *MonitorView // monitoring's answer at the last boundary
	monHas   bool
	nb       int // buckets closed
	// finalCovered: the part of the last, partial bucket that elapsed
	// before Stop (0..1); set by loop before the final commit.
	finalCovered float64

	cancel context.CancelFunc
	done   chan struct{}
	// failed holds a panic recovered in a sampling goroutine (see Failed).
	failed latch.Latch
}

// New validates cfg.
func New(cfg Config) (*Recorder, error) {
	if cfg.Bucket <= 0 {
		cfg.Bucket = time.Second
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = cfg.Bucket * 8 / 10
		if cfg.ProbeTimeout > 2*time.Second {
			cfg.ProbeTimeout = 2 * time.Second
		}
	}
	cfg.Rules = cfg.Rules.withDefaults()
	r := &Recorder{cfg: cfg, byName: map[string]*component{}, client: cfg.Client}
	if r.client == nil {
		r.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	}
	var errs []error
	for i, t := range cfg.Components {
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("component %d has no name", i))
			continue
		}
		if r.byName[t.Name] != nil {
			errs = append(errs, fmt.Errorf("component %q given twice", t.Name))
			continue
		}
		c := &component{Target: t}
		r.comps = append(r.comps, c)
		r.byName[t.Name] = c
	}
	for _, e := range cfg.Edges {
		if r.byName[e.From] == nil || r.byName[e.To] == nil {
			errs = append(errs, fmt.Errorf("edge %q: %s → %s names a component the recorder does not watch", e.Name, e.From, e.To))
			continue
		}
		if e.Proxy == "" {
			e.Proxy = e.Name
		}
		r.edges = append(r.edges, &edge{Edge: e})
	}
	if m := cfg.Monitoring; m != nil && m.StatusURL == "" {
		errs = append(errs, fmt.Errorf("monitoring %q: no status URL", m.Component))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("recorder config: %w", errors.Join(errs...))
	}
	return r, nil
}

// Epoch is the start of bucket 0.
func (r *Recorder) Epoch() time.Time { return r.epoch }

// Start takes a baseline scrape and samples every bucket until Stop.
func (r *Recorder) Start(ctx context.Context) error {
	if r.done != nil {
		return errors.New("recorder already started")
	}
	r.epoch = r.cfg.Epoch
	if r.epoch.IsZero() {
		r.epoch = time.Now()
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go r.loop(ctx)
	return nil
}

// Stop ends sampling. A scrape in flight at a boundary finishes (it is
// bounded by ProbeTimeout); the bucket in progress is closed with a last
// sample, judged per MinCovered.
func (r *Recorder) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
}

// loop takes the baseline at the epoch and a sample at every bucket
// boundary. Samples run on a context Stop does not cancel: a scrape cut
// short by Stop would read as a failed probe and a missing scrape, i.e. an
// outage the recorder invented.
func (r *Recorder) loop(ctx context.Context) {
	defer close(r.done)
	defer r.failed.Recover("recorder: sampling loop")
	sctx := context.WithoutCancel(ctx)
	t := time.NewTimer(time.Until(r.epoch))
	defer t.Stop()
	// Baseline: counters at the epoch, so bucket 0 holds only its own traffic.
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	r.scrapeAll(sctx, -1, false)
	for b := 0; ; b++ {
		start := r.epoch.Add(time.Duration(b) * r.cfg.Bucket)
		t.Reset(time.Until(start.Add(r.cfg.Bucket)))
		select {
		case <-ctx.Done():
			// Close the partial bucket with a last sample.
			r.finalCovered = min(max(float64(time.Since(start))/float64(r.cfg.Bucket), 0), 1)
			r.scrapeAll(sctx, b, true)
			return
		case <-t.C:
		}
		r.scrapeAll(sctx, b, false)
	}
}

// scrapeAll samples everything at the end of bucket b (b = -1: the epoch);
// final: the run stopped inside bucket b.
func (r *Recorder) scrapeAll(ctx context.Context, b int, final bool) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ProbeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	results := make([]observation, len(r.comps))
	for i, c := range r.comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.failed.Recover("recorder: scrape")
			cum, s := r.observe(ctx, c.Target, true)
			results[i] = observation{cum, s}
		}()
	}
	var tox map[string][2]float64
	if r.cfg.ToxiproxyURL != "" && len(r.edges) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.failed.Recover("recorder: scrape")
			body, err := r.get(ctx, strings.TrimRight(r.cfg.ToxiproxyURL, "/")+"/metrics")
			if err == nil {
				tox, _ = toxiproxyBytes(bytes.NewReader(body))
			}
		}()
	}
	var mon *MonitorView
	if m := r.cfg.Monitoring; m != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.failed.Recover("recorder: scrape")
			body, err := r.get(ctx, m.StatusURL)
			if err != nil {
				return
			}
			if v, err := ParseMonitorStatus(body); err == nil {
				mon = &v
			}
		}()
	}
	wg.Wait()
	r.commit(b, results, tox, mon, final)
}

// observation is one component's scrape and probe for a bucket.
type observation struct {
	cum *cumulative
	s   sample
}

// commit stores what was observed at the end of bucket b: obs is indexed
// like r.comps; tox may be nil; mon is what monitoring answered (nil: it did
// not answer, dark).
//
// Counters are deltas over bucket b. Probes and monitoring's answer are
// instants at the boundary, so they describe the start of bucket b+1: bucket
// b gets the ones taken at its own start (carried from the previous call).
// A fault applied just before a boundary therefore cannot show up in the
// bucket before it took effect. The last, partial bucket (final) also counts
// the probe taken when the run stopped: a failure in either fails it.
//
// Gaps: when a scrape fails, its bucket gets no counters (the state rule
// calls it unknown, unless a probe says otherwise) and the next scrape that
// answers covers every bucket since the last good one. Its deltas are
// spread over those buckets in proportion to their width (1 each, the
// final partial bucket finalCovered), so totals stay right and no bucket
// shows double traffic; latency quantiles and the breaker go only to the
// bucket the scrape closed. The same holds for edge counts and Toxiproxy
// bytes.
func (r *Recorder) commit(b int, results []observation, tox map[string][2]float64, mon *MonitorView, final bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range results {
		rs := results[i]
		c := r.comps[i]
		s := rs.s
		now := s.flags & probeFlags
		use := now
		if c.hasCarry {
			use = c.carry
			if final {
				use = mergeProbes(c.carry, now)
			}
		}
		s.flags = s.flags&^probeFlags | use
		c.carry, c.hasCarry = now, true
		if b < 0 {
			if rs.cum != nil {
				c.prev, c.prevAt = rs.cum, -1
			}
			continue
		}
		for len(c.samples) <= b {
			c.samples = append(c.samples, emptySample())
		}
		if rs.cum != nil && c.prev != nil {
			fillDelta(&s, c.prev, rs.cum)
			s.flags |= fDelta
			if final && r.finalCovered < MinCovered {
				s.flags &^= fDelta
			}
			from := c.prevAt + 1
			ws := r.widths(from, b, final)
			parts := make([]*sample, 0, len(ws))
			for j := from; j < b; j++ {
				parts = append(parts, &c.samples[j])
			}
			parts = append(parts, &s)
			spreadFields(ws, parts, (*sample).counters)
			r.putEdgeCounts(c, rs.cum, from, b, ws)
		}
		c.samples[b] = s
		if rs.cum != nil {
			c.prev, c.prevAt = rs.cum, b
		}
	}
	for _, e := range r.edges {
		if tox == nil {
			continue
		}
		v, ok := tox[e.Proxy]
		if !ok {
			continue
		}
		if b >= 0 && e.hasPrev {
			es := edgeSample{bytesUp: clampU32(delta(e.prevBy[0], v[0])), bytesDown: clampU32(delta(e.prevBy[1], v[1]))}
			e.spread(r.widths(e.prevAt+1, b, final), e.prevAt+1, es, (*edgeSample).bytes)
		}
		e.prevBy, e.prevAt, e.hasPrev = v, b, true
	}
	if b >= 0 {
		for len(r.monitor) <= b {
			r.monitor = append(r.monitor, -1)
			r.monBad = append(r.monBad, nil)
		}
		seen := mon
		if r.monHas {
			seen = r.monCarry
			if final && mon == nil {
				seen = nil
			}
		}
		if seen != nil {
			mon := seen
			r.monitor[b] = int16(min(len(mon.Unhealthy), math.MaxInt16))
			if r.monKnown == nil {
				r.monKnown = map[int]bool{}
			}
			for _, name := range mon.Names {
				if i, ok := r.index(name); ok {
					r.monKnown[i] = true
				}
			}
			var bad []uint16
			for _, name := range mon.Unhealthy {
				if i, ok := r.index(name); ok {
					bad = append(bad, uint16(i))
				}
			}
			r.monBad[b] = bad
		}
		if b+1 > r.nb {
			r.nb = b + 1
		}
	}
	if r.cfg.Monitoring != nil {
		r.monCarry, r.monHas = mon, true
	}
}

// mergeProbes combines two probe flag sets: probed if either was; passing
// only if every probe taken passed.
func mergeProbes(a, b uint8) uint8 {
	out := (a | b) & (fProbed | fReadyProbed)
	if out&fProbed != 0 && (a&fProbed == 0 || a&fHealthOK != 0) && (b&fProbed == 0 || b&fHealthOK != 0) {
		out |= fHealthOK
	}
	if out&fReadyProbed != 0 && (a&fReadyProbed == 0 || a&fReadyOK != 0) && (b&fReadyProbed == 0 || b&fReadyOK != 0) {
		out |= fReadyOK
	}
	return out
}

// index finds a watched component by name.
func (r *Recorder) index(name string) (int, bool) {
	for i, c := range r.comps {
		if c.Name == name {
			return i, true
		}
	}
	return 0, false
}

func (e *edge) at(b int) *edgeSample {
	for len(e.samples) <= b {
		e.samples = append(e.samples, edgeSample{})
	}
	return &e.samples[b]
}

// putEdgeCounts fills the edges whose caller is c from c's fresh scrape,
// spread over buckets from..b with widths ws. Called with r.mu held, before
// c.prev is replaced.
func (r *Recorder) putEdgeCounts(c *component, cur *cumulative, from, b int, ws []float64) {
	for _, e := range r.edges {
		if e.From != c.Name {
			continue
		}
		dep := r.depLabel(e.Edge, cur)
		es := edgeSample{
			callerReq: clampU32(delta(c.prev.requests, cur.requests)),
			attempts:  clampU32(delta(c.prev.depAttempts[dep], cur.depAttempts[dep])),
			calls:     clampU32(delta(c.prev.depCalls[dep], cur.depCalls[dep])),
		}
		e.spread(ws, from, es, (*edgeSample).calls3)
	}
}

// spread adds d's fields (picked by fields) to buckets from.. of e, split by
// widths ws.
func (e *edge) spread(ws []float64, from int, d edgeSample, fields func(*edgeSample) []*uint32) {
	e.at(from + len(ws) - 1)
	parts := make([]*edgeSample, len(ws))
	for j := range ws {
		parts[j] = &e.samples[from+j]
	}
	// The split is computed on d and added, so counts already in a
	// bucket (its other fields' source) are kept.
	tmp := make([]edgeSample, len(ws))
	tmp[len(ws)-1] = d
	tp := make([]*edgeSample, len(ws))
	for j := range tmp {
		tp[j] = &tmp[j]
	}
	spreadFields(ws, tp, fields)
	for j := range tp {
		dst, src := fields(parts[j]), fields(tp[j])
		for k := range dst {
			*dst[k] += *src[k]
		}
	}
}

func (e *edgeSample) calls3() []*uint32 { return []*uint32{&e.callerReq, &e.attempts, &e.calls} }
func (e *edgeSample) bytes() []*uint32  { return []*uint32{&e.bytesUp, &e.bytesDown} }

// counters are a sample's additive fields.
func (s *sample) counters() []*uint32 {
	out := []*uint32{&s.requests, &s.in5xx, &s.in4xx, &s.depReq, &s.fallback}
	for i := range s.depErr {
		out = append(out, &s.depErr[i])
	}
	return out
}

// widths are the weights of buckets from..b for spreading a delta: 1 each,
// the final partial bucket its covered part.
func (r *Recorder) widths(from, b int, final bool) []float64 {
	from = min(max(from, 0), b)
	ws := make([]float64, b-from+1)
	for i := range ws {
		ws[i] = 1
	}
	if final {
		ws[len(ws)-1] = r.finalCovered
	}
	return ws
}

// spreadFields splits the fields of the last of parts (the whole delta) over
// all of parts in proportion to ws, adding the earlier shares to what those
// parts hold. Integer shares are rounded cumulatively, so they sum to the
// delta exactly. With a single part, or no width at all, nothing moves.
func spreadFields[T any](ws []float64, parts []*T, fields func(*T) []*uint32) {
	if len(parts) < 2 || len(ws) != len(parts) {
		return
	}
	var total float64
	for _, w := range ws {
		total += w
	}
	if total <= 0 {
		return
	}
	last := fields(parts[len(parts)-1])
	for k, p := range last {
		all := float64(*p)
		var given, cum float64
		for j := 0; j < len(parts)-1; j++ {
			cum += ws[j]
			upto := math.Round(all * cum / total)
			*fields(parts[j])[k] += uint32(upto - given)
			given = upto
		}
		*p = uint32(all - given)
	}
}

func (r *Recorder) depLabel(e Edge, cur *cumulative) string {
	if e.Dependency != "" {
		return e.Dependency
	}
	if _, ok := cur.depAttempts[e.To]; ok {
		return e.To
	}
	to := r.byName[e.To]
	if to != nil && to.Region != "" {
		return strings.TrimSuffix(e.To, "-"+to.Region)
	}
	return e.To
}

func emptySample() sample {
	nan := float32(math.NaN())
	return sample{p50: nan, p95: nan, p99: nan, breaker: -1}
}

func clampU32(v float64) uint32 {
	if v <= 0 || math.IsNaN(v) {
		return 0
	}
	if v >= math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v + 0.5)
}

func fillDelta(s *sample, prev, cur *cumulative) {
	s.requests = clampU32(delta(prev.requests, cur.requests))
	s.in5xx = clampU32(delta(prev.in5xx, cur.in5xx))
	s.in4xx = clampU32(delta(prev.in4xx, cur.in4xx))
	s.fallback = clampU32(delta(prev.fallback, cur.fallback))
	var attempts float64
	for dep, v := range cur.depAttempts {
		attempts += delta(prev.depAttempts[dep], v)
	}
	s.depReq = clampU32(attempts)
	for dep, e := range cur.depErr {
		pe := prev.depErr[dep]
		for i := range e {
			var p float64
			if pe != nil {
				p = pe[i]
			}
			s.depErr[i] += clampU32(delta(p, e[i]))
		}
	}
	if h := histDelta(prev.latency, cur.latency); len(h) > 0 {
		s.p50 = float32(quantileFromBuckets(0.50, h) * 1000)
		s.p95 = float32(quantileFromBuckets(0.95, h) * 1000)
		s.p99 = float32(quantileFromBuckets(0.99, h) * 1000)
	}
	s.breaker = int8(cur.breaker)
}

// observe scrapes and probes one component. The scrape and the probes run
// concurrently, each within the probe timeout, so a slow /metrics cannot
// starve the liveness probe. A request cut short because ctx was cancelled
// (not timed out) observed nothing and sets no flag.
func (r *Recorder) observe(ctx context.Context, t Target, probe bool) (*cumulative, sample) {
	s := emptySample()
	var cum *cumulative
	var wg sync.WaitGroup
	var scrape, health, ready uint8
	// check runs fn and returns the flags it earns: tried (and ok) or,
	// when ctx was cancelled under it, nothing.
	check := func(tried, ok uint8, fn func() error) uint8 {
		defer r.failed.Recover("recorder: probe of " + t.Name) // runs in each probe goroutine
		err := fn()
		switch {
		case err == nil:
			return tried | ok
		case errors.Is(ctx.Err(), context.Canceled):
			return 0
		}
		return tried
	}
	if t.MetricsURL != "" {
		wg.Go(func() {
			scrape = check(fScraped, fScrapeOK, func() error {
				body, err := r.get(ctx, t.MetricsURL)
				if err != nil {
					return err
				}
				cum, err = parseMetrics(bytes.NewReader(body))
				return err
			})
		})
	}
	if probe {
		switch {
		case t.HealthURL != "":
			wg.Go(func() {
				health = check(fProbed, fHealthOK, func() error { _, err := r.get(ctx, t.HealthURL); return err })
			})
		case t.TCPAddr != "":
			wg.Go(func() {
				health = check(fProbed, fHealthOK, func() error {
					d := net.Dialer{}
					c, err := d.DialContext(ctx, "tcp", t.TCPAddr)
					if err == nil {
						c.Close()
					}
					return err
				})
			})
		}
		if t.ReadyURL != "" {
			wg.Go(func() {
				ready = check(fReadyProbed, fReadyOK, func() error { _, err := r.get(ctx, t.ReadyURL); return err })
			})
		}
	}
	wg.Wait()
	if scrape&fScrapeOK == 0 {
		cum = nil
	}
	s.flags |= scrape | health | ready
	return cum, s
}

// get fetches url; a non-2xx answer is an error.
func (r *Recorder) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "outagelab-recorder")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return body, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}
