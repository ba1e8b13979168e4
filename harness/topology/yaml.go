package topology

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// A user topology file, e.g.:
//
//	name: shop
//	components:
//	  - name: api
//	    image: example/api:1.4
//	    region: us-east-1
//	    labels: {plane: data}
//	    env: {DATABASE_URL: "postgres://app@${edge:db}/app"}
//	    ports: [{name: http, container: 8080}]
//	    ready: {http_path: /healthz}
//	    depends_on: [db]              # NAME or NAME:PORT; or list edges below
//	  - name: db
//	    image: postgres               # symbolic: runtime-provided PostgreSQL
//	    kind: datastore
//	    ports: [{name: postgres, container: 5432}]
//	edges:
//	  - {from: api, to: cache, port: redis}
//
// A component reaches a dependency through that edge's proxy: with
// ${edge:NAME} (host:port), ${edge:NAME.host}, ${edge:NAME.port} or
// ${edge:NAME.url} in its env or command (NAME is the edge or the callee),
// or, in Docker, by the callee's hostname, which the proxy takes as a
// network alias when no placeholder names the edge.

// Limits that keep a hostile or broken file cheap to reject.
const (
	MaxFileSize  = 1 << 20 // bytes
	maxNodeVisit = 200_000 // AST nodes visited, aliases included (alias bombs)
	maxDepth     = 64
)

// LoadError is one problem in a topology file.
type LoadError struct {
	File      string
	Line, Col int
	Path      string
	Msg       string
	Hint      string
}

