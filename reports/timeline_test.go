package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

// TestTimelineShowsGameDayActions: a game day's audit actions (kind and actor)
// appear as marks in their actor's lane and in the event table, failed or
// denied actions are marked bad, and events outside the measured window are
// said to be.
func TestTimelineShowsGameDayActions(t *testing.T) {
	r := synthetic(t, result.SyntheticOptions{})
	at := func(d time.Duration) time.Time { return r.StartedAt.Add(d) }
	r.Events = append([]result.Event{{At: at(-3 * time.Second), Kind: "topology", Message: "bringing up storefront", Actor: "engine"}}, r.Events...)
	r.Events = append(r.Events,
		result.Event{At: at(90 * time.Second), Kind: "fault_applied", Message: "latency 300ms on checkout__payment", Actor: "erin"},
		result.Event{At: at(95 * time.Second), Kind: "note", Message: "observer note: checkout p99 climbing", Actor: "sam"},
		result.Event{At: at(120 * time.Second), Kind: "fault_removed", Message: "removed latency on checkout__payment: FAILED: proxy gone", Actor: "erin"},
		result.Event{At: at(130 * time.Second), Kind: "halt", Message: "halt: all faults removed", Actor: "erin"},
		result.Event{At: at(time.Hour), Kind: "end", Message: "game day ended", Actor: "console"},
	)
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	i := strings.Index(page, `<section id="timeline">`)
	if i < 0 {
		t.Fatal("no timeline section")
	}
	sec := page[i : i+strings.Index(page[i:], "</section>")]
	for _, want := range []string{
		`aria-labelledby="timeline-t timeline-d"`,
		">erin <tspan", ">sam <tspan", ">console <tspan", // lanes per actor
		"erin · fault_applied: latency 300ms on checkout__payment", // mark title: actor and kind
		`class="ev ev-bad"`, // failed removal and halt
		"(before the measured window)", "(after the measured window)",
		`<td>erin</td><td><span class="evk ev-on">fault_applied</span></td>`, // table row
		`<tr class="bad"><td class="num">2:10.000</td><td>erin</td>`,
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	if n := strings.Count(sec, `class="band`); n < len(r.Phases) {
		t.Errorf("timeline shows %d phase bands, want %d", n, len(r.Phases))
	}
}

func TestEventLanesFoldExtraActors(t *testing.T) {
	var evs []result.Event
	for i := 0; i < maxLanes+3; i++ {
		evs = append(evs, result.Event{Kind: "note", Actor: string(rune('a' + i))})
	}
	evs = append(evs, result.Event{Kind: "note"})
	lanes, laneOf := eventLanes(evs)
	if len(lanes) != maxLanes || lanes[maxLanes-1] != "others" {
		t.Fatalf("lanes = %q, want %d with the last \"others\"", lanes, maxLanes)
	}
	if laneOf["a"] != 0 || laneOf["m"] != maxLanes-1 || laneOf["(no actor)"] != maxLanes-1 {
		t.Errorf("laneOf = %v", laneOf)
	}
}

func TestFmtParamSummarisesLongLists(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, "–"},
		{0.9, "0.9"},
		{23.73756895040526, "23.74"},
		{1214.0, "1214"},
		{[]any{514.0, 2918.0, 2596.0, 3001.0, 4754.0, 5761.0, 5215.0}, "[7 values, 514…5761]"},
		{[]any{1.0, 2.5}, "[1 2.5]"},
		{[]float64{0, 36.98755649829262, 22.9, 36.0, 32.0, 36.0, 34.0}, "[7 values, 0…36.99]"},
		{[]any{"a", "b", "c", "d", "e", "f", "g"}, "[a b c … 7 values]"},
		{"100ms", "100ms"},
	} {
		if got := fmtParam(tc.in); got != tc.want {
			t.Errorf("fmtParam(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFitLabel(t *testing.T) {
	if got := fitLabel("congestion", 200); got != "congestion" {
		t.Errorf("wide band: %q", got)
	}
	if got := fitLabel("credentials-lagging", 60); got != "credent…" {
		t.Errorf("narrow band: %q", got)
	}
	if got := fitLabel("shedding-load", 15); got != "" {
		t.Errorf("sliver: %q, want no label", got)
	}
}
