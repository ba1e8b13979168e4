package load

import (
	"maps"
	"strconv"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 1 h with two
// significant digits (1% precision): enough for percentiles of user-visible
// latency and small enough to keep one sparse histogram per bucket.
const (
	latLowest  int64 = 1
	latHighest int64 = int64(time.Hour / time.Microsecond)
	latSigFigs       = 2
)

// bucketStats is one journey × region × bucket. lat is sparse: its size grows
// with the number of distinct latency values (≤ ~3,200), not with requests.
type bucketStats struct {
	counts  [numOutcomes]uint32
	dropped uint32
	lat     *hdrhistogram.PackedHistogram
}

type seriesKey struct {
	journey Journey
	region  string
}

type series struct {
	buckets []bucketStats
	total   [numOutcomes]int64
	dropped int64
	late    int64
	all     *hdrhistogram.Histogram // whole run
}

type stepKey struct {
	journey Journey
	step    string
	region  string
}

type stepStats struct {
	counts [numOutcomes]int64
	lat    *hdrhistogram.Histogram
	// errors counts failed answers by "status code" (e.g. "409 out_of_stock"),
	// at most maxStepErrorKeys distinct keys; the rest count as "other".
	errors map[string]int64
}

// maxStepErrorKeys bounds the distinct error keys kept per step, so a
// storefront that puts ids in its error codes cannot grow memory.
const maxStepErrorKeys = 32

// Stats accumulates journey outcomes and latencies into fixed buckets
// aligned with an epoch: bucket i covers [epoch+i*width, epoch+(i+1)*width).
// A journey is counted in the bucket of its intended start. Safe for
// concurrent use.
type Stats struct {
	epoch time.Time
	width time.Duration

	mu       sync.Mutex
	series   map[seriesKey]*series
	order    []seriesKey
	steps    map[stepKey]*stepStats
	stepKeys []stepKey
	sched    *hdrhistogram.Histogram // schedule error, µs
	late     int64
	dropped  int64
	sent     int64
}

// NewStats returns empty stats with the given epoch and bucket width.
func NewStats(epoch time.Time, width time.Duration) *Stats {
	if width <= 0 {
		width = time.Second
	}
	return &Stats{
		epoch:  epoch,
		width:  width,
		series: map[seriesKey]*series{},
		steps:  map[stepKey]*stepStats{},
		sched:  hdrhistogram.New(latLowest, latHighest, 3),
	}
}

// Epoch returns the start of bucket 0.
func (s *Stats) Epoch() time.Time { return s.epoch }

// BucketWidth returns the bucket width.
func (s *Stats) BucketWidth() time.Duration { return s.width }

// BucketOf returns the bucket index of t (negative before the epoch).
func (s *Stats) BucketOf(t time.Time) int {
	d := t.Sub(s.epoch)
	if d < 0 {
		return int((d - s.width + 1) / s.width)
	}
	return int(d / s.width)
}

func micros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	if us < latLowest {
		us = latLowest
	}
	if us > latHighest {
		us = latHighest
	}
	return us
}

func (s *Stats) seriesFor(j Journey, region string) *series {
	k := seriesKey{j, region}
	sr := s.series[k]
	if sr == nil {
		sr = &series{all: hdrhistogram.New(latLowest, latHighest, latSigFigs)}
		s.series[k] = sr
		s.order = append(s.order, k)
	}
	return sr
}

func (sr *series) bucket(i int) *bucketStats {
	if i < 0 {
		i = 0
	}
	for len(sr.buckets) <= i {
		sr.buckets = append(sr.buckets, bucketStats{})
	}
	return &sr.buckets[i]
}

// AddJourney records one finished journey that was intended to start at
// intended and took latency (measured from intended).
func (s *Stats) AddJourney(j Journey, region string, intended time.Time, latency time.Duration, o Outcome) {
	if o >= numOutcomes {
		o = Other
	}
	us := micros(latency)
	s.mu.Lock()
	sr := s.seriesFor(j, region)
	b := sr.bucket(s.BucketOf(intended))
	b.counts[o]++
	if b.lat == nil {
		b.lat = hdrhistogram.NewPacked(latLowest, latHighest, latSigFigs)
	}
	_ = b.lat.RecordValue(us)
	sr.total[o]++
	_ = sr.all.RecordValue(us)
	s.mu.Unlock()
}

