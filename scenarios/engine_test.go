package scenarios

import (
	"strings"
	"testing"

	"github.com/outagelab/outagelab/reports/result"
)

func TestParseDependencyRequests(t *testing.T) {
	text := `# TYPE storefront_dependency_requests_total counter
storefront_dependency_requests_total{service="gateway",region="us-east-1",dependency="identity",outcome="ok"} 10
storefront_dependency_requests_total{service="gateway",region="us-east-1",dependency="identity",outcome="timeout"} 5
storefront_dependency_requests_total{service="gateway",region="us-east-1",dependency="catalog",outcome="ok"} 7
# TYPE other_total counter
other_total 3
`
	got, err := parseDependencyRequests(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got["identity"] != 15 || got["catalog"] != 7 || len(got) != 2 {
		t.Errorf("got %v", got)
	}
	if _, err := parseDependencyRequests(strings.NewReader("garbage{")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestVerdict(t *testing.T) {
	mk := func(state string, holds ...bool) *runner {
		r := &runner{s: &Scenario{}, res: &result.Result{Status: result.Status{State: state}}}
		for _, h := range holds {
			r.res.Hypotheses = append(r.res.Hypotheses, result.Hypothesis{Holds: h})
		}
		r.finish()
		return r
	}
	for _, c := range []struct {
		state string
		holds []bool
		want  result.Verdict
	}{
		{"completed", []bool{true, true}, result.VerdictPass},
		{"completed", []bool{true, false}, result.VerdictFail},
		{"aborted", []bool{true}, result.VerdictFail},
		{"steady_state_failed", nil, result.VerdictFail},
		{"interrupted", []bool{true}, result.VerdictError},
		{"failed", nil, result.VerdictError},
		{"running", nil, result.VerdictError},
	} {
		if got := mk(c.state, c.holds...).res.Verdict; got != c.want {
			t.Errorf("%s %v: verdict %s, want %s", c.state, c.holds, got, c.want)
		}
	}
	r := &runner{s: &Scenario{}, res: &result.Result{Status: result.Status{State: "completed"}, Invariants: []result.Invariant{{Name: "x", Holds: false}}}}
	r.finish()
	if r.res.Verdict != result.VerdictFail {
		t.Error("a broken invariant must fail the run")
	}
}
