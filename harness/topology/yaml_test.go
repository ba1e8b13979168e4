package topology

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoadFileGood(t *testing.T) {
	src := strings.Replace(mustRead(t, "testdata/shop.yaml"), "edges:\n  - {from: worker, to: db}\n  - &w\n    from: api\n    to: worker\n    url: \"http://{host}:{port}\"\n", "", 1)
	topo, err := Load("shop.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Components) != 3 || len(topo.Edges) != 2 {
		t.Fatalf("components %d edges %d", len(topo.Components), len(topo.Edges))
	}
	e := topo.Edge("api__cache")
	if e == nil || e.Port != "redis" {
		t.Errorf("api__cache = %+v", e)
	}
	if e := topo.Edge("api__db"); e == nil || e.Port != "postgres" {
		t.Errorf("api__db = %+v (port defaults to the callee's first port)", e)
	}
	api := topo.Component("api")
	if api.Kind != KindUser || api.Ready.Timeout != 30*time.Second || api.Labels["plane"] != "data" {
		t.Errorf("api = %+v", api)
	}
	if topo.Component("db").Region != DefaultRegion {
		t.Errorf("default region = %q", topo.Component("db").Region)
	}
	if waves, _ := topo.Order(); len(waves) != 2 {
		t.Errorf("waves = %v", waves)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLoadEveryError: one file with many problems reports all of them, each
// with file:line:col and the field path.
func TestLoadEveryError(t *testing.T) {
	src := `name: bad
components:
  - name: api
    image: a
    imgae: typo
    ports: [{name: http, container: eighty}]
    ready: {http_path: healthz, timeout: soon}
  - name: api
    image: b
    kind: robot
  - image: c
edges:
  - {from: api, to: nowhere, port: http}
  - {from: api}
`
	_, err := Load("bad.yaml", []byte(src))
	var les LoadErrors
	if !errors.As(err, &les) {
		t.Fatalf("err = %v (%T)", err, err)
	}
	want := []string{
		`bad.yaml:5:5: components[0].imgae: unknown field "imgae" (did you mean "image"?`,
		`bad.yaml:6:37: components[0].ports[0].container: want an integer, got "eighty"`,
		`bad.yaml:7:24: components[0].ready.http_path: must start with /`,
		`bad.yaml:7:42: components[0].ready.timeout: bad duration "soon"`,
		`bad.yaml:10:11: components[1].kind: unknown kind "robot"`,
		`bad.yaml:11:5: components[2].name: required`,
		`bad.yaml:8:11: components[1].name: duplicate component name "api" (also components[0])`,
		`bad.yaml:13:21: edges[0].to: unknown component "nowhere"`,
		`bad.yaml:14:6: edges[1].to: required`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing\n  %s\nin\n%s", w, got)
		}
	}
	if len(les) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(les), len(want), got)
	}
}

// TestLoadSemanticErrors: errors found by Validate after decoding are mapped
// back to the YAML position.
func TestLoadSemanticErrors(t *testing.T) {
	_, err := Load("shop.yaml", []byte(mustRead(t, "testdata/shop.yaml")))
	if err == nil {
		t.Fatal("no error")
	}
	got := err.Error()
	for _, w := range []string{
		`shop.yaml:25:12: edges[0].from: unknown component "worker"`,
		`shop.yaml:28:9: edges[1].to: unknown component "worker"`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing\n  %s\nin\n%s", w, got)
		}
	}
}

func TestLoadCycleAndPlaceholder(t *testing.T) {
	src := `name: c
components:
  - {name: a, image: x, ports: [{name: p, container: 1}], depends_on: [b], env: {X: "${edge:zz}"}}
  - {name: b, image: x, ports: [{name: p, container: 1}], depends_on: [a]}
`
	_, err := Load("c.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"dependency cycle a → b → a", `c.yaml:3:`, `components[0].env.X: ${edge:zz}`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%v", w, err)
		}
	}
}

func TestLoadSyntaxAndLimits(t *testing.T) {
	cases := map[string]string{
		"syntax":    "name: [unclosed\n",
		"empty":     "",
		"not a map": "- a\n- b\n",
		"two docs":  "name: a\ncomponents: []\n---\nname: b\n",
		"alias":     "name: *nope\ncomponents: []\n",
		"merge":     "base: &b {image: x}\nname: a\ncomponents:\n  - <<: *b\n    name: c\n",
	}
	for name, src := range cases {
		_, err := Load("f.yaml", []byte(src))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "f.yaml:") {
			t.Errorf("%s: error without position: %v", name, err)
		}
	}
	big := make([]byte, MaxFileSize+1)
	if _, err := Load("big.yaml", big); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("huge file: %v", err)
	}
}

// TestLoadAliasBomb: a billion-laughs document is refused quickly.
func TestLoadAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(" [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a")
			b.WriteString(string(rune('0' + i - 1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("name: bomb\ncomponents:\n  - name: x\n    image: x\n    command: *a9\n")
	start := time.Now()
	_, err := Load("bomb.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("alias bomb accepted")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("alias bomb took %v", d)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte("name: a\ncomponents:\n  - {name: a, image: x, ports: [{name: p, container: 1}]}\n"))
	f.Add([]byte("name: *x\n"))
	f.Add([]byte("a: &a [1, *a]\n"))
	if b, err := os.ReadFile("testdata/shop.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := Load("fuzz.yaml", data)
		if err == nil {
			if verr := topo.Validate(); verr != nil {
				t.Fatalf("Load accepted a topology Validate rejects: %v", verr)
			}
			return
		}
		var les LoadErrors
		if !errors.As(err, &les) {
			t.Fatalf("error of type %T: %v", err, err)
		}
	})
}
