package reports

import (
	"github.com/outagelab/outagelab/reports/result"
)

// partial turns r into what an interrupted run writes: status interrupted,
// series cut short at 70%, the last phase never removed its faults.
func partial(r *result.Result) *result.Result {
	cut := len(r.Components[0].State) * 7 / 10
	r.Status = result.Status{State: "interrupted", Reason: "SIGINT received during phase recovering"}
	r.Verdict = result.VerdictError
	for i := range r.Components {
		c := &r.Components[i]
		c.State, c.Requests, c.P99Ms = c.State[:cut], c.Requests[:cut], c.P99Ms[:cut]
	}
	for i := range r.Journeys {
		j := &r.Journeys[i]
		j.AttemptsSeries, j.OKSeries, j.P99Ms = j.AttemptsSeries[:cut], j.OKSeries[:cut], j.P99Ms[:cut]
	}
	last := &r.Phases[len(r.Phases)-1]
	for k := range last.Faults {
		last.Faults[k].RemovedAt = nil
	}
	// The last phase never ended: its recovery objective could not be
	// judged, and its claim was never checked.
	for i := range r.Hypotheses {
		if h := &r.Hypotheses[i]; h.Kind == "recovery" && h.Phase == last.Name {
			h.Measured, h.MeasuredValue, h.Holds, h.Samples = "phase did not end", -1, false, 0
		}
	}
	r.Scenario.Fidelity = append(r.Scenario.Fidelity, result.Fidelity{Phase: last.Name, SourceTime: last.SourceTime,
		Claim: "Event delivery disabled to shed load; congestion much improved", Expected: "checkout success >= 90%",
		Grade: last.SourceGrade, Approximate: last.Approximate})
	return r
}
