package reports

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

// Hand-written SVG: every chart is a string built here and embedded in the
// page as template.HTML, so every piece of text from the result goes through
// esc. Colours come from CSS classes (see html.tmpl), so one chart serves
// light and dark mode. Charts use a viewBox and scale to their container.

// svgB builds one SVG document.
type svgB struct {
	strings.Builder
}

func esc(s string) string { return html.EscapeString(s) }

// f1 formats a coordinate with at most one decimal.
func f1(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func (b *svgB) open(id string, w, h float64, title, desc string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %s %s" role="img" aria-labelledby="%s-t %s-d" preserveAspectRatio="xMinYMin meet">`, f1(w), f1(h), id, id)
	fmt.Fprintf(b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, esc(title), id, esc(desc))
}

func (b *svgB) close() template.HTML {
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (b *svgB) text(x, y float64, class, anchor, s string) {
	fmt.Fprintf(b, `<text x="%s" y="%s" class="%s" text-anchor="%s">%s</text>`, f1(x), f1(y), class, anchor, esc(s))
}

// timeline maps bucket indexes onto an x range.
type timeline struct {
	n          int // buckets
	x0, x1     float64
	bucket     time.Duration
	start      time.Time
	phases     []result.Phase
	faultFirst bool
}

func (t timeline) x(i float64) float64 {
	if t.n <= 0 {
		return t.x0
	}
	return t.x0 + (t.x1-t.x0)*i/float64(t.n)
}

func (t timeline) xt(at time.Time) float64 {
	if t.bucket <= 0 {
		return t.x0
	}
	i := float64(at.Sub(t.start)) / float64(t.bucket)
	return t.x(math.Max(0, math.Min(float64(t.n), i)))
}

// bands shades the phases that carry faults between y0 and y1; labels puts
// their names above y0.
func (t timeline) bands(b *svgB, y0, y1 float64, labels bool) {
	for k, p := range t.phases {
		if p.EndedAt.IsZero() || !p.EndedAt.After(p.StartedAt) {
			continue
		}
		xa, xb := t.xt(p.StartedAt), t.xt(p.EndedAt)
		cls := "band"
		if len(p.Faults) == 0 {
			cls = "band calm"
		}
		if k%2 == 1 {
			cls += " alt"
		}
		fmt.Fprintf(b, `<rect class="%s" x="%s" y="%s" width="%s" height="%s"><title>phase %s: %s–%s</title></rect>`,
			cls, f1(xa), f1(y0), f1(math.Max(xb-xa, 0.5)), f1(y1-y0), esc(p.Name), fmtOffset(p.StartedAt.Sub(t.start)), fmtOffset(p.EndedAt.Sub(t.start)))
		if labels {
			fmt.Fprintf(b, `<line class="phase-edge" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(xa), f1(xa), f1(y0-14), f1(y1))
			if l := fitLabel(p.Name, xb-xa-4); l != "" {
				b.text(xa+3, y0-4, "phase-label", "start", l)
			}
		}
	}
}

// axis draws time ticks along y.
func (t timeline) axis(b *svgB, y, gridTop float64) {
	total := time.Duration(t.n) * t.bucket
	step := niceStep(total)
	if step <= 0 {
		return
	}
	fmt.Fprintf(b, `<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(t.x0), f1(t.x1), f1(y), f1(y))
	for d := time.Duration(0); d <= total; d += step {
		x := t.x(float64(d) / float64(t.bucket))
		if gridTop < y {
			fmt.Fprintf(b, `<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(x), f1(x), f1(gridTop), f1(y))
		}
		anchor := "middle"
		if d == 0 {
			anchor = "start"
		} else if d+step > total && t.x1-x < 20 {
			anchor = "end"
		}
		b.text(x, y+13, "tick", anchor, fmtOffset(d))
	}
}

func niceStep(total time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if total/s <= 10 {
			return s
		}
	}
	return total / 10
}

// heatmap draws component × time health, one row per component, runs of
// equal state merged into one rect.
func heatmap(id string, comps []result.Component, tl timeline) template.HTML {
	const rowH, labelW, top = 16.0, 190.0, 22.0
	w := 1000.0
	tl.x0, tl.x1 = labelW, w-8
	h := top + rowH*float64(len(comps)) + 24
	var b svgB
	b.open(id, w, h, "Component health over time",
		fmt.Sprintf("%d components; each row shows healthy, degraded, down or unknown per %s bucket; shaded bands are fault phases.", len(comps), tl.bucket))
	fmt.Fprintf(&b, `<rect class="plot-bg" x="%s" y="%s" width="%s" height="%s"/>`, f1(tl.x0), f1(top), f1(tl.x1-tl.x0), f1(rowH*float64(len(comps))))
	region := ""
	for k, c := range comps {
		y := top + rowH*float64(k)
		if c.Region != region && k > 0 {
			fmt.Fprintf(&b, `<line class="sep" x1="0" x2="%s" y1="%s" y2="%s"/>`, f1(w), f1(y), f1(y))
		}
		region = c.Region
		label := c.Name
		if len(label) > 30 {
			label = label[:29] + "…"
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="row-label" text-anchor="end"><title>%s (%s, %s)</title>%s</text>`,
			f1(labelW-6), f1(y+rowH-4), esc(c.Name), esc(c.Kind), esc(c.Region), esc(label))
		for i := 0; i < len(c.State) && i < tl.n; {
			s := c.State[i]
			j := i + 1
			for j < len(c.State) && j < tl.n && c.State[j] == s {
				j++
			}
			cls := "st-unknown"
			switch s {
			case "healthy", "degraded", "down":
				cls = "st-" + s
			}
			x0, x1 := tl.x(float64(i)), tl.x(float64(j))
			fmt.Fprintf(&b, `<rect class="%s" x="%s" y="%s" width="%s" height="%s"><title>%s: %s %s–%s</title></rect>`,
				cls, f1(x0), f1(y+1), f1(math.Max(x1-x0, 0.4)), f1(rowH-2), esc(c.Name), esc(stateLabel(s)),
				fmtOffset(time.Duration(i)*tl.bucket), fmtOffset(time.Duration(j)*tl.bucket))
			i = j
		}
	}
	// Phase outlines over the rows (not fills: the state colours must stay true).
	for _, p := range tl.phases {
		if len(p.Faults) == 0 || !p.EndedAt.After(p.StartedAt) {
			continue
		}
		xa, xb := tl.xt(p.StartedAt), tl.xt(p.EndedAt)
		fmt.Fprintf(&b, `<rect class="phase-outline" x="%s" y="%s" width="%s" height="%s"><title>phase %s: %s–%s</title></rect>`, f1(xa), f1(top-14), f1(math.Max(xb-xa, 0.5)), f1(rowH*float64(len(comps))+14),
			esc(p.Name), fmtOffset(p.StartedAt.Sub(tl.start)), fmtOffset(p.EndedAt.Sub(tl.start)))
		if l := fitLabel(p.Name, xb-xa-4); l != "" {
			fmt.Fprintf(&b, `<text x="%s" y="%s" class="phase-label"><title>%s</title>%s</text>`, f1(xa+3), f1(top-4), esc(p.Name), esc(l))
		}
	}
	tl.axis(&b, top+rowH*float64(len(comps))+2, top+rowH*float64(len(comps))+2)
	return b.close()
}

func stateLabel(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// line is one series of a line chart; NaN values break the line.
type line struct {
	name  string
	class string
	vals  []float64
}

// lineChart draws series over the timeline with fault phases shaded.
// yMax <= 0 picks a nice maximum; unit formats the y ticks.
// shade marks groups to grey out (e.g. monitoring dark).
func lineChart(id, title, desc string, lines []line, tl timeline, yMax float64, unit string, shade ...bool) template.HTML {
	return lineChartW(id, title, desc, lines, tl, yMax, unit, 640, shade)
}

func lineChartW(id, title, desc string, lines []line, tl timeline, yMax float64, unit string, w float64, shade []bool) template.HTML {
	const h = 230.0
	const left, right, top, bottom = 48.0, 10.0, 22.0, 40.0
	tl.x0, tl.x1 = left, w-right
	y0, y1 := h-bottom, top
	if yMax <= 0 {
		for _, l := range lines {
			for _, v := range l.vals {
				if !math.IsNaN(v) && v > yMax {
					yMax = v
				}
			}
		}
		yMax = niceMax(yMax)
	}
	y := func(v float64) float64 { return y0 - (y0-y1)*math.Min(v, yMax)/yMax }
	var b svgB
	b.open(id, w, h, title, desc)
	fmt.Fprintf(&b, `<rect class="plot-bg" x="%s" y="%s" width="%s" height="%s"/>`, f1(left), f1(top), f1(tl.x1-left), f1(y0-top))
	tl.bands(&b, top, y0, true)
	for i := 0; i < len(shade); {
		if !shade[i] {
			i++
			continue
		}
		j := i
		for j < len(shade) && shade[j] {
			j++
		}
		xa := tl.x0 + (tl.x1-tl.x0)*float64(i)/float64(len(shade))
		xb := tl.x0 + (tl.x1-tl.x0)*float64(j)/float64(len(shade))
		fmt.Fprintf(&b, `<rect class="dark-band" x="%s" y="%s" width="%s" height="%s"><title>monitoring dark</title></rect>`, f1(xa), f1(top), f1(xb-xa), f1(y0-top))
		i = j
	}
	for k := 0; k <= 4; k++ {
		v := yMax * float64(k) / 4
		yy := y(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(left), f1(tl.x1), f1(yy), f1(yy))
		b.text(left-4, yy+3, "tick", "end", fmtUnit(v, unit))
	}
	tl.axis(&b, y0, y0)
	for _, l := range lines {
		n := len(l.vals)
		if n == 0 {
			continue
		}
		var d strings.Builder
		pen := false
		for i, v := range l.vals {
			if math.IsNaN(v) {
				pen = false
				continue
			}
			// Values stand for the middle of their (possibly grouped) bucket.
			x := tl.x0 + (tl.x1-tl.x0)*(float64(i)+0.5)/float64(n)
			if pen {
				d.WriteByte('L')
			} else {
				d.WriteByte('M')
				pen = true
			}
			d.WriteString(f1(x))
			d.WriteByte(' ')
			d.WriteString(f1(y(v)))
		}
		if d.Len() > 0 {
			fmt.Fprintf(&b, `<path class="series %s" d="%s"><title>%s</title></path>`, l.class, d.String(), esc(l.name))
		}
	}
	// Legend.
	lx := left
	for _, l := range lines {
		fmt.Fprintf(&b, `<rect class="swatch %s" x="%s" y="%s" width="10" height="3"/>`, l.class, f1(lx), f1(h-9))
		b.text(lx+13, h-5, "legend", "start", l.name)
		lx += 18 + 6.2*float64(len([]rune(l.name)))
	}
	return b.close()
}

func fmtUnit(v float64, unit string) string {
	switch unit {
	case "%":
		return strconv.FormatFloat(math.Round(v*100), 'f', -1, 64) + "%"
	case "ms":
		if v >= 1000 {
			return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "s"
		}
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// groupSize is how many buckets one chart point covers (≤ maxPoints points).
func groupSize(n, maxPoints int) int {
	if n <= maxPoints {
		return 1
	}
	return (n + maxPoints - 1) / maxPoints
}

// ratioSeries downsamples ok/attempts into success rates (NaN when no attempts).
func ratioSeries(ok, att []int64, n, g int) []float64 {
	out := make([]float64, 0, (n+g-1)/g)
	for i := 0; i < n; i += g {
		var o, a int64
		for k := i; k < i+g && k < n; k++ {
			if k < len(att) {
				a += att[k]
			}
			if k < len(ok) {
				o += ok[k]
			}
		}
		if a <= 0 {
			out = append(out, math.NaN())
			continue
		}
		out = append(out, clamp01(float64(o)/float64(a)))
	}
	return out
}

// maxSeries downsamples by the maximum (NaN where no value or no traffic).
func maxSeries(v []float64, att []int64, n, g int) []float64 {
	out := make([]float64, 0, (n+g-1)/g)
	for i := 0; i < n; i += g {
		m := math.NaN()
		for k := i; k < i+g && k < n && k < len(v); k++ {
			if att != nil && (k >= len(att) || att[k] == 0) {
				continue
			}
			if x := v[k]; !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0 && (math.IsNaN(m) || x > m) {
				m = x
			}
		}
		out = append(out, m)
	}
	return out
}

func intSeries(v []int, n, g int) []float64 {
	out := make([]float64, 0, (n+g-1)/g)
	for i := 0; i < n; i += g {
		m := math.NaN()
		for k := i; k < i+g && k < n && k < len(v); k++ {
			if v[k] >= 0 && (math.IsNaN(m) || float64(v[k]) > m) {
				m = float64(v[k])
			}
		}
		out = append(out, m)
	}
	return out
}

// darkBuckets marks groups in which monitoring could not answer (-1).
func darkBuckets(saw []int, n, g int) []bool {
	out := make([]bool, 0, (n+g-1)/g)
	for i := 0; i < n; i += g {
		dark := false
		for k := i; k < i+g && k < n && k < len(saw); k++ {
			if saw[k] < 0 {
				dark = true
			}
		}
		out = append(out, dark)
	}
	return out
}
