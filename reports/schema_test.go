package reports

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

// generateSchema derives the JSON Schema (draft 2020-12) of result.Result
// from its Go types, so result.schema.json cannot drift from the model: the
// test compares the file with this output (both directions at once).
func generateSchema() map[string]any {
	defs := map[string]any{}
	root := schemaOf(reflect.TypeFor[result.Result](), defs)
	s := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://github.com/outagelab/outagelab/reports/result.schema.json",
		"title":       "Outage Lab result " + result.SchemaVersion,
		"description": "One run of an Outage Lab scenario: what was asked, done, measured and what held. Fields are described in reports/RESULT.md.",
		"$ref":        root["$ref"],
		"$defs":       defs,
	}
	return s
}

var timeType = reflect.TypeFor[time.Time]()

func schemaOf(t reflect.Type, defs map[string]any) map[string]any {
	nullable := func(m map[string]any) map[string]any {
		if ty, ok := m["type"].(string); ok {
			m["type"] = []any{ty, "null"}
		}
		return m
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == reflect.TypeFor[result.Verdict]():
		return map[string]any{"type": "string", "enum": []any{"pass", "fail", "error"}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct && t.Elem() != timeType {
			return schemaOf(t.Elem(), defs)
		}
		return nullable(schemaOf(t.Elem(), defs))
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": []any{"array", "null"}, "items": schemaOf(t.Elem(), defs)}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": []any{"object", "null"}}
		}
		return map[string]any{"type": []any{"object", "null"}, "additionalProperties": schemaOf(t.Elem(), defs)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if _, ok := defs[name]; !ok {
			defs[name] = nil // break cycles
			props := map[string]any{}
			var required []any
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				tag := f.Tag.Get("json")
				if tag == "-" || !f.IsExported() {
					continue
				}
				key, opts, _ := strings.Cut(tag, ",")
				if key == "" {
					key = f.Name
				}
				props[key] = schemaOf(f.Type, defs)
				if !strings.Contains(opts, "omitempty") {
					required = append(required, key)
				}
			}
			sort.Slice(required, func(i, j int) bool { return required[i].(string) < required[j].(string) })
			defs[name] = map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	panic("schema: unsupported type " + t.String())
}

// validateSchema checks v against the subset of JSON Schema that
// generateSchema writes: $ref, type, enum, properties, required,
// additionalProperties, items.
func validateSchema(root, s map[string]any, v any, path string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, _ := root["$defs"].(map[string]any)[name].(map[string]any)
		if def == nil {
			return []string{path + ": unresolved " + ref}
		}
		return validateSchema(root, def, v, path)
	}
	var errs []string
	if ty, ok := s["type"]; ok {
		var types []string
		switch x := ty.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, e := range x {
				types = append(types, e.(string))
			}
		}
		if !typeMatches(types, v) {
			return []string{fmt.Sprintf("%s: %T is not %v", path, v, types)}
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s: %v not in %v", path, v, enum))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := x[r]; !ok {
				errs = append(errs, fmt.Sprintf("%s: missing required %q", path, r))
			}
		}
		for k, val := range x {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validateSchema(root, ps, val, path+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, fmt.Sprintf("%s: key %q not in the schema", path, k))
				}
			case map[string]any:
				errs = append(errs, validateSchema(root, ap, val, path+"."+k)...)
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				errs = append(errs, validateSchema(root, items, e, fmt.Sprintf("%s[%d]", path, i))...)
				if len(errs) > 20 {
					return errs
				}
			}
		}
	}
	return errs
}

func typeMatches(types []string, v any) bool {
	for _, t := range types {
		switch x := v.(type) {
		case nil:
			if t == "null" {
				return true
			}
		case string:
			if t == "string" {
				return true
			}
		case bool:
			if t == "boolean" {
				return true
			}
		case float64:
			if t == "number" || (t == "integer" && x == float64(int64(x))) {
				return true
			}
		case map[string]any:
			if t == "object" {
				return true
			}
		case []any:
			if t == "array" {
				return true
			}
		}
	}
	return false
}

func asList(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, e := range l {
			out = append(out, e.(string))
		}
	}
	return out
}

// schemaKeys lists every property name in the schema.
func schemaKeys(schema map[string]any) []string {
	seen := map[string]bool{}
	for _, d := range schema["$defs"].(map[string]any) {
		for k := range d.(map[string]any)["properties"].(map[string]any) {
			seen[k] = true
		}
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
