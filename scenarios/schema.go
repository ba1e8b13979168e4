package scenarios

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/outagelab/outagelab/harness/faults"
)

//go:generate go test -run TestSchemaUpToDate -update .

// Patterns of the scalars the loader parses itself. Each accepts what the
// loader's parser accepts in ordinary writing (it does not follow every
// oddity of strconv.ParseFloat, such as exponents or hex floats).
const (
	// goDurRE is time.ParseDuration's syntax, non-negative: "1h58m", "0.5s", "0".
	goDurRE = `\+?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)`
	// daysRE is ParseDuration's day prefix, 0..365 days.
	daysRE = `\+?0*(36[0-5]|3[0-5][0-9]|[12]?[0-9]?[0-9])d`
	// durRE is ParseDuration's syntax: "90s", "1h58m", "3d", "3d12h", "0".
	durRE = `^\s*((` + daysRE + `)?` + goDurRE + `|` + daysRE + `)\s*$`
	// rateRE is ParseRate's syntax: "40/s", "2400/m", "1.5/s", "40".
	rateRE = `^\s*\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(/\s*(s|m|min|h)\s*)?$`
	opRE   = `^\s*(>=|<=|>|<)\s*`
	// successRE is a success condition: a share 0..1 or a percentage 0%..100%.
	successRE = opRE + `\+?(0*1(\.0*)?|0+(\.[0-9]*)?|0*\.[0-9]+|(0*100(\.0*)?|0*[0-9]{1,2}(\.[0-9]*)?|0*\.[0-9]+)%)\s*$`
	// latencyRE is a latency condition: a Go duration.
	latencyRE = opRE + goDurRE + `\s*$`
	// paramDurRE is harness/faults.Duration's text: a Go duration or a
	// number of milliseconds.
	paramDurRE = `^\s*(` + goDurRE + `|\+?[0-9]+(\.[0-9]+)?)\s*$`
)

// paramRules add the constraints of a registry kind's Validate (the schema
// takes the parameters' names and types from the kind's Go struct) keyed
// "kind.parameter". TestSchemaRulesNameRealParameters keeps the keys honest.
var paramRules = map[string]map[string]any{
	"latency.latency":       {"pattern": "[1-9]", "exclusiveMinimum": 0},
	"delay.delay":           {"pattern": "[1-9]", "exclusiveMinimum": 0},
	"slow_close.delay":      {"pattern": "[1-9]", "exclusiveMinimum": 0},
	"bandwidth.rate":        {"exclusiveMinimum": 0, "description": "KB/s per connection"},
	"limit_data.bytes":      {"exclusiveMinimum": 0},
	"slicer.average_size":   {"exclusiveMinimum": 0},
	"slicer.size_variation": {"minimum": 0},
	"http_error.rate":       {"exclusiveMinimum": 0, "maximum": 1, "description": "share of requests answered with status"},
	"http_error.status":     {"minimum": 400, "maximum": 599},
	"partition.mode":        {"enum": []string{faults.PartitionBlackhole, faults.PartitionRefuse}},
}

// requiredParams are the parameters a kind cannot do without (its default
// fails its Validate).
var requiredParams = map[string][]string{
	"latency":     {"latency"},
	"delay":       {"delay"},
	"slow_close":  {"delay"},
	"bandwidth":   {"rate"},
	"limit_data":  {"bytes"},
	"retry_storm": {"latency", "per_request_per_second"},
}

// retryStormParams are the engine kind's parameters (see engineKinds).
var retryStormParams = []string{"latency", "per_request_per_second", "max", "jitter"}