func (e *LoadError) Error() string {
	s := fmt.Sprintf("%s:%d:%d: ", e.File, e.Line, e.Col)
	if e.Path != "" {
		s += e.Path + ": "
	}
	s += e.Msg
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// LoadErrors is every problem in a file, in file order. Its Error is one
// problem per line.
type LoadErrors []*LoadError

func (es LoadErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the single errors to errors.Is/As.
func (es LoadErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// LoadFile reads and validates a topology file.
func LoadFile(path string) (*Topology, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("topology file: %w", err)
	}
	if st.Size() > MaxFileSize {
		return nil, LoadErrors{{File: path, Line: 1, Col: 1, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", st.Size(), MaxFileSize), Hint: "a topology file is a short list of components and edges"}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology file: %w", err)
	}
	return Load(path, data)
}

// Load parses and validates a topology from data; file names the source in
// errors. Every problem is reported at once as LoadErrors, each with
// file:line:col, the field path and a hint.
func Load(file string, data []byte) (*Topology, error) {
	l := &loader{file: file, pos: map[string]ast.Node{}}
	if len(data) > MaxFileSize {
		l.errAt(1, 1, "", fmt.Sprintf("file is %d bytes; the limit is %d", len(data), MaxFileSize), "")
		return nil, l.errs
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		line, col := 1, 1
		msg := err.Error()
		var ye interface {
			GetMessage() string
			GetToken() *token.Token
		}
		if errors.As(err, &ye) {
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				line, col = tk.Position.Line, tk.Position.Column
			}
			msg = ye.GetMessage()
		}
		l.errAt(line, col, "", "YAML syntax: "+msg, "")
		return nil, l.errs
	}
	var body ast.Node
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if body != nil {
			l.err(d.Body, "", "more than one YAML document", "put one topology per file")
			break
		}
		body = d.Body
	}
	if body == nil {
		l.errAt(1, 1, "", "empty file", "a topology needs name and components")
		return nil, l.errs
	}
	l.collectAnchors(body, 0)
	t := l.topology(body)
	// Semantic checks run even after decoding errors so that every problem
	// shows at once; a path already reported is not reported again.
	reported := map[string]bool{}
	for _, e := range l.errs {
		reported[e.Path] = true
	}
	decodeErrs := len(l.errs) > 0
	if err := t.Validate(); err != nil {
		for _, e := range flatten(err) {
			var fe *FieldError
			if !errors.As(e, &fe) {
				l.errAt(1, 1, "", e.Error(), "")
				continue
			}
			if reported[fe.Path] || decodeErrs && strings.HasSuffix(fe.Path, ": required") {
				continue
			}
			l.err(l.nodeFor(fe.Path), fe.Path, fe.Msg, fe.Hint)
		}
	}
	if len(l.errs) > 0 {
		return nil, l.sorted()
	}
	return t, nil
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

type loader struct {
	file    string
	errs    LoadErrors
	anchors map[string]ast.Node
	visits  int
	bombed  bool
	pos     map[string]ast.Node // field path → node, for semantic errors
	root    ast.Node
}

func (l *loader) sorted() LoadErrors {
	slices.SortStableFunc(l.errs, func(a, b *LoadError) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return l.errs
}

func (l *loader) errAt(line, col int, path, msg, hint string) {
	l.errs = append(l.errs, &LoadError{File: l.file, Line: line, Col: col, Path: path, Msg: msg, Hint: hint})
}

func (l *loader) err(n ast.Node, path, msg, hint string) {
	line, col := 1, 1
	if n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			line, col = tk.Position.Line, tk.Position.Column
		}
	}
	l.errAt(line, col, path, msg, hint)
}

// nodeFor finds the node recorded for path or its nearest recorded parent.
func (l *loader) nodeFor(path string) ast.Node {
	for p := path; p != ""; {
		if n, ok := l.pos[p]; ok {
			return n
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	if n, ok := l.pos[strings.SplitN(path, "[", 2)[0]]; ok {
		return n
	}
	return l.root
}

func (l *loader) collectAnchors(n ast.Node, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	if l.anchors == nil {
		l.anchors = map[string]ast.Node{}
	}
	switch v := n.(type) {
	case *ast.AnchorNode:
		if v.Name != nil {
			l.anchors[v.Name.GetToken().Value] = v.Value
		}
		l.collectAnchors(v.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			l.collectAnchors(mv.Value, depth+1)
		}
	case *ast.MappingValueNode:
		l.collectAnchors(v.Value, depth+1)
	case *ast.SequenceNode:
		for _, e := range v.Values {
			l.collectAnchors(e, depth+1)
		}
	case *ast.TagNode:
		l.collectAnchors(v.Value, depth+1)
	}
}

// resolve follows anchors, aliases and tags, counting visits so an alias
// bomb is stopped early.
func (l *loader) resolve(n ast.Node, path string) ast.Node {
	for range 8 {
		l.visits++
		if l.visits > maxNodeVisit {
			if !l.bombed {
				l.bombed = true
				l.err(n, path, "document expands to too many nodes", "aliases that expand exponentially are refused")
			}
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil {
				name = v.Value.GetToken().Value
			}
			target, ok := l.anchors[name]
			if !ok {
				l.err(n, path, fmt.Sprintf("unknown alias *%s", name), "define the anchor &"+name+" first")
				return nil
			}
			n = target
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
	return n
}

// fields walks a mapping, calling set for each known key and reporting
// unknown and missing keys.
func (l *loader) fields(n ast.Node, path string, known []string, required []string, set func(key string, v ast.Node, p string)) bool {
	n = l.resolve(n, path)
	if n == nil {
		return false
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		if mv, ok2 := n.(*ast.MappingValueNode); ok2 {
			m = &ast.MappingNode{BaseNode: mv.BaseNode, Values: []*ast.MappingValueNode{mv}}
		} else {
			l.err(n, path, "want a mapping (key: value)", "")
			return false
		}
	}
	seen := map[string]bool{}
	for _, mv := range m.Values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			l.err(mv.Key, path, "merge keys (<<) are not supported", "repeat the keys")
			continue
		}
		key := mv.Key.GetToken().Value
		p := join(path, key)
		if !slices.Contains(known, key) {
			l.err(mv.Key, p, fmt.Sprintf("unknown field %q", key), hintFor(key, known))
			continue
		}
		seen[key] = true
		l.pos[p] = mv.Value
		set(key, mv.Value, p)
	}
	for _, r := range required {
		if !seen[r] {
			at := n
			if len(m.Values) > 0 {
				at = m.Values[0].Key // the mapping's first key, not its first ':'
			}
			l.err(at, join(path, r), "required", "")
		}
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// hintFor suggests the closest known key.
func hintFor(key string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= 2 || strings.Contains(best, key) && key != "" {
		return fmt.Sprintf("did you mean %q? known: %s", best, strings.Join(known, ", "))
	}
	return "known: " + strings.Join(known, ", ")
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
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (l *loader) str(n ast.Node, path string) (string, bool) {
	n = l.resolve(n, path)
	switch v := n.(type) {
	case nil:
		return "", false
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value, true
	case *ast.NullNode:
		l.err(n, path, "want a string, got null", "")
	default:
		l.err(n, path, "want a string, got "+kindOf(n), "")
	}
	return "", false
}

func kindOf(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "null"
	}
	return n.Type().String()
}

func (l *loader) integer(n ast.Node, path string) (int, bool) {
	n = l.resolve(n, path)
	if n == nil {
		return 0, false
	}
	if v, ok := n.(*ast.IntegerNode); ok {
		i, err := strconv.Atoi(v.GetToken().Value)
		if err == nil {
			return i, true
		}
	}
	l.err(n, path, "want an integer, got "+strconv.Quote(n.GetToken().Value), "")
	return 0, false
}

func (l *loader) list(n ast.Node, path string, each func(i int, v ast.Node, p string)) {
	n = l.resolve(n, path)
	if n == nil {
		return
	}
	if _, ok := n.(*ast.NullNode); ok {
		return
	}
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		l.err(n, path, "want a list, got "+kindOf(n), "write [a, b] or one '- item' per line")
		return
	}
	for i, v := range s.Values {
		p := fmt.Sprintf("%s[%d]", path, i)
		l.pos[p] = v
		each(i, v, p)
	}
}

func (l *loader) strList(n ast.Node, path string) []string {
	var out []string
	l.list(n, path, func(_ int, v ast.Node, p string) {
		if s, ok := l.str(v, p); ok {
			out = append(out, s)
		}
	})
	return out
}

func (l *loader) strMap(n ast.Node, path string) map[string]string {
	n = l.resolve(n, path)
	if n == nil {
		return nil
	}
	if _, ok := n.(*ast.NullNode); ok {
		return nil
	}
	out := map[string]string{}
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		l.err(n, path, "want a mapping of strings, got "+kindOf(n), "")
		return nil
	}
	for _, mv := range values {
		k := mv.Key.GetToken().Value
		if s, ok := l.str(mv.Value, join(path, k)); ok {
			out[k] = s
		}
	}
	return out
}

func (l *loader) topology(n ast.Node) *Topology {
	l.root = n
	t := &Topology{}
	var deps []pendingDep
	l.fields(n, "", []string{"name", "regions", "components", "edges"}, []string{"name", "components"}, func(k string, v ast.Node, p string) {
		switch k {
		case "name":
			t.Name, _ = l.str(v, p)
		case "regions":
			t.Regions = l.strList(v, p)
		case "components":
			l.list(v, p, func(i int, cv ast.Node, cp string) {
				c, ds := l.component(cv, cp)
				if c != nil {
					t.Components = append(t.Components, c)
					deps = append(deps, ds...)
				}
			})
		case "edges":
			l.list(v, p, func(i int, ev ast.Node, ep string) {
				if e := l.edge(ev, ep); e != nil {
					t.Edges = append(t.Edges, e)
				}
			})
		}
	})
	// depends_on shorthand becomes edges after the explicit ones.
	for _, d := range deps {
		callee := t.Component(d.to)
		port := d.port
		if port == "" && callee != nil && len(callee.Ports) > 0 {
			port = callee.Ports[0].Name
		}
		idx := len(t.Edges)
		l.pos[fmt.Sprintf("edges[%d]", idx)] = d.node
		t.Edges = append(t.Edges, &Edge{Name: EdgeName(d.from, d.to), From: d.from, To: d.to, Port: port})
	}
	for _, e := range t.Edges {
		if callee := t.Component(e.To); e.Port == "" && callee != nil && len(callee.Ports) > 0 {
			e.Port = callee.Ports[0].Name
		}
	}
	if len(t.Regions) == 0 {
		for _, c := range t.Components {
			if c.Region != "" && !slices.Contains(t.Regions, c.Region) {
				t.Regions = append(t.Regions, c.Region)
			}
		}
	}
	return t
}

type pendingDep struct {
	from, to, port string
	node           ast.Node
}

var componentFields = []string{"name", "kind", "region", "labels", "image", "service", "command", "env", "ports", "ready", "databases", "admin_port", "depends_on"}

// DefaultRegion is the region of a user component that names none.
const DefaultRegion = "local"

func (l *loader) component(n ast.Node, path string) (*Component, []pendingDep) {
	c := &Component{Kind: KindUser, Region: DefaultRegion}
	var deps []pendingDep
	var dependsNode ast.Node
	var dependsPath string
	ok := l.fields(n, path, componentFields, []string{"name", "image"}, func(k string, v ast.Node, p string) {
		switch k {
		case "name":
			c.Name, _ = l.str(v, p)
		case "kind":
			s, _ := l.str(v, p)
			c.Kind = Kind(s)
			switch c.Kind {
			case KindService, KindDatastore, KindMonitoring, KindUser:
			default:
				l.err(v, p, fmt.Sprintf("unknown kind %q", s), "want service, datastore, monitoring or user")
				c.Kind = KindUser
			}
		case "region":
			c.Region, _ = l.str(v, p)
		case "labels":
			c.Labels = l.strMap(v, p)
		case "image":
			c.Image, _ = l.str(v, p)
		case "service":
			c.Service, _ = l.str(v, p)
		case "command":
			c.Command = l.strList(v, p)
		case "env":
			c.Env = l.strMap(v, p)
		case "ports":
			l.list(v, p, func(i int, pv ast.Node, pp string) {
				var port Port
				l.fields(pv, pp, []string{"name", "container"}, []string{"name", "container"}, func(k string, v ast.Node, p string) {
					switch k {
					case "name":
						port.Name, _ = l.str(v, p)
					case "container":
						port.Container, _ = l.integer(v, p)
					}
				})
				c.Ports = append(c.Ports, port)
			})
		case "ready":
			l.fields(v, p, []string{"http_path", "port", "log", "timeout"}, nil, func(k string, v ast.Node, p string) {
				switch k {
				case "http_path":
					c.Ready.HTTPPath, _ = l.str(v, p)
					if c.Ready.HTTPPath != "" && !strings.HasPrefix(c.Ready.HTTPPath, "/") {
						l.err(v, p, "must start with /", "e.g. /healthz")
					}
				case "port":
					c.Ready.Port, _ = l.str(v, p)
				case "log":
					c.Ready.Log, _ = l.str(v, p)
				case "timeout":
					s, ok := l.str(v, p)
					if !ok {
						return
					}
					d, err := time.ParseDuration(s)
					if err != nil || d <= 0 {
						l.err(v, p, fmt.Sprintf("bad duration %q", s), "write e.g. 30s or 2m")
						return
					}
					c.Ready.Timeout = d
				}
			})
		case "databases":
			c.Databases = l.strList(v, p)
		case "admin_port":
			c.AdminPort, _ = l.str(v, p)
		case "depends_on":
			dependsNode, dependsPath = v, p
		}
	})
	if !ok {
		return nil, nil
	}
	if dependsNode != nil {
		l.list(dependsNode, dependsPath, func(i int, dv ast.Node, dp string) {
			s, ok := l.str(dv, dp)
			if !ok {
				return
			}
			to, port, _ := strings.Cut(s, ":")
			deps = append(deps, pendingDep{from: c.Name, to: to, port: port, node: dv})
		})
	}
	return c, deps
}

func (l *loader) edge(n ast.Node, path string) *Edge {
	e := &Edge{}
	ok := l.fields(n, path, []string{"name", "from", "to", "port", "dep_name", "url"}, []string{"from", "to"}, func(k string, v ast.Node, p string) {
		switch k {
		case "name":
			e.Name, _ = l.str(v, p)
		case "from":
			e.From, _ = l.str(v, p)
		case "to":
			e.To, _ = l.str(v, p)
		case "port":
			e.Port, _ = l.str(v, p)
		case "dep_name":
			e.DepName, _ = l.str(v, p)
		case "url":
			e.URL, _ = l.str(v, p)
		}
	})
	if !ok {
		return nil
	}
	if e.Name == "" {
		e.Name = EdgeName(e.From, e.To)
	}
	return e
}
