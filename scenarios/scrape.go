package scenarios

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var scrapeClient = &http.Client{Timeout: 800 * time.Millisecond}

// scrapeDependencyRequests returns storefront_dependency_requests_total
// summed by dependency (every attempt, retries included; CONTRACT.md).
func scrapeDependencyRequests(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseDependencyRequests(io.LimitReader(resp.Body, 8<<20))
}

func parseDependencyRequests(r io.Reader) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	out := map[string]float64{}
	fam, ok := fams["storefront_dependency_requests_total"]
	if !ok {
		return out, nil
	}
	for _, m := range fam.GetMetric() {
		dep := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "dependency" {
				dep = l.GetValue()
			}
		}
		if c := m.GetCounter(); c != nil {
			out[dep] += c.GetValue()
		}
	}
	return out, nil
}
