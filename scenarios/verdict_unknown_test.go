package scenarios

import (
	"testing"

	"github.com/outagelab/outagelab/reports/result"
)

// TestVerdictUnknownInvariant: an invariant whose evidence was lost fails
// the run, even if a reader set holds; a state is always written.
func TestVerdictUnknownInvariant(t *testing.T) {
	for _, c := range []struct {
		inv       result.Invariant
		want      result.Verdict
		wantState string
	}{
		{result.Invariant{Name: "a", Holds: true, State: result.InvariantHolds}, result.VerdictPass, "holds"},
		{result.Invariant{Name: "b", Holds: true}, result.VerdictPass, "holds"},
		{result.Invariant{Name: "c", Holds: false}, result.VerdictFail, "violated"},
		{result.Invariant{Name: "d", Holds: false, State: result.InvariantUnknown}, result.VerdictFail, "unknown"},
		{result.Invariant{Name: "e", Holds: true, State: result.InvariantUnknown}, result.VerdictFail, "unknown"},
	} {
		r := &runner{s: &Scenario{}, res: &result.Result{Status: result.Status{State: "completed"}, Invariants: []result.Invariant{c.inv}}}
		r.finish()
		if r.res.Verdict != c.want || r.res.Invariants[0].State != c.wantState {
			t.Errorf("%+v: verdict %s state %q, want %s %q", c.inv, r.res.Verdict, r.res.Invariants[0].State, c.want, c.wantState)
		}
	}
}

// TestSkeletonSaysWhatTheSeedReproduces: result.json tells both lists.
func TestSkeletonSaysWhatTheSeedReproduces(t *testing.T) {
	r := &runner{s: &Scenario{Name: "x", Seed: 7}}
	res := r.skeleton()
	if res.Scenario.Seed != 7 || len(res.Scenario.SeedReproduces) == 0 || len(res.Scenario.SeedDoesNotReproduce) == 0 {
		t.Fatalf("scenario %+v: want the seed and what it does and does not reproduce", res.Scenario)
	}
}