// AddStep records one step of a journey (totals only, not per bucket).
// status and code (the storefront's JSON error code) are kept for failed
// answers (status >= 400), so a report can say why a step failed.
func (s *Stats) AddStep(j Journey, step, region string, latency time.Duration, o Outcome, status int, code string) {
	if o >= numOutcomes {
		o = Other
	}
	us := micros(latency)
	k := stepKey{j, step, region}
	s.mu.Lock()
	st := s.steps[k]
	if st == nil {
		st = &stepStats{lat: hdrhistogram.New(latLowest, latHighest, latSigFigs)}
		s.steps[k] = st
		s.stepKeys = append(s.stepKeys, k)
	}
	st.counts[o]++
	_ = st.lat.RecordValue(us)
	if status >= 400 {
		key := strconv.Itoa(status)
		if code != "" {
			key += " " + code
		}
		if st.errors == nil {
			st.errors = map[string]int64{}
		}
		if _, seen := st.errors[key]; !seen && len(st.errors) >= maxStepErrorKeys {
			key = "other"
		}
		st.errors[key]++
	}
	s.mu.Unlock()
}

// AddDropped records an arrival the generator could not serve (cap reached,
// or no idle user). It is not an attempt: the system under test never saw it.
func (s *Stats) AddDropped(j Journey, region string, intended time.Time) {
	s.mu.Lock()
	sr := s.seriesFor(j, region)
	sr.bucket(s.BucketOf(intended)).dropped++
	sr.dropped++
	s.dropped++
	s.mu.Unlock()
}

// AddSchedule records how late an arrival's first request was sent relative
// to its intended start; late reports it passed the lateness threshold.
func (s *Stats) AddSchedule(j Journey, region string, lag time.Duration, late bool) {
	if lag < 0 {
		lag = 0
	}
	s.mu.Lock()
	_ = s.sched.RecordValue(micros(lag))
	s.sent++
	if late {
		s.late++
		s.seriesFor(j, region).late++
	}
	s.mu.Unlock()
}

// SeriesID names one journey × region series.
type SeriesID struct {
	Journey Journey
	Region  string
}

// Series lists the journey × region series seen so far, in first-seen order.
func (s *Stats) Series() []SeriesID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SeriesID, len(s.order))
	for i, k := range s.order {
		out[i] = SeriesID{k.journey, k.region}
	}
	return out
}

// Bucket is one bucket of one series.
type Bucket struct {
	Counts  [numOutcomes]int64 // by Outcome
	Dropped int64
	P50Ms   float64 // 0 when Attempts is 0
	P95Ms   float64
	P99Ms   float64
}

// Attempts is the number of finished journeys in the bucket.
func (b Bucket) Attempts() int64 {
	var n int64
	for _, c := range b.Counts {
		n += c
	}
	return n
}

// Successes counts ok + fallback.
func (b Bucket) Successes() int64 { return b.Counts[OK] + b.Counts[Fallback] }

// Buckets returns the per-bucket figures of a series, n buckets long (padded
// with empty buckets; n <= 0: as many as recorded).
func (s *Stats) Buckets(id SeriesID, n int) []Bucket {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.series[seriesKey{id.Journey, id.Region}]
	if n <= 0 && sr != nil {
		n = len(sr.buckets)
	}
	out := make([]Bucket, n)
	if sr == nil {
		return out
	}
	qs := []float64{50, 95, 99}
	for i := 0; i < n && i < len(sr.buckets); i++ {
		b := &sr.buckets[i]
		o := &out[i]
		for k, c := range b.counts {
			o.Counts[k] = int64(c)
		}
		o.Dropped = int64(b.dropped)
		if b.lat != nil && b.lat.TotalCount() > 0 {
			v := b.lat.ValueAtPercentilesSlice(qs)
			o.P50Ms, o.P95Ms, o.P99Ms = usToMs(v[0]), usToMs(v[1]), usToMs(v[2])
		}
	}
	return out
}

func usToMs(us int64) float64 { return float64(us) / 1000 }

// Window summarises a series over buckets [from, to).
type Window struct {
	Counts  [numOutcomes]int64
	Dropped int64
	P50Ms   float64
	P95Ms   float64
	P99Ms   float64
	MaxMs   float64
}

