package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/outagelab/outagelab/reports/result"
)

func TestHTMLShowsBlastRadiusAndLoad(t *testing.T) {
	r := synthetic(t, result.SyntheticOptions{})
	r.BlastRadius = []result.BlastRadius{{Fault: "congestion/0", Journeys: []string{"login/eu-west-1"}, Components: []string{"identity"}, Rule: "success fell 5 points below steady state"}}
	r.Load = &result.LoadStats{Rates: map[string]float64{"us-east-1": 40}, Sent: 36000, ScheduleErrP50Ms: 0.21, AcknowledgedOrders: 1329}
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Blast radius per fault", "login/eu-west-1", "success fell 5 points", "us-east-1 40/s", "0.21 / 0.00 / 0.00 ms"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
