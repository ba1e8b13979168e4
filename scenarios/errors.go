package scenarios

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a scenario file (1-based line and column).
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// Error is one problem found in a scenario file.
//
// It prints as `file:line:col: field.path: message (hint)`, the form editors
// and CI annotations understand.
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

// Errors is every problem found in one file, in file order. Load returns all
// of them at once so that a user fixes a file in one pass.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Pos.Line != es[j].Pos.Line {
			return es[i].Pos.Line < es[j].Pos.Line
		}
		return es[i].Pos.Col < es[j].Pos.Col
	})
}

// errs collects problems for one file.
type errs struct {
	file string
	list Errors
	max  int
}

// maxErrors bounds the error list: a garbage file must not produce megabytes of output.
const maxErrors = 200

func (c *errs) add(p Pos, path, hint, format string, a ...any) {
	if len(c.list) >= maxErrors {
		if len(c.list) == maxErrors {
			c.list = append(c.list, &Error{File: c.file, Pos: p, Msg: "too many errors; stopping"})
		}
		return
	}
	c.list = append(c.list, &Error{File: c.file, Pos: p, Path: path, Msg: fmt.Sprintf(format, a...), Hint: hint})
}

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	c.list.sort()
	return c.list
}

// suggest returns `did you mean "x"?` for the closest candidate, or lists them.
func suggest(got string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := editDistance(got, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" && bestD <= max(2, len(got)/3) {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if len(candidates) > 12 {
		return "one of: " + strings.Join(candidates[:12], ", ") + ", ..."
	}
	return "one of: " + strings.Join(candidates, ", ")
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
