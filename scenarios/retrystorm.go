package scenarios

import (
	"fmt"
	"time"

	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/internal/yamlx"
)

// RetryStorm is the closed-loop fault of AWS 2021-12-07: congestion on a set
// of edges whose added latency grows with the request rate the callers push
// through them, so clients that retry without backing off make it worse.
//
// Every bucket the engine measures the rate r (requests/s, summed over the
// targeted edges, retries included) and sets one latency toxic per edge to
//
//	latency = min(Latency + PerRequestPerSecond × r, Max)    (± Jitter)
//
// It lives in the engine, not in harness/faults, because it needs the
// recorder's view of the edges' traffic; underneath it is an ordinary latency
// toxic that the engine updates (and always removes) through the applier.
type RetryStorm struct {
	Latency             time.Duration // base added latency
	PerRequestPerSecond time.Duration // added per request/s observed on the edges
	Max                 time.Duration // cap (default 10 s)
	Jitter              time.Duration
}

// Next returns the latency to apply for an observed rate r (requests/s).
func (s RetryStorm) Next(rate float64) time.Duration {
	if rate < 0 || rate != rate {
		rate = 0
	}
	d := s.Latency + time.Duration(float64(s.PerRequestPerSecond)*rate)
	if mx := s.max(); d > mx || d < 0 {
		d = mx
	}
	return d.Round(time.Millisecond)
}

func (s RetryStorm) max() time.Duration {
	if s.Max <= 0 {
		return 10 * time.Second
	}
	return s.Max
}

// RetryStormFrom reads a retry_storm fault's parameters (validated by Parse).
func RetryStormFrom(p map[string]any) RetryStorm {
	get := func(k string) time.Duration {
		switch v := p[k].(type) {
		case string:
			d, _ := ParseDuration(v)
			return d
		case int64:
			return time.Duration(v) * time.Millisecond
		case float64:
			return time.Duration(v * float64(time.Millisecond))
		}
		return 0
	}
	return RetryStorm{Latency: get("latency"), PerRequestPerSecond: get("per_request_per_second"), Max: get("max"), Jitter: get("jitter")}
}

// engineKinds are played by the engine itself.
var engineKinds = map[string]kindSpec{
	"retry_storm": {scope: faults.ScopeEdge, engine: true,
		validate: params([]string{"latency", "per_request_per_second", "max", "jitter"},
			dur("latency", true), dur("per_request_per_second", true), dur("max", false), dur("jitter", false),
			func(p map[string]any) []paramError {
				s := RetryStormFrom(p)
				if s.Jitter > s.Latency {
					return []paramError{paramErrorf("jitter", "", "jitter %v is larger than latency %v", s.Jitter, s.Latency)}
				}
				if s.Max > 0 && s.Max < s.Latency {
					return []paramError{paramErrorf("max", "", "max %v is below latency %v", s.Max, s.Latency)}
				}
				return nil
			})},
}

// Parameter checks for engine kinds.

func durationParam(p map[string]any, name string, required bool) []paramError {
	v, ok := p[name]
	if !ok {
		if required {
			return []paramError{paramErrorf("", fmt.Sprintf("e.g. %s: 200ms", name), "missing parameter %q", name)}
		}
		return nil
	}
	switch x := v.(type) {
	case string:
		d, err := ParseDuration(x)
		if err != nil || d < 0 {
			return []paramError{paramErrorf(name, `e.g. "200ms", "2s"`, "bad duration %q", x)}
		}
	case int64:
		if x != 0 {
			return []paramError{paramErrorf(name, fmt.Sprintf(`write a unit: "%dms"`, x), "duration %d has no unit", x)}
		}
	default:
		return []paramError{paramErrorf(name, `e.g. "200ms"`, "expected a duration, got %T", v)}
	}
	return nil
}

type paramCheck func(map[string]any) []paramError

func params(allowed []string, checks ...paramCheck) func(map[string]any) []paramError {
	return func(p map[string]any) []paramError {
		var out []paramError
		for k := range p {
			found := false
			for _, a := range allowed {
				found = found || a == k
			}
			if !found {
				hint := "this kind takes no parameters"
				if len(allowed) > 0 {
					hint = yamlx.Suggest(k, allowed)
				}
				out = append(out, paramErrorf(k, hint, "unknown attribute %q", k))
			}
		}
		for _, c := range checks {
			out = append(out, c(p)...)
		}
		return out
	}
}

func dur(name string, req bool) paramCheck {
	return func(p map[string]any) []paramError { return durationParam(p, name, req) }
}
