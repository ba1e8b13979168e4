// Package yamlx is the goccy/go-yaml AST machinery shared by the loaders of
// hand-written files (topologies, scenarios): parsing within size and
// nesting limits, bounded anchor/alias/tag resolution that stops alias
// bombs, positioned errors in the `file:line:col: path: message (hint)`
// form, and "did you mean" suggestions.
//
// The loaders walk the AST themselves so that decoding goes on after a
// problem and every problem is reported at once with its position; strict
// decoding in goccy/go-yaml stops at the first.
package yamlx

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxDepth bounds [ { nesting (checked before the parser sees the bytes)
// and the depth at which anchors are collected.
const MaxDepth = 64

// Pos is a position in a file (1-based line and column; zero: no position).
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// PosOf is n's position, or the zero Pos when it has none.
func PosOf(n ast.Node) Pos {
	if n == nil {
		return Pos{}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{}
	}
	return Pos{Line: tk.Position.Line, Col: tk.Position.Column}
}

// Error is one problem in a file. It prints as
// `file:line:col: field.path: message (hint)`, the form editors and CI
// annotations understand; the position is left out when unknown.
type Error struct {
	File string
	Pos  Pos
	Path string // field path, e.g. phases[1].faults[0].kind
	Msg  string
	Hint string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Col)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every problem in one file. Its Error is one problem per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the single errors to errors.Is/As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Sort puts es in file order; problems at one position keep their order.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Pos.Line != es[j].Pos.Line {
			return es[i].Pos.Line < es[j].Pos.Line
		}
		return es[i].Pos.Col < es[j].Pos.Col
	})
}

// Collector gathers the problems of one file.
type Collector struct {
	File string
	// Max bounds the list (a garbage file must not produce megabytes of
	// output): past it one "too many errors; stopping" is added. 0: no bound.
	Max  int
	list Errors
}

// Add records a problem at p.
func (c *Collector) Add(p Pos, path, msg, hint string) {
	if c.Max > 0 && len(c.list) >= c.Max {
		if len(c.list) == c.Max {
			c.list = append(c.list, &Error{File: c.File, Pos: p, Msg: "too many errors; stopping"})
		}
		return
	}
	c.list = append(c.list, &Error{File: c.File, Pos: p, Path: path, Msg: msg, Hint: hint})
}

// Addf records a problem at p with a formatted message.
func (c *Collector) Addf(p Pos, path, hint, format string, a ...any) {
	c.Add(p, path, fmt.Sprintf(format, a...), hint)
}

// List is the problems so far, in the order they were added.
func (c *Collector) List() Errors { return c.list }

// Err is the problems in file order as Errors, or nil when there are none.
func (c *Collector) Err() error {
	if len(c.list) == 0 {
		return nil
	}
	c.list.Sort()
	return c.list
}

// ProblemKind says why Parse refused a file.
type ProblemKind int

// The reasons Parse refuses a file.
const (
	TooLarge ProblemKind = iota + 1 // more than maxBytes
	TooDeep                         // [ { nesting deeper than MaxDepth
	Syntax                          // not YAML
)

// Problem is why Parse refused a file; the caller adds file, path and hint.
type Problem struct {
	Kind ProblemKind
	Pos  Pos // zero for TooLarge
	Msg  string
}

// Parse checks src against maxBytes and MaxDepth and parses it, returning
// the bodies of its non-empty documents. The nesting check runs first
// because the parser's cost grows steeply with nesting.
func Parse(src []byte, maxBytes int, opts ...parser.Option) ([]ast.Node, *Problem) {
	if len(src) > maxBytes {
		return nil, &Problem{Kind: TooLarge, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", len(src), maxBytes)}
	}
	if p, depth := FlowDepth(src); depth > MaxDepth {
		return nil, &Problem{Kind: TooDeep, Pos: p, Msg: fmt.Sprintf("nesting deeper than %d levels", MaxDepth)}
	}
	f, err := parser.ParseBytes(src, 0, opts...)
	if err != nil {
		pr := &Problem{Kind: Syntax, Msg: err.Error()}
		var ye interface {
			GetMessage() string
			GetToken() *token.Token
		}
		if errors.As(err, &ye) {
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				pr.Pos = Pos{Line: tk.Position.Line, Col: tk.Position.Column}
			}
			pr.Msg = ye.GetMessage()
		}
		return nil, pr
	}
	var bodies []ast.Node
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			bodies = append(bodies, d.Body)
		}
	}
	return bodies, nil
}

// FlowDepth returns the deepest [ { nesting outside quotes and comments and
// where it is.
func FlowDepth(src []byte) (Pos, int) {
	depth, worst := 0, 0
	line, col := 1, 0
	var at Pos
	var quote byte
	comment := false
	for _, c := range src {
		col++
		if c == '\n' {
			line, col, comment = line+1, 0, false
			continue
		}
		switch {
		case comment:
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			comment = true
		case c == '[' || c == '{':
			depth++
			if depth > worst {
				worst, at = depth, Pos{line, col}
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return at, worst
}

// Join appends a mapping key to a field path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index appends a list index to a field path.
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// MappingValues returns the entries of a mapping node (a lone key: value
// is a mapping of one), or false when n is not a mapping.
func MappingValues(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch v := n.(type) {
	case *ast.MappingNode:
		return v.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}, true
	}
	return nil, false
}

// KindOf names n's kind for messages: "a mapping", "a list", "an integer", …
func KindOf(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.NullNode, nil:
		return "null"
	}
	return "a " + n.Type().String()
}