// JSONSchema returns the JSON Schema (draft 2020-12) for scenario files, as
// published in scenarios/schema.json for editors. Fault kinds and the names
// and types of their parameters come from the fault registry, so the schema
// cannot drift from what the loader accepts. The loader remains the
// authority: it also checks what a schema cannot express (references
// between parts, overlaps, selectors against the topology); see the
// exceptions in schema_test.go.
func JSONSchema() []byte {
	type m = map[string]any
	ref := func(def string) m { return m{"$ref": "#/$defs/" + def} }
	str := m{"type": "string"}
	conds := func() m {
		return m{
			"success": ref("success"), "p50": ref("latency_condition"),
			"p95": ref("latency_condition"), "p99": ref("latency_condition"),
		}
	}
	anyCheck := []any{}
	oneCheck := []any{}
	for _, c := range metrics {
		anyCheck = append(anyCheck, m{"required": []string{string(c)}})
		oneCheck = append(oneCheck, m{"required": []string{string(c)}})
	}
	hyp := func(during bool) m {
		p := m{"journey": ref("journey"), "region": str, "description": str, "claim": str}
		for k, v := range conds() {
			p[k] = v
		}
		s := m{"type": "object", "additionalProperties": false, "properties": p,
			"anyOf": anyCheck, "$comment": "a hypothesis checks at least one of success, p50, p95, p99"}
		if during {
			p["during"] = m{"type": "string", "pattern": nameRE.String(), "description": "a phase's name"}
			s["required"] = []string{"during"}
		}
		return s
	}
	// An objective is judged during a phase (or "*": every phase with
	// faults), or it is a recovery objective: after a phase, back at a
	// success target within recover_within.
	objective := func() m {
		s := hyp(false)
		p := s["properties"].(m)
		p["during"] = m{"type": "string", "pattern": "^(\\*|" + strings.TrimPrefix(nameRE.String(), "^") + ")",
			"description": `a phase's name, or "*" for every phase with faults`}
		p["after"] = m{"type": "string", "pattern": nameRE.String(), "description": "recovery objective: the phase whose end starts the clock"}
		p["recover_within"] = m{"$ref": "#/$defs/positive_duration", "description": "recovery objective: wall time after the phase's end"}
		delete(s, "anyOf")
		s["anyOf"] = []any{
			m{"required": []string{"during"}, "anyOf": anyCheck,
				"not": m{"anyOf": []any{m{"required": []string{"after"}}, m{"required": []string{"recover_within"}}}}},
			m{"required": []string{"after", "recover_within"},
				"not": m{"anyOf": []any{m{"required": []string{"during"}}, m{"required": []string{"p50"}}, m{"required": []string{"p95"}}, m{"required": []string{"p99"}}}}},
		}
		s["$comment"] = "during a phase with at least one check, or after a phase with recover_within (and at most a success target)"
		return s
	}
	expectation := func() m {
		s := hyp(true)
		s["properties"].(m)["grade"] = m{"enum": Grades, "description": "how far the check of the claim's source got"}
		return s
	}

	defs := m{
		"duration": m{
			"description": `duration, e.g. "90s", "1h58m", "3d"; or 0`,
			"anyOf":       []any{m{"type": "string", "pattern": durRE}, m{"const": 0}},
		},
		"positive_duration": m{
			"description": `duration longer than 0, e.g. "90s", "1h58m", "3d"`,
			"type":        "string", "allOf": []any{m{"pattern": durRE}, m{"pattern": "[1-9]"}},
		},
		"param_duration": m{
			"description": `duration, e.g. "800ms", "1.5s"; a bare number is milliseconds`,
			"anyOf":       []any{m{"type": "string", "pattern": paramDurRE}, m{"type": "number", "minimum": 0}},
		},
		"success": m{"type": "string", "pattern": successRE,
			"description": `comparison of the share of successful journeys, e.g. ">= 99%" or "< 0.2"`},
		"latency_condition": m{"type": "string", "pattern": latencyRE,
			"description": `comparison of a latency percentile, e.g. "< 300ms"`},
		"journey":     m{"enum": Journeys},
		"preset":      m{"enum": Presets},
		"string_list": m{"anyOf": []any{str, m{"type": "array", "items": str}}},
		"labels": m{"type": "object",
			"additionalProperties": m{"type": []string{"string", "number", "boolean"}}},
		"edge_selector": m{"type": "object", "additionalProperties": false, "minProperties": 1, "properties": m{
			"names": ref("string_list"), "name": ref("string_list"), "from": str, "to": str, "region": str,
			"crossing": m{"type": "array", "items": str, "minItems": 2, "maxItems": 2},
			"labels":   ref("labels"),
		}},
		"component_selector": m{"type": "object", "additionalProperties": false, "minProperties": 1, "properties": m{
			"names": ref("string_list"), "name": ref("string_list"), "region": str, "labels": ref("labels"),
		}},
		"objective":    objective(),
		"expectation":  expectation(),
		"steady_state": hyp(false),
		"guard": m{
			"type": "object", "additionalProperties": false, "required": []string{"for"},
			"properties": func() m {
				p := m{"journey": ref("journey"), "region": str, "for": ref("duration")}
				for k, v := range conds() {
					p[k] = v
				}
				return p
			}(),
			"oneOf":    oneCheck,
			"$comment": "an abort guard has exactly one of success, p50, p95, p99",
		},
	}

	kinds := KindNames()
	var byKind []any
	for _, k := range kinds {
		defs["fault_"+k] = kindSchema(k)
		byKind = append(byKind, m{
			"if":   m{"properties": m{"kind": m{"const": k}}, "required": []string{"kind"}},
			"then": ref("fault_" + k),
		})
	}
	defs["fault"] = m{
		"type": "object", "required": []string{"kind"},
		"properties":            m{"kind": m{"enum": kinds}},
		"allOf":                 byKind,
		"unevaluatedProperties": false,
		"$comment":              "the kind's $defs/fault_KIND lists its selector and parameters",
	}

	mixWeights := m{}
	mixNonZero := []any{m{"maxProperties": 0}}
	for _, j := range Journeys {
		mixWeights[j] = m{"type": "integer", "minimum": 0, "maximum": 1_000_000}
		mixNonZero = append(mixNonZero, m{"required": []string{j}, "properties": m{j: m{"minimum": 1}}})
	}

	s := m{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://github.com/outagelab/outagelab/scenarios/schema.json",
		"title":                "Outage Lab scenario",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"name", "title", "load", "phases"},
		"properties": m{
			"name":       m{"type": "string", "pattern": nameRE.String()},
			"title":      str,
			"date":       m{"type": "string", "pattern": `^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`},
			"summary":    str,
			"sources":    m{"type": "array", "items": m{"type": "string", "pattern": "^https?://"}},
			"topology":   str,
			"time_scale": m{"type": "number", "exclusiveMinimum": 0, "maximum": 1e6},
			"policy": m{"anyOf": []any{
				ref("preset"),
				m{"type": "object", "additionalProperties": false, "properties": m{
					"preset": ref("preset"),
					"edges":  m{"type": "object", "additionalProperties": ref("preset")},
				}},
			}},
			"seed":     m{"type": "integer"},
			"warmup":   ref("duration"),
			"recovery": ref("duration"),
			"load": m{"type": "object", "additionalProperties": false, "required": []string{"rate"}, "properties": m{
				"rate": m{"type": "object", "minProperties": 1, "additionalProperties": m{
					"description": `arrivals per region, e.g. "40/s"`,
					"anyOf": []any{
						m{"type": "string", "pattern": rateRE},
						m{"type": "number", "minimum": 0, "maximum": 5000},
					}}},
				"mix": m{"type": "object", "additionalProperties": false, "properties": mixWeights,
					"anyOf": mixNonZero, "$comment": "at least one journey has a positive weight"},
			}},
			"steady_state": m{"type": "array", "items": ref("steady_state")},
			"phases": m{"type": "array", "minItems": 1, "items": m{
				"type": "object", "additionalProperties": false, "required": []string{"name", "at", "for"},
				"properties": m{
					"name": m{"type": "string", "pattern": nameRE.String()},
					"at":   ref("duration"), "for": ref("positive_duration"),
					"note": str, "approximate": m{"type": "boolean", "description": "the source itself gives this time only roughly"},
					"source_time":  m{"type": "string", "description": `the source's own time for the phase's start, e.g. "07:30 PST"`},
					"source_grade": m{"enum": Grades, "description": "how far the check of the source for this phase got"},
					"faults":       m{"type": "array", "items": ref("fault")},
				},
			}},
			"objectives":   m{"type": "array", "items": ref("objective"), "description": "what the system under test must hold; they decide the verdict"},
			"expectations": m{"type": "array", "items": ref("expectation"), "description": "what the outage's sources say happened; reported as fidelity"},
			"hypotheses": m{"type": "array", "items": ref("objective"), "deprecated": true,
				"description": "deprecated: read as objectives; rename to objectives, and move what the sources say happened to expectations"},
			"abort": m{"type": "array", "items": ref("guard")},
		},
		"$defs": defs,
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

// kindSchema is a fault kind's selector and parameters: names and types
// from the kind's Go parameter struct, constraints from paramRules.
func kindSchema(kind string) map[string]any {
	type m = map[string]any
	props := m{}
	var scope faults.Scope
	if k, ok := faults.Lookup(kind); ok {
		scope = k.Scope
		for name, t := range paramTypes(reflect.TypeOf(k.New()).Elem()) {
			switch {
			case (name == "toxicity" || name == "stream") && k.Toxic == "":
				continue // the loader allows them on toxics only
			case name == "toxicity":
				props[name] = m{"type": "number", "exclusiveMinimum": 0, "maximum": 1,
					"description": "share of connections affected (default 1)"}
			case name == "stream":
				props[name] = m{"enum": []string{faults.StreamUpstream, faults.StreamDownstream, faults.StreamBoth}}
			default:
				props[name] = paramSchema(t)
			}
		}
	} else if e, ok := engineKinds[kind]; ok {
		scope = e.scope
		for _, p := range retryStormParams {
			props[p] = m{"$ref": "#/$defs/duration"}
		}
	}
	for key, rule := range paramRules {
		k, p, _ := strings.Cut(key, ".")
		if k != kind {
			continue
		}
		s, _ := props[p].(m)
		if s == nil {
			continue // reported by TestSchemaRulesNameRealParameters
		}
		for rk, rv := range rule {
			s[rk] = rv
		}
	}
	out := m{"properties": props}
	switch scope {
	case faults.ScopeEdge:
		props["edges"] = m{"$ref": "#/$defs/edge_selector"}
		out["required"] = append([]string{"edges"}, requiredParams[kind]...)
	case faults.ScopeComponent:
		props["components"] = m{"$ref": "#/$defs/component_selector"}
		out["required"] = append([]string{"components"}, requiredParams[kind]...)
	}
	return out
}

// paramTypes maps a parameter struct's JSON names to their Go types,
// following embedded structs as encoding/json does.
func paramTypes(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range paramTypes(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

var durationType = reflect.TypeFor[faults.Duration]()

// paramSchema is the schema of a parameter of Go type t as the loader
// decodes it (encoding/json into the kind's struct).
func paramSchema(t reflect.Type) map[string]any {
	if t == durationType {
		return map[string]any{"$ref": "#/$defs/param_duration"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
		}
	}
	// TestSchemaTypesEveryFaultParameter fails on this: teach paramSchema the type.
	return map[string]any{"description": fmt.Sprintf("untyped: Go type %s", t)}
}
