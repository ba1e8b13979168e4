package reports

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

// The event timeline: one lane per actor (the engine, a game-day player, the
// console's timer, ...), one mark per event, over the same time axis and
// phase bands as the health heatmap, so "who did what, when" lines up with
// "what broke, when".

// maxLanes caps the lanes; later actors share one "others" lane.
const maxLanes = 10

// eventClass sorts an event kind into a mark style: phase, on (a fault went
// in), off (a fault came out), bad (abort, halt, error, denied, or a failed
// action), note, or other.
func eventClass(ev result.Event) string {
	if strings.Contains(ev.Message, ": FAILED:") {
		return "bad"
	}
	k := strings.ToLower(ev.Kind)
	switch {
	case k == "abort" || k == "halt" || k == "error" || k == "denied" || strings.HasPrefix(k, "abort"):
		return "bad"
	case k == "fault_applied" || k == "fault_apply":
		return "on"
	case k == "fault_removed" || k == "fault_expired":
		return "off"
	case strings.HasPrefix(k, "phase") || strings.HasPrefix(k, "scenario"):
		return "phase"
	case k == "note":
		return "note"
	}
	return "other"
}

var eventClassLabel = []struct{ class, label string }{
	{"phase", "phase / scenario"}, {"on", "fault applied"}, {"off", "fault removed / expired"},
	{"bad", "abort, halt, error, denied or failed"}, {"note", "note"}, {"other", "other"},
}

func actorOf(ev result.Event) string {
	if a := strings.TrimSpace(ev.Actor); a != "" {
		return a
	}
	return "(no actor)"
}

// eventLanes orders the actors by first appearance, capped at maxLanes.
func eventLanes(evs []result.Event) (lanes []string, laneOf map[string]int) {
	var actors []string
	seen := map[string]bool{}
	for _, ev := range evs {
		if a := actorOf(ev); !seen[a] {
			seen[a] = true
			actors = append(actors, a)
		}
	}
	if len(actors) > maxLanes {
		actors = append(actors[:maxLanes-1:maxLanes-1], "others")
	}
	laneOf = map[string]int{}
	for _, ev := range evs {
		a := actorOf(ev)
		if _, ok := laneOf[a]; ok {
			continue
		}
		laneOf[a] = len(actors) - 1 // "others" unless named below
		for i, name := range actors {
			if name == a {
				laneOf[a] = i
				break
			}
		}
	}
	return actors, laneOf
}

// eventTimeline draws the events over tl. Events before the measured window
// (bring-up, warm-up) sit at its left edge, events after it at its right
// edge; their titles say so.
func eventTimeline(id string, evs []result.Event, tl timeline) template.HTML {
	if len(evs) == 0 || tl.n <= 0 {
		return ""
	}
	lanes, laneOf := eventLanes(evs)
	const rowH, labelW, top = 22.0, 190.0, 22.0
	w := 1000.0
	tl.x0, tl.x1 = labelW, w-8
	plotH := rowH * float64(len(lanes))
	h := top + plotH + 24 + 18
	var b svgB
	b.open(id, w, h, "Event timeline by actor",
		fmt.Sprintf("%d events in %d lanes, one per actor; marks show when each phase, fault, game-day action, abort or note happened; shaded bands are fault phases.", len(evs), len(lanes)))
	fmt.Fprintf(&b, `<rect class="plot-bg" x="%s" y="%s" width="%s" height="%s"/>`, f1(tl.x0), f1(top), f1(tl.x1-tl.x0), f1(plotH))
	tl.bands(&b, top, top+plotH, true)
	counts := make([]int, len(lanes))
	for _, ev := range evs {
		counts[laneOf[actorOf(ev)]]++
	}
	for k, name := range lanes {
		y := top + rowH*float64(k)
		if k > 0 {
			fmt.Fprintf(&b, `<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(tl.x0), f1(tl.x1), f1(y), f1(y))
		}
		label := name
		if len([]rune(label)) > 24 {
			label = string([]rune(label)[:23]) + "…"
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="row-label" text-anchor="end"><title>%s: %d events</title>%s <tspan class="tick">(%d)</tspan></text>`,
			f1(labelW-6), f1(y+rowH/2+4), esc(name), counts[k], esc(label), counts[k])
	}
	end := tl.start.Add(time.Duration(tl.n) * tl.bucket)
	for _, ev := range evs {
		k := laneOf[actorOf(ev)]
		cls := eventClass(ev)
		x := tl.xt(ev.At)
		yc := top + rowH*float64(k) + rowH/2
		where := fmtOffsetMs(ev.At.Sub(tl.start))
		switch {
		case ev.At.Before(tl.start):
			where += " (before the measured window)"
		case ev.At.After(end):
			where += " (after the measured window)"
		}
		title := fmt.Sprintf("%s · %s · %s: %s", where, actorOf(ev), ev.Kind, ev.Message)
		switch cls {
		case "bad":
			fmt.Fprintf(&b, `<path class="ev ev-%s" d="M%s %sl5 5l-5 5l-5 -5z"><title>%s</title></path>`, cls, f1(x), f1(yc-5), esc(title))
		case "note":
			fmt.Fprintf(&b, `<circle class="ev ev-%s" cx="%s" cy="%s" r="3.5"><title>%s</title></circle>`, cls, f1(x), f1(yc), esc(title))
		default:
			fmt.Fprintf(&b, `<rect class="ev ev-%s" x="%s" y="%s" width="3" height="%s"><title>%s</title></rect>`, cls, f1(x-1.5), f1(yc-rowH/2+4), f1(rowH-8), esc(title))
		}
	}
	tl.axis(&b, top+plotH+2, top+plotH+2)
	// Legend: only the classes present.
	present := map[string]bool{}
	for _, ev := range evs {
		present[eventClass(ev)] = true
	}
	lx := labelW
	for _, c := range eventClassLabel {
		if !present[c.class] {
			continue
		}
		fmt.Fprintf(&b, `<rect class="ev ev-%s" x="%s" y="%s" width="8" height="8"/>`, c.class, f1(lx), f1(h-12))
		b.text(lx+12, h-4, "legend", "start", c.label)
		lx += 22 + 6.2*float64(len(c.label))
	}
	return b.close()
}

// fitLabel shortens s to fit width px at about 6.8 px a character (the
// 10.5 px bold phase labels); "" when not even three characters fit.
func fitLabel(s string, width float64) string {
	n := int(math.Floor(width / 6.8))
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n < 3 {
		return ""
	}
	return string(r[:n-1]) + "…"
}
