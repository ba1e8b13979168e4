// Package reports renders a run's canonical result (reports/result) as the
// documents people read: a self-contained HTML report with SVG charts, a
// Markdown summary for CI, JUnit XML for test dashboards, the JSON itself,
// and a run-to-run diff that can gate a pull request.
//
//	result.json ──► Load ──► *result.Result ──┬─► HTML   (report.html)
//	                                          ├─► Markdown (summary.md)
//	                                          ├─► JUnit  (junit.xml)
//	                                          ├─► JSON   (result.json, score filled)
//	base, head ──► Diff ──► DiffResult ───────┴─► Markdown / HTML
//
// Renderers read only the Result: no clock, no environment, no network.
// They tolerate partial results (short or missing series, nil maps) because
// an aborted run still writes one.
package reports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

// Output file names inside the directory given to Render.
const (
	FileHTML     = "report.html"
	FileMarkdown = "summary.md"
	FileJUnit    = "junit.xml"
	FileJSON     = "result.json"
)

// Formats lists the formats Render knows, in the order it writes them.
var Formats = []string{"json", "html", "md", "junit"}

// maxBuckets bounds the series length a result may carry (a week at 1 s).
const maxBuckets = 7 * 24 * 3600

// Load reads a result document and checks that it can be rendered.
func Load(path string) (*result.Result, error) {
	r, err := result.Read(path)
	if err != nil {
		return nil, err
	}
	if err := Validate(r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Validate reports every structural problem in r that would make a report
// lie or fail: series without a bucket width, absurd lengths, unknown
// verdicts. Short series are allowed (partial runs).
func Validate(r *result.Result) error {
	if r == nil {
		return errors.New("no result")
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	n := seriesLen(r)
	if n > 0 && r.BucketMillis <= 0 {
		bad("bucket_ms is %d but the result has %d buckets of series: bucket_ms must be > 0", r.BucketMillis, n)
	}
	if n > maxBuckets {
		bad("series have %d buckets, more than the %d this renderer reads", n, maxBuckets)
	}
	switch r.Verdict {
	case result.VerdictPass, result.VerdictFail, result.VerdictError, "":
	default:
		bad("verdict %q is not pass, fail or error", r.Verdict)
	}
	if !r.StartedAt.IsZero() && !r.EndedAt.IsZero() && r.EndedAt.Before(r.StartedAt) {
		bad("ended_at %s is before started_at %s", r.EndedAt.Format(time.RFC3339), r.StartedAt.Format(time.RFC3339))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid result: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Render writes r in each format into outDir (created if needed) and
// returns the written paths in the order of formats. Formats: json, html,
// md (or markdown), junit. The Markdown summary links to the HTML report
// by its file name when both are written.
func Render(r *result.Result, formats []string, outDir string) ([]string, error) {
	if r == nil {
		return nil, errors.New("render: no result")
	}
	if err := Validate(r); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	fs, err := normalizeFormats(formats)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("create report dir: %w", err)
	}
	mdOpt := MarkdownOptions{}
	for _, f := range fs {
		if f == "html" {
			mdOpt.HTMLLink = FileHTML
		}
	}
	var paths []string
	for _, f := range fs {
		var p string
		switch f {
		case "json":
			rr := *r
			if rr.Score == nil {
				rr.Score = ScoreOf(r) // stays nil when the run could not judge
			}
			p, err = rr.Write(outDir)
		case "html":
			p = filepath.Join(outDir, FileHTML)
			err = writeFile(p, func(f *os.File) error { return HTML(f, r) })
		case "md":
			p = filepath.Join(outDir, FileMarkdown)
			err = writeFile(p, func(f *os.File) error { return Markdown(f, r, mdOpt) })
		case "junit":
			p = filepath.Join(outDir, FileJUnit)
			err = writeFile(p, func(f *os.File) error { return JUnit(f, r) })
		}
		if err != nil {
			return paths, fmt.Errorf("render %s: %w", f, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func normalizeFormats(formats []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, f := range formats {
		for _, p := range strings.Split(f, ",") {
			p = strings.ToLower(strings.TrimSpace(p))
			switch p {
			case "":
				continue
			case "markdown":
				p = "md"
			case "xml":
				p = "junit"
			}
			switch p {
			case "json", "html", "md", "junit":
			default:
				return nil, fmt.Errorf("unknown report format %q: use one or more of json, html, md, junit", p)
			}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no report format given: use one or more of json, html, md, junit")
	}
	return out, nil
}

func writeFile(p string, fill func(*os.File) error) error {
	tmp := p + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, p)
}

// seriesLen is the number of buckets the run recorded: the longest series.
func seriesLen(r *result.Result) int {
	n := 0
	for _, c := range r.Components {
		n = max(n, len(c.State), len(c.Requests), len(c.P99Ms))
	}
	for _, j := range r.Journeys {
		n = max(n, len(j.AttemptsSeries), len(j.OKSeries), len(j.P99Ms))
	}
	if r.Monitoring != nil {
		n = max(n, len(r.Monitoring.SawUnhealthy), len(r.Monitoring.TrueUnhealthy))
	}
	return n
}

// bucketRange maps a time window to bucket indexes [from, to).
func bucketRange(r *result.Result, from, to time.Time) (int, int) {
	if r.BucketMillis <= 0 {
		return 0, 0
	}
	b := time.Duration(r.BucketMillis) * time.Millisecond
	f := int(from.Sub(r.StartedAt) / b)
	t := int((to.Sub(r.StartedAt) + b - 1) / b)
	return max(f, 0), max(t, 0)
}

// stateRank orders component states from best to worst.
func stateRank(s string) int {
	switch s {
	case "healthy":
		return 1
	case "degraded":
		return 2
	case "down":
		return 3
	}
	return 0 // unknown or empty
}

// worstState is the component's worst state: its own field, else derived.
func worstState(c result.Component) string {
	if c.WorstState != "" {
		return c.WorstState
	}
	w := ""
	for _, s := range c.State {
		if stateRank(s) > stateRank(w) {
			w = s
		}
	}
	if w == "" {
		return "unknown"
	}
	return w
}

// unhealthyBuckets counts buckets in which c was degraded or down.
func unhealthyBuckets(c result.Component) (degraded, down int) {
	for _, s := range c.State {
		switch s {
		case "degraded":
			degraded++
		case "down":
			down++
		}
	}
	return
}

// worstComponents ranks components by worst state, then time spent down,
// then time degraded; healthy ones are left out. At most n.
func worstComponents(r *result.Result, n int) []result.Component {
	var cs []result.Component
	for _, c := range r.Components {
		if stateRank(worstState(c)) >= 2 {
			cs = append(cs, c)
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if ra, rb := stateRank(worstState(a)), stateRank(worstState(b)); ra != rb {
			return ra > rb
		}
		dga, dna := unhealthyBuckets(a)
		dgb, dnb := unhealthyBuckets(b)
		if dna != dnb {
			return dna > dnb
		}
		if dga != dgb {
			return dga > dgb
		}
		return a.Name < b.Name
	})
	if len(cs) > n {
		cs = cs[:n]
	}
	return cs
}

// maxRecovery is the component's longest recovery; ok false when one of its
// degradations never recovered (nil recovery after a detection).
func maxRecovery(c result.Component) (ms int64, recovered bool, any bool) {
	recovered = true
	for _, d := range c.Degradations {
		if d.DetectionLagMs == nil {
			continue
		}
		any = true
		if d.RecoveryMs == nil {
			recovered = false
			continue
		}
		ms = max(ms, *d.RecoveryMs)
	}
	return ms, recovered, any
}

// firstDetection is the detection lag after the earliest-applied fault that
// degraded c (later faults find it already degraded, lag 0).
func firstDetection(r *result.Result, c result.Component) (int64, bool) {
	applied := map[string]time.Time{}
	for _, p := range r.Phases {
		for _, f := range p.Faults {
			if f.AppliedAt != nil {
				applied[f.ID] = *f.AppliedAt
			}
		}
	}
	var best *result.Degradation
	for k := range c.Degradations {
		d := &c.Degradations[k]
		if d.DetectionLagMs == nil {
			continue
		}
		if best == nil {
			best = d
			continue
		}
		ta, oka := applied[d.Fault]
		tb, okb := applied[best.Fault]
		if oka && (!okb || ta.Before(tb)) {
			best = d
		}
	}
	if best == nil {
		return 0, false
	}
	return *best.DetectionLagMs, true
}

// minDetection is the component's shortest detection lag.
func minDetection(c result.Component) (int64, bool) {
	var best int64 = -1
	for _, d := range c.Degradations {
		if d.DetectionLagMs != nil && (best < 0 || *d.DetectionLagMs < best) {
			best = *d.DetectionLagMs
		}
	}
	return best, best >= 0
}

// bucketDur is the width of one bucket (1 s when the result lacks it).
func bucketDur(r *result.Result) time.Duration {
	if r.BucketMillis <= 0 {
		return time.Second
	}
	return time.Duration(r.BucketMillis) * time.Millisecond
}

func verdictOf(r *result.Result) result.Verdict {
	if r.Verdict != "" {
		return r.Verdict
	}
	return result.VerdictError
}

// scoreOf is the run's recorded score, else the one computed now (older
// results); ok is false when the run could not judge and so has none.
func scoreOf(r *result.Result) (result.Score, bool) {
	if r.Score != nil {
		return *r.Score, true
	}
	if s := ScoreOf(r); s != nil {
		return *s, true
	}
	return result.Score{Formula: "none: the run could not judge (verdict error)"}, false
}

// fmtMs formats milliseconds for people: 850 ms, 12.4 s, 3m05s.
func fmtMs(ms int64) string {
	switch {
	case ms < 1000:
		return fmt.Sprintf("%d ms", ms)
	case ms < 60_000:
		return fmt.Sprintf("%.1f s", float64(ms)/1000)
	default:
		d := time.Duration(ms) * time.Millisecond
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
}

// fmtOffset formats an offset from the run start as m:ss.
func fmtOffset(d time.Duration) string {
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	s := int(d.Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%s%d:%02d:%02d", neg, s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%s%d:%02d", neg, s/60, s%60)
}

func pctStr(v float64) string { return fmt.Sprintf("%.1f%%", v*100) }

// journeySuccess is the run's success rate of j from its outcome totals.
func journeySuccess(j result.Journey) (float64, bool) {
	if j.Attempts <= 0 {
		return 0, false
	}
	return clamp01(float64(j.Outcomes["ok"]+j.Outcomes["fallback"]) / float64(j.Attempts)), true
}

func failedHypotheses(r *result.Result) []result.Hypothesis {
	var out []result.Hypothesis
	for _, h := range r.Hypotheses {
		if !h.Holds {
			out = append(out, h)
		}
	}
	return out
}

func hypothesisText(h result.Hypothesis) string {
	if h.Description != "" {
		return h.Description
	}
	var b strings.Builder
	if isRecovery(h) {
		if h.Journey != "" {
			b.WriteString(h.Journey)
		} else {
			b.WriteString("all journeys")
		}
		if h.Region != "" {
			b.WriteString(" in " + h.Region)
		}
		fmt.Fprintf(&b, " back at target within %s", h.Expected)
		if h.Phase != "" {
			b.WriteString(" after " + h.Phase)
		}
		return b.String()
	}
	b.WriteString(h.Metric)
	if h.Journey != "" {
		b.WriteString(" of " + h.Journey)
	}
	if h.Region != "" {
		b.WriteString(" in " + h.Region)
	}
	fmt.Fprintf(&b, " %s %s", h.Op, h.Expected)
	if h.Phase != "" {
		b.WriteString(" during " + h.Phase)
	} else if h.Kind != "" {
		b.WriteString(" (" + strings.ReplaceAll(h.Kind, "_", " ") + ")")
	}
	return b.String()
}

func scenarioName(r *result.Result) string {
	if r.Scenario.Name != "" {
		return r.Scenario.Name
	}
	if r.Scenario.Title != "" {
		return r.Scenario.Title
	}
	return "unnamed-scenario"
}
