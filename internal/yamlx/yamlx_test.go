package yamlx

import (
	"errors"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
)

func TestErrorFormat(t *testing.T) {
	for _, c := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f.yaml", Pos: Pos{3, 7}, Path: "a.b", Msg: "bad", Hint: "fix it"}, "f.yaml:3:7: a.b: bad (fix it)"},
		{Error{File: "f.yaml", Pos: Pos{1, 1}, Msg: "bad"}, "f.yaml:1:1: bad"},
		{Error{File: "f.yaml", Msg: "too big", Hint: "split it"}, "f.yaml: too big (split it)"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

func TestCollectorOrderAndBound(t *testing.T) {
	c := &Collector{File: "f", Max: 3}
	if c.Err() != nil {
		t.Fatal("empty collector has an error")
	}
	c.Add(Pos{5, 1}, "e", "five", "")
	c.Addf(Pos{2, 9}, "b", "h", "two %d", 2)
	c.Add(Pos{2, 3}, "a", "two-three", "")
	c.Add(Pos{9, 9}, "x", "dropped", "")
	c.Add(Pos{9, 9}, "x", "dropped too", "")
	if n := len(c.List()); n != 4 {
		t.Fatalf("%d errors kept, want 3 and the stop note:\n%v", n, c.List())
	}
	err := c.Err()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Err() is %T", err)
	}
	want := "f:2:3: a: two-three\nf:2:9: b: two 2 (h)\nf:5:1: e: five\nf:9:9: too many errors; stopping"
	if err.Error() != want {
		t.Errorf("Err() =\n%s\nwant\n%s", err, want)
	}
	var one *Error
	if !errors.As(err, &one) || one.Path != "a" {
		t.Errorf("errors.As(*Error) = %v", one)
	}
}

func TestParseLimits(t *testing.T) {
	if _, pr := Parse([]byte("a: 1\n"), 3); pr == nil || pr.Kind != TooLarge || !strings.Contains(pr.Msg, "the limit is 3") {
		t.Errorf("too large: %+v", pr)
	}
	deep := "a: " + strings.Repeat("[", MaxDepth+1) + "\n"
	if _, pr := Parse([]byte(deep), 1<<20); pr == nil || pr.Kind != TooDeep || pr.Pos != (Pos{1, 4 + MaxDepth}) {
		t.Errorf("too deep: %+v", pr)
	}
	// Brackets in quotes and comments do not count.
	if _, pr := Parse([]byte("a: \"[[[[\" # {{{{\nb: '{{{{'\n"), 1<<20); pr != nil {
		t.Errorf("quoted brackets: %+v", pr)
	}
	if _, pr := Parse([]byte("a: [1, 2\nb: 3\n"), 1<<20); pr == nil || pr.Kind != Syntax || pr.Pos.Line == 0 {
		t.Errorf("syntax: %+v", pr)
	}
	docs, pr := Parse([]byte("a: 1\n---\nb: 2\n"), 1<<20)
	if pr != nil || len(docs) != 2 {
		t.Errorf("two documents: %d, %+v", len(docs), pr)
	}
	if docs, pr := Parse(nil, 1<<20); pr != nil || len(docs) != 0 {
		t.Errorf("empty: %d, %+v", len(docs), pr)
	}
}

func parseOne(t *testing.T, src string) ast.Node {
	t.Helper()
	docs, pr := Parse([]byte(src), 1<<20)
	if pr != nil || len(docs) != 1 {
		t.Fatalf("parse: %d docs, %+v", len(docs), pr)
	}
	return docs[0]
}

func TestResolveAliasesAndTags(t *testing.T) {
	root := parseOne(t, "base: &b {x: 1}\nuse: *b\ntagged: !!str 7\nanchored: &t !!str y\nref: *t\nbad: *nope\n")
	c := &Collector{File: "f"}
	r := NewResolver(c, 1000)
	r.CollectAnchors(root)
	vals, _ := MappingValues(root)
	got := map[string]ast.Node{}
	for _, mv := range vals {
		got[mv.Key.GetToken().Value] = r.Resolve(mv.Value, mv.Key.GetToken().Value)
	}
	if _, ok := got["use"].(*ast.MappingNode); !ok {
		t.Errorf("use resolved to %T, want the anchored mapping", got["use"])
	}
	if s, ok := got["ref"].(*ast.StringNode); !ok || s.Value != "y" {
		t.Errorf("ref resolved to %#v, want the tagged string behind the anchor", got["ref"])
	}
	if n := got["tagged"]; n == nil || n.Type() == ast.TagType || n.GetToken().Value != "7" {
		t.Errorf("tagged resolved to %#v, want the node under the tag", n)
	}
	if got["bad"] != nil {
		t.Errorf("unknown alias resolved to %v", got["bad"])
	}
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "f:6:6: bad: unknown alias *nope (define the anchor &nope first)") {
		t.Errorf("errors = %v", err)
	}
	if r.Exhausted() {
		t.Error("budget spent on a small file")
	}
}

func TestResolveBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		prev := string(rune('0' + i - 1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat("*a"+prev+", ", 9) + "*a" + prev + "]\n")
	}
	root := parseOne(t, b.String())
	c := &Collector{File: "bomb"}
	r := NewResolver(c, 500)
	r.CollectAnchors(root)
	// Walk everything the way a loader does: resolve, then descend.
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		n = r.Resolve(n, "x")
		switch v := n.(type) {
		case *ast.SequenceNode:
			for _, x := range v.Values {
				walk(x)
			}
		case *ast.MappingNode:
			for _, mv := range v.Values {
				walk(mv.Value)
			}
		}
	}
	walk(root)
	if !r.Exhausted() {
		t.Fatal("alias bomb walked to the end")
	}
	if n := len(c.List()); n != 1 || !strings.Contains(c.List()[0].Msg, "expands to more than 500 nodes") {
		t.Errorf("want one budget error, got %v", c.List())
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"image", "name", "ports", "depends_on"}
	for _, c := range []struct{ got, want string }{
		{"imgae", `did you mean "image"?`},
		{"depends", `did you mean "depends_on"?`}, // contained
		{"zzzzzz", "one of: image, name, ports, depends_on"},
	} {
		if s := Suggest(c.got, known); s != c.want {
			t.Errorf("Suggest(%q) = %q, want %q", c.got, s, c.want)
		}
	}
	many := strings.Split("a1 b2 c3 d4 e5 f6 g7 h8 i9 j10 k11 l12 m13", " ")
	if s := Suggest("zzzzzz", many); !strings.HasSuffix(s, "l12, ...") {
		t.Errorf("long list = %q", s)
	}
	if _, ok := Closest("x", nil); ok {
		t.Error("Closest with no candidates is ok")
	}
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "abc", 3}, {"kitten", "sitting", 3}, {"same", "same", 0}, {strings.Repeat("a", 65), "a", 1 << 20}} {
		if d := EditDistance(c.a, c.b); d != c.d {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}

func TestKindOfAndPaths(t *testing.T) {
	root := parseOne(t, "m: {a: 1}\nl: [1]\ns: x\ni: 3\nf: 1.5\nb: true\nn: null\n")
	vals, _ := MappingValues(root)
	want := []string{"a mapping", "a list", "a string", "an integer", "a number", "a boolean", "null"}
	for i, mv := range vals {
		if k := KindOf(mv.Value); k != want[i] {
			t.Errorf("KindOf(%s) = %q, want %q", mv.Key, k, want[i])
		}
	}
	if KindOf(nil) != "null" {
		t.Error("KindOf(nil)")
	}
	if PosOf(nil) != (Pos{}) || PosOf(vals[1].Value) != (Pos{2, 4}) {
		t.Errorf("PosOf = %v", PosOf(vals[1].Value))
	}
	if p := Index(Join(Join("", "a"), "b"), 2); p != "a.b[2]" {
		t.Errorf("path = %q", p)
	}
	if _, ok := MappingValues(vals[1].Value); ok {
		t.Error("a list is a mapping")
	}
}

// FuzzParseResolve: Parse never panics, and resolving every node of what
// it accepts stays within the budget and records errors with positions.
func FuzzParseResolve(f *testing.F) {
	f.Add([]byte("a: &a [1, *a]\n"))
	f.Add([]byte("a: &a {b: *a}\nc: !!str *a\n"))
	f.Add([]byte("[[[[{\"x\": 'y'}]]]]"))
	f.Add([]byte("a: *b\n---\nc: d\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		docs, pr := Parse(src, 64<<10)
		if pr != nil {
			if pr.Kind < TooLarge || pr.Kind > Syntax || pr.Msg == "" {
				t.Fatalf("bad problem %+v", pr)
			}
			return
		}
		c := &Collector{File: "fuzz", Max: 50}
		const budget = 2000
		r := NewResolver(c, budget)
		steps := 0
		var walk func(n ast.Node, depth int)
		walk = func(n ast.Node, depth int) {
			steps++
			if depth > MaxDepth+8 || steps > 4*budget {
				return
			}
			n = r.Resolve(n, "p")
			switch v := n.(type) {
			case *ast.SequenceNode:
				for _, x := range v.Values {
					walk(x, depth+1)
				}
			case *ast.MappingNode, *ast.MappingValueNode:
				vals, _ := MappingValues(v)
				for _, mv := range vals {
					walk(mv.Value, depth+1)
				}
			}
		}
		for _, d := range docs {
			r.CollectAnchors(d)
			walk(d, 0)
		}
		if r.visits > budget+1 {
			t.Fatalf("%d visits over a budget of %d", r.visits, budget)
		}
		for _, e := range c.List() {
			if e.File != "fuzz" || e.Msg == "" {
				t.Fatalf("bad error %+v", e)
			}
		}
	})
}