// Attempts is the number of finished journeys in the window.
func (w Window) Attempts() int64 {
	var n int64
	for _, c := range w.Counts {
		n += c
	}
	return n
}

// SuccessRate is (ok+fallback)/attempts in 0..1; 0 with no attempts.
func (w Window) SuccessRate() float64 {
	a := w.Attempts()
	if a == 0 {
		return 0
	}
	return float64(w.Counts[OK]+w.Counts[Fallback]) / float64(a)
}

// Window merges buckets [from, to) of a series; percentiles are exact to
// the histogram's precision (the buckets' histograms are merged, not averaged).
func (s *Stats) Window(id SeriesID, from, to int) Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w Window
	sr := s.series[seriesKey{id.Journey, id.Region}]
	if sr == nil {
		return w
	}
	if from < 0 {
		from = 0
	}
	if to > len(sr.buckets) {
		to = len(sr.buckets)
	}
	h := hdrhistogram.New(latLowest, latHighest, latSigFigs)
	for i := from; i < to; i++ {
		b := &sr.buckets[i]
		for k, c := range b.counts {
			w.Counts[k] += int64(c)
		}
		w.Dropped += int64(b.dropped)
		if b.lat != nil {
			b.lat.MergeInto(h)
		}
	}
	if h.TotalCount() > 0 {
		v := h.ValueAtPercentilesSlice([]float64{50, 95, 99})
		w.P50Ms, w.P95Ms, w.P99Ms = usToMs(v[0]), usToMs(v[1]), usToMs(v[2])
		w.MaxMs = usToMs(h.Max())
	}
	return w
}

// Totals summarises a series over the whole run.
func (s *Stats) Totals(id SeriesID) (w Window, late int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.series[seriesKey{id.Journey, id.Region}]
	if sr == nil {
		return w, 0
	}
	w.Counts = sr.total
	w.Dropped = sr.dropped
	if sr.all.TotalCount() > 0 {
		v := sr.all.ValueAtPercentilesSlice([]float64{50, 95, 99})
		w.P50Ms, w.P95Ms, w.P99Ms = usToMs(v[0]), usToMs(v[1]), usToMs(v[2])
		w.MaxMs = usToMs(sr.all.Max())
	}
	return w, sr.late
}

// StepSummary is one step of one journey in one region over the run.
type StepSummary struct {
	Journey Journey
	Step    string
	Region  string
	Counts  [numOutcomes]int64
	P50Ms   float64
	P99Ms   float64
	// Errors counts failed answers by "status code", e.g. "409 out_of_stock".
	Errors map[string]int64
}

// Steps lists every step's totals in first-seen order.
func (s *Stats) Steps() []StepSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StepSummary, 0, len(s.stepKeys))
	for _, k := range s.stepKeys {
		st := s.steps[k]
		ss := StepSummary{Journey: k.journey, Step: k.step, Region: k.region, Counts: st.counts}
		if len(st.errors) > 0 {
			ss.Errors = maps.Clone(st.errors)
		}
		if st.lat.TotalCount() > 0 {
			ss.P50Ms = usToMs(st.lat.ValueAtQuantile(50))
			ss.P99Ms = usToMs(st.lat.ValueAtQuantile(99))
		}
		out = append(out, ss)
	}
	return out
}

// Schedule summarises how far behind schedule arrivals were sent.
type Schedule struct {
	Sent    int64 // arrivals whose first request was sent
	Late    int64 // of which later than the lateness threshold
	Dropped int64 // arrivals not served by the generator (cap or no idle user)
	P50     time.Duration
	P99     time.Duration
	Max     time.Duration
}

// Schedule returns the schedule-error summary.
func (s *Stats) Schedule() Schedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := Schedule{Sent: s.sent, Late: s.late, Dropped: s.dropped}
	if s.sched.TotalCount() > 0 {
		sc.P50 = time.Duration(s.sched.ValueAtQuantile(50)) * time.Microsecond
		sc.P99 = time.Duration(s.sched.ValueAtQuantile(99)) * time.Microsecond
		sc.Max = time.Duration(s.sched.Max()) * time.Microsecond
	}
	return sc
}
