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

	"github.com/outagelab/outagelab/internal/yamlx"
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
)

// LoadError is one problem in a topology file; it prints as
// `file:line:col: field.path: message (hint)`.
type LoadError = yamlx.Error

// LoadErrors is every problem in a file, in file order. Its Error is one
// problem per line; Unwrap exposes the single errors to errors.Is/As.
type LoadErrors = yamlx.Errors

// LoadFile reads and validates a topology file.
func LoadFile(path string) (*Topology, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("topology file: %w", err)
	}
	if st.Size() > MaxFileSize {
		return nil, LoadErrors{{File: path, Pos: yamlx.Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", st.Size(), MaxFileSize), Hint: "a topology file is a short list of components and edges"}}
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
	l := &loader{errs: &yamlx.Collector{File: file}, pos: map[string]ast.Node{}}
	l.r = yamlx.NewResolver(l.errs, maxNodeVisit)
	docs, pr := yamlx.Parse(data, MaxFileSize)
	if pr != nil {
		at, msg := pr.Pos, pr.Msg
		if pr.Kind == yamlx.Syntax {
			msg = "YAML syntax: " + msg
		}
		if at.Line == 0 {
			at = yamlx.Pos{Line: 1, Col: 1}
		}
		l.errs.Add(at, "", msg, "")
		return nil, l.errs.List()
	}
	if len(docs) == 0 {
		l.errs.Add(yamlx.Pos{Line: 1, Col: 1}, "", "empty file", "a topology needs name and components")
		return nil, l.errs.List()
	}
	if len(docs) > 1 {
		l.err(docs[1], "", "more than one YAML document", "put one topology per file")
	}
	body := docs[0]
	l.r.CollectAnchors(body)
	t := l.topology(body)
	// Semantic checks run even after decoding errors so that every problem
	// shows at once; a path already reported is not reported again.
	reported := map[string]bool{}
	for _, e := range l.errs.List() {
		reported[e.Path] = true
	}
	decodeErrs := len(l.errs.List()) > 0
	if err := t.Validate(); err != nil {
		for _, e := range flatten(err) {
			var fe *FieldError
			if !errors.As(e, &fe) {
				l.errs.Add(yamlx.Pos{Line: 1, Col: 1}, "", e.Error(), "")
				continue
			}
			if reported[fe.Path] || decodeErrs && strings.HasSuffix(fe.Path, ": required") {
				continue
			}
			l.err(l.nodeFor(fe.Path), fe.Path, fe.Msg, fe.Hint)
		}
	}
	if err := l.errs.Err(); err != nil {
		return nil, err
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
	errs *yamlx.Collector
	r    *yamlx.Resolver
	pos  map[string]ast.Node // field path → node, for semantic errors
	root ast.Node
}

// err records a problem at n (1:1 when n has no position).
func (l *loader) err(n ast.Node, path, msg, hint string) {
	at := yamlx.PosOf(n)
	if at.Line == 0 {
		at = yamlx.Pos{Line: 1, Col: 1}
	}
	l.errs.Add(at, path, msg, hint)
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

// resolve follows anchors, aliases and tags within the file's budget.
func (l *loader) resolve(n ast.Node, path string) ast.Node { return l.r.Resolve(n, path) }

// fields walks a mapping, calling set for each known key and reporting
// unknown and missing keys.
func (l *loader) fields(n ast.Node, path string, known []string, required []string, set func(key string, v ast.Node, p string)) bool {
	n = l.resolve(n, path)
	if n == nil {
		return false
	}
	values, ok := yamlx.MappingValues(n)
	if !ok {
		l.err(n, path, "want a mapping (key: value)", "")
		return false
	}
	seen := map[string]bool{}
	for _, mv := range values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			l.err(mv.Key, path, "merge keys (<<) are not supported", "repeat the keys")
			continue
		}
		key := mv.Key.GetToken().Value
		p := yamlx.Join(path, key)
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
			if len(values) > 0 {
				at = values[0].Key // the mapping's first key, not its first ':'
			}
			l.err(at, yamlx.Join(path, r), "required", "")
		}
	}
	return true
}

// hintFor suggests the closest known key and lists them all.
func hintFor(key string, known []string) string {
	if best, ok := yamlx.Closest(key, known); ok {
		return fmt.Sprintf("did you mean %q? known: %s", best, strings.Join(known, ", "))
	}
	return "known: " + strings.Join(known, ", ")
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
		l.err(n, path, "want a string, got "+yamlx.KindOf(n), "")
	}
	return "", false
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
		l.err(n, path, "want a list, got "+yamlx.KindOf(n), "write [a, b] or one '- item' per line")
		return
	}
	for i, v := range s.Values {
		p := yamlx.Index(path, i)
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
	values, ok := yamlx.MappingValues(n)
	if !ok {
		l.err(n, path, "want a mapping of strings, got "+yamlx.KindOf(n), "")
		return nil
	}
	out := map[string]string{}
	for _, mv := range values {
		k := mv.Key.GetToken().Value
		if s, ok := l.str(mv.Value, yamlx.Join(path, k)); ok {
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
