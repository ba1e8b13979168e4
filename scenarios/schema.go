package scenarios

import (
	"encoding/json"
	"slices"

	"github.com/outagelab/outagelab/harness/faults"
)

//go:generate go test -run TestSchemaUpToDate -update .

// JSONSchema returns the JSON Schema (draft 2020-12) for scenario files, as
// published in scenarios/schema.json for editors. Fault kinds and their
// attributes come from the fault registry, so the schema cannot drift from
// what the loader accepts; the loader remains the authority (it also checks
// references, overlaps and selectors against the topology).
func JSONSchema() []byte {
	type m = map[string]any
	str := m{"type": "string"}
	dur := m{"type": []string{"string", "integer"}, "pattern": `^([0-9]+d)?([0-9.]+(ns|us|µs|ms|s|m|h))*$|^0$`, "description": `duration, e.g. "90s", "1h58m", "3d"`}
	cond := m{"type": []string{"string", "number"}, "description": `comparison, e.g. ">= 99%" or "< 300ms"`}
	strList := m{"anyOf": []any{str, m{"type": "array", "items": str}}}
	labels := m{"type": "object", "additionalProperties": str}

	kinds := KindNames()
	params := map[string]any{}
	for _, k := range kinds {
		var attrs []string
		if _, ok := faults.Lookup(k); ok {
			attrs = faults.Attributes(k)
		} else if k == "retry_storm" {
			attrs = []string{"latency", "per_request_per_second", "max", "jitter"}
		}
		for _, a := range attrs {
			if a == "toxicity" || a == "stream" {
				continue
			}
			params[a] = m{"description": "parameter of fault kinds that take it (see `outagelab validate`)"}
		}
	}
	faultProps := m{
		"kind": m{"enum": kinds},
		"edges": m{"type": "object", "additionalProperties": false, "properties": m{
			"names": strList, "name": strList, "from": str, "to": str, "region": str,
			"crossing": m{"type": "array", "items": str, "minItems": 2, "maxItems": 2},
			"labels":   labels,
		}},
		"components": m{"type": "object", "additionalProperties": false, "properties": m{
			"names": strList, "name": strList, "region": str, "labels": labels,
		}},
		"toxicity": m{"type": "number", "exclusiveMinimum": 0, "maximum": 1},
		"stream":   m{"enum": []string{"upstream", "downstream", "both"}},
	}
	for k, v := range params {
		faultProps[k] = v
	}
	hyp := func(during bool) m {
		p := m{"journey": m{"enum": Journeys}, "region": str, "description": str, "claim": str,
			"success": cond, "p50": cond, "p95": cond, "p99": cond}
		req := []string{}
		if during {
			p["during"] = str
			req = append(req, "during")
		}
		return m{"type": "object", "additionalProperties": false, "properties": p, "required": req}
	}
	s := m{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://github.com/outagelab/outagelab/scenarios/schema.json",
		"title":                "Outage Lab scenario",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"name", "title", "phases"},
		"properties": m{
			"name":       m{"type": "string", "pattern": nameRE.String()},
			"title":      str,
			"date":       m{"type": "string", "pattern": `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`},
			"summary":    str,
			"sources":    m{"type": "array", "items": m{"type": "string", "pattern": "^https?://"}},
			"topology":   str,
			"time_scale": m{"type": "number", "exclusiveMinimum": 0},
			"policy": m{"anyOf": []any{
				m{"enum": Presets},
				m{"type": "object", "additionalProperties": false, "properties": m{
					"preset": m{"enum": Presets},
					"edges":  m{"type": "object", "additionalProperties": m{"enum": Presets}},
				}},
			}},
			"seed":     m{"type": "integer"},
			"warmup":   dur,
			"recovery": dur,
			"load": m{"type": "object", "additionalProperties": false, "required": []string{"rate"}, "properties": m{
				"rate": m{"type": "object", "additionalProperties": m{"type": []string{"string", "number"}, "description": `arrivals, e.g. "40/s"`}},
				"mix":  m{"type": "object", "additionalProperties": false, "properties": journeyWeights()},
			}},
			"steady_state": m{"type": "array", "items": hyp(false)},
			"phases": m{"type": "array", "minItems": 1, "items": m{
				"type": "object", "additionalProperties": false, "required": []string{"name", "at", "for"},
				"properties": m{
					"name": m{"type": "string", "pattern": nameRE.String()}, "at": dur, "for": dur,
					"note": str, "approximate": m{"type": "boolean"},
					"faults": m{"type": "array", "items": m{
						"type": "object", "additionalProperties": false, "required": []string{"kind"}, "properties": faultProps,
					}},
				},
			}},
			"hypotheses": m{"type": "array", "items": hyp(true)},
			"abort": m{"type": "array", "items": m{
				"type": "object", "additionalProperties": false, "required": []string{"for"},
				"properties": m{"journey": m{"enum": Journeys}, "region": str, "for": dur,
					"success": cond, "p50": cond, "p95": cond, "p99": cond},
			}},
		},
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

func journeyWeights() map[string]any {
	out := map[string]any{}
	for _, j := range slices.Clone(Journeys) {
		out[j] = map[string]any{"type": "integer", "minimum": 0}
	}
	return out
}
