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
	return r
}
