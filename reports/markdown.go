package reports

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

// MarkdownOptions tune the Markdown summary.
type MarkdownOptions struct {
	// HTMLLink is where the full HTML report is (relative path or URL);
	// empty leaves the link out.
	HTMLLink string
	// Worst is how many worst components to list (default 5).
	Worst int
}

// Markdown writes a compact summary of r fit for a CI step summary or a pull
// request comment: verdict, score, failed objectives and invariants,
// recovery objectives, worst components, journeys during faults, findings,
// fidelity (a replay's claims vs what it measured), the score's parts, and a
// link to the HTML report.
func Markdown(w io.Writer, r *result.Result, o MarkdownOptions) error {
	if o.Worst <= 0 {
		o.Worst = 5
	}
	b := bufio.NewWriter(w)
	sc, scored := scoreOf(r)
	v := verdictOf(r)
	title := r.Scenario.Title
	if title == "" {
		title = scenarioName(r)
	}
	fmt.Fprintf(b, "## %s Outage Lab: %s\n\n", verdictIcon(v), mdText(title))
	if scored {
		fmt.Fprintf(b, "**Verdict: %s** · resilience score **%.1f**/100", strings.ToUpper(string(v)), sc.Value)
	} else {
		fmt.Fprintf(b, "**Verdict: %s** · %s", strings.ToUpper(string(v)), noScoreText)
	}
	held, total := countHeld(r.Hypotheses)
	fmt.Fprintf(b, " · objectives %d/%d held", held, total)
	iheld := 0
	for _, in := range r.Invariants {
		if in.Passed() {
			iheld++
		}
	}
	if len(r.Invariants) == 0 {
		b.WriteString(" · invariants not checked")
	} else {
		fmt.Fprintf(b, " · invariants %d/%d held", iheld, len(r.Invariants))
	}
	if eh, et := expectationCount(r); et > 0 {
		gate := ""
		if r.FidelityGate {
			gate = ", gating"
		}
		fmt.Fprintf(b, " · fidelity %d/%d claims reproduced%s", eh, et, gate)
	}
	b.WriteString("\n\n")

	var meta []string
	meta = append(meta, "scenario `"+mdCode(scenarioName(r))+"`")
	if r.Scenario.Date != "" {
		meta = append(meta, "incident "+mdText(r.Scenario.Date))
	}
	if r.Scenario.Policy != "" {
		meta = append(meta, "policy `"+mdCode(r.Scenario.Policy)+"`")
	}
	if r.Scenario.TimeScale > 0 {
		meta = append(meta, fmt.Sprintf("time scale %g×", r.Scenario.TimeScale))
	}
	if r.Scenario.Runtime != "" {
		meta = append(meta, "runtime "+mdText(r.Scenario.Runtime))
	}
	meta = append(meta, fmt.Sprintf("seed %d", r.Scenario.Seed))
	if !r.StartedAt.IsZero() && !r.EndedAt.IsZero() {
		meta = append(meta, "ran "+fmtOffset(r.EndedAt.Sub(r.StartedAt)))
	}
	fmt.Fprintf(b, "%s\n\n", strings.Join(meta, " · "))
	if st := r.Status.State; st != "" && st != "completed" {
		fmt.Fprintf(b, "> [!WARNING]\n> The run did not complete: **%s**", mdText(st))
		if r.Status.Reason != "" {
			fmt.Fprintf(b, ": %s", mdText(r.Status.Reason))
		}
		b.WriteString(". Figures cover what was recorded.\n\n")
	}

	var failed, recovery []result.Hypothesis
	for _, h := range r.Hypotheses {
		switch {
		case isRecovery(h):
			recovery = append(recovery, h)
		case !h.Holds:
			failed = append(failed, h)
		}
	}
	if len(failed) > 0 {
		b.WriteString("### Failed objectives\n\n| objective | expected | measured | samples |\n|---|---|---|---:|\n")
		for _, h := range failed {
			fmt.Fprintf(b, "| %s | %s | %s | %d |\n", mdCell(hypothesisText(h)), mdCell(objectiveExpected(h)), mdCell(objectiveMeasured(h)), h.Samples)
		}
		b.WriteString("\n")
	}
	if len(recovery) > 0 {
		b.WriteString("### Recovery objectives\n\n")
		for _, h := range recovery {
			fmt.Fprintf(b, "- %s %s: **%s**\n", verdictMark(h.Holds), mdText(hypothesisText(h)), mdText(objectiveMeasured(h)))
		}
		b.WriteString("\n")
	}
	var badInv []result.Invariant
	for _, in := range r.Invariants {
		if !in.Holds {
			badInv = append(badInv, in)
		}
	}
	if len(badInv) > 0 {
		b.WriteString("### Violated invariants\n\n")
		for _, in := range badInv {
			fmt.Fprintf(b, "- **%s**: %s", mdText(in.Name), mdText(in.Details))
			if len(in.Violations) > 0 {
				vs := in.Violations
				more := ""
				if len(vs) > 10 {
					more = fmt.Sprintf(" and %d more", len(vs)-10)
					vs = vs[:10]
				}
				codes := make([]string, len(vs))
				for i, v := range vs {
					codes[i] = "`" + mdCode(v) + "`"
				}
				fmt.Fprintf(b, " (%s%s)", strings.Join(codes, ", "), more)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}

	if wc := worstComponents(r, o.Worst); len(wc) > 0 {
		b.WriteString("### Worst components\n\n| component | region | worst | degraded | down | first detected | slowest recovery |\n|---|---|---|---:|---:|---:|---:|\n")
		bs := bucketDur(r)
		for _, c := range wc {
			dg, dn := unhealthyBuckets(c)
			det := "–"
			if ms, ok := firstDetection(r, c); ok {
				det = fmtMs(ms)
			}
			rec := "–"
			if ms, recovered, any := maxRecovery(c); any {
				if recovered {
					rec = fmtMs(ms)
				} else {
					rec = "not recovered"
				}
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", mdCell(c.Name), mdCell(c.Region), stateIcon(worstState(c))+" "+mdCell(worstState(c)),
				fmtOffset(bs*time.Duration(dg)), fmtOffset(bs*time.Duration(dn)), det, rec)
		}
		b.WriteString("\n")
	}

	if rows := journeyFaultRows(r); len(rows) > 0 {
		b.WriteString("### Journeys during faults\n\n| journey | region | success (run) | success (worst phase) | worst phase | p99 (worst phase) |\n|---|---|---:|---:|---|---:|\n")
		for _, jr := range rows {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", mdCell(jr.name), mdCell(jr.region), jr.run, jr.worst, mdCell(jr.phase), jr.p99)
		}
		b.WriteString("\n")
	}
	if len(r.Findings) > 0 {
		b.WriteString("### Findings\n\n")
		for _, f := range findingsSorted(r.Findings) {
			fmt.Fprintf(b, "- **%s** on `%s`", mdText(findingKindText(f.Kind)), mdCode(f.Edge))
			if f.Phase != "" {
				fmt.Fprintf(b, " during %s", mdText(f.Phase))
			}
			fmt.Fprintf(b, " (at %s): %s", fmtOffset(time.Duration(f.AtMs)*time.Millisecond), mdText(strings.TrimSuffix(f.Evidence, ".")))
			if figs := findingFigures(f); figs != "" {
				fmt.Fprintf(b, " (`%s`)", mdCode(figs))
			}
			b.WriteString(".")
			if f.Fix != "" {
				fmt.Fprintf(b, " **Fix:** %s.", mdText(strings.TrimSuffix(f.Fix, ".")))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(r.Scenario.Fidelity) > 0 {
		markdownFidelity(b, r)
	}
	markdownScore(b, sc, scored)
	if r.Monitoring != nil && r.Monitoring.Summary != "" {
		fmt.Fprintf(b, "Monitoring: %s.\n\n", mdText(strings.TrimSuffix(r.Monitoring.Summary, ".")))
	}
	if o.HTMLLink != "" {
		fmt.Fprintf(b, "Full report: [%s](%s)\n", mdText(o.HTMLLink), mdLink(o.HTMLLink))
	}
	return b.Flush()
}

type journeyRow struct {
	name, region, run, worst, phase, p99 string
	worstRate                            float64 // -1: no fault phase with attempts
}

// journeyFaultRows summarises each journey: the run's success rate and its
// worst fault phase by success, the hardest hit first.
func journeyFaultRows(r *result.Result) []journeyRow {
	var rows []journeyRow
	for _, j := range r.Journeys {
		row := journeyRow{name: j.Name, region: j.Region, run: "–", worst: "–", phase: "–", p99: "–"}
		if s, ok := journeySuccess(j); ok {
			row.run = pctStr(s)
		}
		best := -1.0
		for _, p := range r.Phases {
			if len(p.Faults) == 0 {
				continue
			}
			w, ok := j.ByPhase[p.Name]
			if !ok || w.Attempts == 0 {
				continue
			}
			if best < 0 || w.SuccessRate < best {
				best = w.SuccessRate
				row.worst, row.phase, row.p99 = pctStr(w.SuccessRate), p.Name, fmt.Sprintf("%.0f ms", w.P99Ms)
			}
		}
		row.worstRate = best
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(a, b int) bool {
		ra, rb := rows[a].worstRate, rows[b].worstRate
		if (ra < 0) != (rb < 0) {
			return rb < 0
		}
		return ra < rb
	})
	return rows
}

// markdownFidelity writes the fidelity table: per claim of the source, its
// phase and times, the check standing for it, what was measured, whether it
// matched, and the source's grade apart from its own imprecision (~).
func markdownFidelity(b *bufio.Writer, r *result.Result) {
	held, total := expectationCount(r)
	fmt.Fprintf(b, "### Fidelity: the source vs the replay (%d/%d reproduced)\n\n", held, total)
	b.WriteString("| phase | source time | run at | the source says | check | measured | result | source grade |\n|---|---|---:|---|---|---|---|---|\n")
	for _, f := range r.Scenario.Fidelity {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", mdCell(f.Phase), mdCell(sourceTimeText(f.SourceTime, f.Approximate)), runAtText(f.RunAt),
			mdCell(f.Claim), mdCell(f.Expected), mdCell(f.Measured), fidelityMark(f), mdCell(gradeText(f.Grade)))
	}
	b.WriteString("\n" + fidelityGateText(r) + " Grade: how far the check of the source got (primary: the company's own text; secondary: write-ups that agree; unverified: nothing retrievable states it); ~: the source itself gives the time only roughly.\n\n")
}

func fidelityMark(f result.Fidelity) string {
	switch fidelityOutcome(f) {
	case "match":
		return "✅ match"
	case "mismatch":
		return "❌ mismatch"
	}
	return "➖ not judged"
}

// markdownScore writes the score's parts and the per-journey error budget.
func markdownScore(b *bufio.Writer, sc result.Score, scored bool) {
	if !scored {
		b.WriteString("### Score\n\nNo score (the run could not judge).\n\n")
		return
	}
	fmt.Fprintf(b, "### Score %.1f/100\n\n", sc.Value)
	if parts := scoreParts(sc); len(parts) > 0 {
		var head, sep, vals []string
		for _, p := range parts {
			head, sep, vals = append(head, p.Label), append(sep, "---:"), append(vals, p.Value)
		}
		fmt.Fprintf(b, "| %s |\n|%s|\n| %s |\n\n", strings.Join(head, " | "), strings.Join(sep, "|"), strings.Join(vals, " | "))
	}
	if rows := budgetRows(sc); len(rows) > 0 {
		b.WriteString("<details><summary>Error budget per journey</summary>\n\n| journey/region | weight | target | success | budget burned | value |\n|---|---:|---:|---:|---:|---:|\n")
		for _, j := range rows {
			burned := j.Burned
			if j.Overspent {
				burned = "**" + burned + "**"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", mdCell(j.Journey), j.Weight, j.Target, j.Success, burned, j.Value)
		}
		b.WriteString("\n</details>\n\n")
	}
}

func verdictMark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

func countHeld(hs []result.Hypothesis) (held, total int) {
	for _, h := range hs {
		if h.Holds {
			held++
		}
	}
	return held, len(hs)
}

func verdictIcon(v result.Verdict) string {
	switch v {
	case result.VerdictPass:
		return "✅"
	case result.VerdictFail:
		return "❌"
	}
	return "⚠️"
}

func stateIcon(s string) string {
	switch s {
	case "healthy":
		return "🟢"
	case "degraded":
		return "🟠"
	case "down":
		return "🔴"
	}
	return "⚪"
}

var mdEscaper = strings.NewReplacer(
	"\\", "\\\\", "*", "\\*", "_", "\\_", "`", "\\`", "[", "\\[", "]", "\\]",
	"<", "&lt;", "|", "\\|", "#", "\\#", "\r", " ", "\n", " ",
)

// mdText escapes s for inline Markdown.
func mdText(s string) string { return mdEscaper.Replace(s) }

// mdCell escapes s for a table cell.
func mdCell(s string) string {
	if s == "" {
		return "–"
	}
	return mdText(s)
}

// mdCode makes s safe inside a code span.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "\n", " ", "\r", " ").Replace(s)
}

func mdLink(s string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "\n", "", "\r", "").Replace(s)
}
