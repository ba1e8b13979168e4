package scenarios

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"testing"

	"github.com/goccy/go-yaml"
)

var update = flag.Bool("update", false, "rewrite schema.json")

func TestSchemaUpToDate(t *testing.T) {
	want := JSONSchema()
	if *update {
		if err := os.WriteFile("schema.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("schema.json is stale: run `go test ./scenarios -run TestSchemaUpToDate -update`")
	}
	var s map[string]any
	if err := json.Unmarshal(got, &s); err != nil {
		t.Fatalf("schema.json is not JSON: %v", err)
	}
	enum := s["properties"].(map[string]any)["phases"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)["faults"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)["kind"].(map[string]any)["enum"].([]any)
	for _, k := range KindNames() {
		if !slices.Contains(enum, any(k)) {
			t.Errorf("schema lacks fault kind %q", k)
		}
	}
}

// TestLibraryMatchesSchema checks every library file structurally against
// schema.json with a small validator (the keywords the schema uses).
func TestLibraryMatchesSchema(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(JSONSchema(), &schema); err != nil {
		t.Fatal(err)
	}
	for _, n := range LibraryNames() {
		src, err := library.ReadFile(path.Join("library", n+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(src, &doc); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		b, _ := json.Marshal(doc)
		var j any
		_ = json.Unmarshal(b, &j)
		if errs := schemaCheck(schema, j, n); len(errs) > 0 {
			t.Errorf("%s does not match schema.json:\n%v", n, errs)
		}
	}
	// And the validator does reject things.
	var bad any
	_ = json.Unmarshal([]byte(`{"name":"x","title":"t","phases":[{"name":"a","at":"0","for":"1m","faults":[{"kind":"nope"}]}],"colour":1}`), &bad)
	if errs := schemaCheck(schema, bad, "bad"); len(errs) != 2 {
		t.Errorf("schema check of a bad document: %v, want 2 errors", errs)
	}
}

func schemaCheck(s map[string]any, v any, at string) []string {
	var errs []string
	if anyOf, ok := s["anyOf"].([]any); ok {
		for _, alt := range anyOf {
			if len(schemaCheck(alt.(map[string]any), v, at)) == 0 {
				return nil
			}
		}
		return []string{at + ": matches no alternative"}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		errs = append(errs, fmt.Sprintf("%s: %v not in enum", at, v))
	}
	if ty, ok := s["type"]; ok {
		var types []string
		switch x := ty.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, y := range x {
				types = append(types, y.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return append(errs, fmt.Sprintf("%s: %s, want %v", at, jsonType(v), types))
		}
	}
	if p, ok := s["pattern"].(string); ok {
		if str, ok := v.(string); ok && !regexp.MustCompile(p).MatchString(str) {
			errs = append(errs, fmt.Sprintf("%s: %q does not match %s", at, str, p))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, val := range x {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, schemaCheck(ps, val, at+"."+k)...)
			} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
				errs = append(errs, schemaCheck(ap, val, at+"."+k)...)
			} else if s["additionalProperties"] == false {
				errs = append(errs, fmt.Sprintf("%s: unknown property %q", at, k))
			}
		}
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := x[r.(string)]; !ok {
					errs = append(errs, fmt.Sprintf("%s: missing %q", at, r))
				}
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, it := range x {
				errs = append(errs, schemaCheck(items, it, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return errs
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}
