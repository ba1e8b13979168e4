package scenarios

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/outagelab/outagelab/internal/yamlx"
)

// Limits that keep the loader cheap on hostile input.
const (
	// MaxFileSize is the largest scenario file accepted (1 MiB; the library's largest is ~10 KiB).
	MaxFileSize = 1 << 20
	// maxNodes bounds how many YAML nodes one file may expand to, aliases
	// included (a "billion laughs" file stops here).
	maxNodes = 50_000
)

// decoder walks goccy/go-yaml's AST so that every problem is reported with
// its position, and decoding goes on after one: strict decoding in
// goccy/go-yaml stops at the first error.
type decoder struct {
	e *errs
	r *yamlx.Resolver
}

func newDecoder(e *errs) *decoder {
	return &decoder{e: e, r: yamlx.NewResolver(e, maxNodes)}
}

var (
	posOf  = yamlx.PosOf
	kindOf = yamlx.KindOf
	join   = yamlx.Join
)

// parse turns bytes into the document's root node, or records why it cannot.
func (d *decoder) parse(src []byte) ast.Node {
	docs, pr := yamlx.Parse(src, MaxFileSize, parser.AllowDuplicateMapKey())
	if pr != nil {
		hint := ""
		switch pr.Kind {
		case yamlx.TooLarge:
			hint = "split it or remove data"
		case yamlx.Syntax:
			hint = "fix the YAML syntax first"
		}
		d.e.Add(pr.Pos, "", pr.Msg, hint)
		return nil
	}
	if len(docs) == 0 {
		d.e.Add(Pos{Line: 1, Col: 1}, "", "empty scenario file", "start from a library scenario: `outagelab list`")
		return nil
	}
	if len(docs) > 1 {
		d.e.Addf(posOf(docs[1]), "", "one scenario per file", "file holds %d YAML documents", len(docs))
	}
	d.r.CollectAnchors(docs[0])
	return docs[0]
}

// resolve follows anchors, aliases and tags to the node that holds the value.
// It returns nil (and records why) when the budget is spent or an alias is unknown.
func (d *decoder) resolve(n ast.Node, path string) ast.Node { return d.r.Resolve(n, path) }

type keyValue struct {
	key    string
	keyPos Pos
	value  ast.Node
}

// mapping returns n's entries; duplicate and merge keys are errors.
func (d *decoder) mapping(n ast.Node, path string) ([]keyValue, bool) {
	n = d.resolve(n, path)
	if n == nil {
		return nil, false
	}
	values, ok := yamlx.MappingValues(n)
	if !ok {
		d.e.Addf(posOf(n), path, "", "expected a mapping, got %s", kindOf(n))
		return nil, false
	}
	seen := map[string]Pos{}
	out := make([]keyValue, 0, len(values))
	for _, mv := range values {
		if mv == nil || mv.Key == nil {
			continue
		}
		kp := posOf(mv.Key)
		if mv.Key.IsMergeKey() {
			d.e.Addf(kp, path, "write the keys out", "merge keys (<<) are not supported")
			continue
		}
		kn := d.resolve(mv.Key, path)
		key := ""
		if kn != nil && kn.GetToken() != nil {
			key = kn.GetToken().Value
		}
		if prev, dup := seen[key]; dup {
			d.e.Addf(kp, join(path, key), fmt.Sprintf("first defined at %d:%d", prev.Line, prev.Col), "duplicate key %q", key)
			continue
		}
		seen[key] = kp
		out = append(out, keyValue{key: key, keyPos: kp, value: mv.Value})
	}
	return out, true
}

// fields decodes a mapping whose keys are known: unknown keys are errors with
// a suggestion; required keys that are missing are errors at the mapping.
func (d *decoder) fields(n ast.Node, path string, required []string, spec map[string]func(v ast.Node, p string)) bool {
	kvs, ok := d.mapping(n, path)
	if !ok {
		return false
	}
	known := make([]string, 0, len(spec))
	for k := range spec {
		known = append(known, k)
	}
	sort.Strings(known)
	have := map[string]bool{}
	for _, kv := range kvs {
		have[kv.key] = true
		f, ok := spec[kv.key]
		if !ok {
			d.e.Addf(kv.keyPos, join(path, kv.key), yamlx.Suggest(kv.key, known), "unknown field %q", kv.key)
			continue
		}
		f(kv.value, join(path, kv.key))
	}
	at := posOf(n)
	if len(kvs) > 0 {
		at = kvs[0].keyPos
	}
	for _, r := range required {
		if !have[r] {
			d.e.Addf(at, path, "", "missing required field %q", r)
		}
	}
	return true
}

func (d *decoder) seq(n ast.Node, path string, each func(i int, v ast.Node, p string)) bool {
	n = d.resolve(n, path)
	if n == nil {
		return false
	}
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		d.e.Addf(posOf(n), path, "", "expected a list, got %s", kindOf(n))
		return false
	}
	for i, v := range s.Values {
		each(i, v, yamlx.Index(path, i))
	}
	return true
}

func (d *decoder) str(n ast.Node, path string) (string, bool) {
	n = d.resolve(n, path)
	if n == nil {
		return "", false
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value != nil {
			return v.Value.Value, true
		}
		return "", true
	}
	d.e.Addf(posOf(n), path, "quote it if it is meant as text", "expected a string, got %s", kindOf(n))
	return "", false
}

// scalarText accepts any scalar as text (dates, names that look like numbers).
func (d *decoder) scalarText(n ast.Node, path string) (string, bool) {
	n = d.resolve(n, path)
	if n == nil {
		return "", false
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value, true
	}
	d.e.Addf(posOf(n), path, "", "expected a string, got %s", kindOf(n))
	return "", false
}

func (d *decoder) number(n ast.Node, path string) (float64, bool) {
	n = d.resolve(n, path)
	if n == nil {
		return 0, false
	}
	switch v := n.(type) {
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return float64(x), true
		case uint64:
			return float64(x), true
		}
	case *ast.FloatNode:
		return v.Value, true
	}
	d.e.Addf(posOf(n), path, "", "expected a number, got %s", kindOf(n))
	return 0, false
}

func (d *decoder) integer(n ast.Node, path string) (int64, bool) {
	n = d.resolve(n, path)
	if n == nil {
		return 0, false
	}
	if v, ok := n.(*ast.IntegerNode); ok {
		switch x := v.Value.(type) {
		case int64:
			return x, true
		case uint64:
			if x <= math.MaxInt64 {
				return int64(x), true
			}
		}
		d.e.Addf(posOf(n), path, "", "integer out of range")
		return 0, false
	}
	d.e.Addf(posOf(n), path, "", "expected an integer, got %s", kindOf(n))
	return 0, false
}

func (d *decoder) boolean(n ast.Node, path string) (bool, bool) {
	n = d.resolve(n, path)
	if n == nil {
		return false, false
	}
	if v, ok := n.(*ast.BoolNode); ok {
		return v.Value, true
	}
	d.e.Addf(posOf(n), path, "write true or false", "expected a boolean, got %s", kindOf(n))
	return false, false
}

// duration accepts "1h58m", "500ms", "3d", and the integer 0.
func (d *decoder) duration(n ast.Node, path string) (time.Duration, bool) {
	n = d.resolve(n, path)
	if n == nil {
		return 0, false
	}
	if v, ok := n.(*ast.IntegerNode); ok && v.GetToken().Value == "0" {
		return 0, true
	}
	s, ok := n.(*ast.StringNode)
	if !ok {
		d.e.Addf(posOf(n), path, `write a duration with a unit, e.g. "90s", "1h58m"`, "expected a duration, got %s", kindOf(n))
		return 0, false
	}
	v, err := ParseDuration(s.Value)
	if err != nil {
		d.e.Addf(posOf(n), path, `units: ms, s, m, h, d; e.g. "1h58m"`, "bad duration %q", s.Value)
		return 0, false
	}
	if v < 0 {
		d.e.Addf(posOf(n), path, "", "negative duration %q", s.Value)
		return 0, false
	}
	return v, true
}

// strOrList accepts "x" or [x, y].
func (d *decoder) strOrList(n ast.Node, path string) []string {
	r := d.resolve(n, path)
	if _, ok := r.(*ast.SequenceNode); ok {
		var out []string
		d.seq(r, path, func(_ int, v ast.Node, p string) {
			if s, ok := d.str(v, p); ok {
				out = append(out, s)
			}
		})
		return out
	}
	if s, ok := d.str(r, path); ok {
		return []string{s}
	}
	return nil
}

func (d *decoder) strMap(n ast.Node, path string) map[string]string {
	kvs, ok := d.mapping(n, path)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if s, ok := d.scalarText(kv.value, join(path, kv.key)); ok {
			out[kv.key] = s
		}
	}
	return out
}

// generic converts a node to plain Go values (string, int64, float64, bool,
// nil, []any, map[string]any) for fault parameters.
func (d *decoder) generic(n ast.Node, path string, depth int) (any, bool) {
	if depth > 8 {
		d.e.Addf(posOf(n), path, "", "value nested too deeply")
		return nil, false
	}
	n = d.resolve(n, path)
	if n == nil {
		return nil, false
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return x, true
		case uint64:
			if x <= math.MaxInt64 {
				return int64(x), true
			}
			return float64(x), true
		}
	case *ast.FloatNode:
		return v.Value, true
	case *ast.BoolNode:
		return v.Value, true
	case *ast.NullNode:
		return nil, true
	case *ast.SequenceNode:
		out := []any{}
		ok := true
		d.seq(v, path, func(i int, x ast.Node, p string) {
			g, good := d.generic(x, p, depth+1)
			ok = ok && good
			out = append(out, g)
		})
		return out, ok
	case *ast.MappingNode, *ast.MappingValueNode:
		kvs, good := d.mapping(v, path)
		if !good {
			return nil, false
		}
		out := map[string]any{}
		ok := true
		for _, kv := range kvs {
			g, good := d.generic(kv.value, join(path, kv.key), depth+1)
			ok = ok && good
			out[kv.key] = g
		}
		return out, ok
	}
	d.e.Addf(posOf(n), path, "", "unsupported value %s", kindOf(n))
	return nil, false
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,79}$`)

// decodeScenario decodes the root mapping. Semantic checks that need the
// whole file (references, overlaps, selectors) run afterwards in validate.
func (d *decoder) decodeScenario(root ast.Node, s *Scenario, raw *rawRefs) {
	s.Pos = posOf(root)
	d.fields(root, "", []string{"name", "title", "phases"}, map[string]func(ast.Node, string){
		"name": func(v ast.Node, p string) {
			if x, ok := d.str(v, p); ok {
				if !nameRE.MatchString(x) {
					d.e.Addf(posOf(v), p, "lower-case letters, digits, '.', '_' and '-', e.g. aws-us-east-1-2021-12-07", "bad name %q", x)
				}
				s.Name = x
			}
		},
		"title": func(v ast.Node, p string) { s.Title, _ = d.str(v, p) },
		"date": func(v ast.Node, p string) {
			if x, ok := d.scalarText(v, p); ok {
				if _, err := time.Parse("2006-01-02", x); err != nil {
					d.e.Addf(posOf(v), p, "write YYYY-MM-DD", "bad date %q", x)
				}
				s.Date = x
			}
		},
		"summary": func(v ast.Node, p string) { s.Summary, _ = d.str(v, p) },
		"sources": func(v ast.Node, p string) {
			d.seq(v, p, func(_ int, x ast.Node, q string) {
				if u, ok := d.str(x, q); ok {
					if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
						d.e.Addf(posOf(x), q, "sources are links to post-incident reports", "source %q is not an http(s) URL", u)
					}
					s.Sources = append(s.Sources, u)
				}
			})
		},
		"topology": func(v ast.Node, p string) {
			if x, ok := d.str(v, p); ok {
				s.Topology = x
				raw.topologyPos = posOf(v)
			}
		},
		"time_scale": func(v ast.Node, p string) {
			if x, ok := d.number(v, p); ok {
				if !(x > 0) || x > 1e6 {
					d.e.Addf(posOf(v), p, "60 plays one incident hour per wall minute", "time_scale must be > 0 and ≤ 1e6, got %v", x)
				}
				s.TimeScale = x
			}
		},
		"policy": func(v ast.Node, p string) { d.decodePolicy(v, p, &s.Policy, raw) },
		"seed":   func(v ast.Node, p string) { s.Seed, _ = d.integer(v, p) },
		"load":   func(v ast.Node, p string) { d.decodeLoad(v, p, &s.Load, raw) },
		"warmup": func(v ast.Node, p string) {
			s.Warmup, _ = d.duration(v, p)
			raw.warmupSet = true
		},
		"recovery": func(v ast.Node, p string) {
			s.Recovery, _ = d.duration(v, p)
			raw.recoverySet = true
		},
		"steady_state": func(v ast.Node, p string) {
			d.seq(v, p, func(_ int, x ast.Node, q string) {
				s.SteadyState = append(s.SteadyState, d.decodeHypothesis(x, q, kindSteady))
			})
		},
		"phases": func(v ast.Node, p string) {
			d.seq(v, p, func(_ int, x ast.Node, q string) {
				s.Phases = append(s.Phases, d.decodePhase(x, q, raw))
			})
		},
		"objectives": func(v ast.Node, p string) {
			if s.objectivesKey == "hypotheses" {
				d.e.Addf(posOf(v), p, "move the entries of hypotheses here and delete that key", "give objectives or the deprecated hypotheses, not both")
			}
			s.objectivesKey = "objectives"
			d.seq(v, p, func(_ int, x ast.Node, q string) {
				s.Objectives = append(s.Objectives, d.decodeHypothesis(x, q, kindObjective))
			})
		},
		"hypotheses": func(v ast.Node, p string) {
			if s.objectivesKey == "objectives" {
				d.e.Addf(posOf(v), p, "move the entries of hypotheses to objectives and delete this key", "give objectives or the deprecated hypotheses, not both")
			}
			s.objectivesKey = "hypotheses"
			s.Warnings = append(s.Warnings, Warning{File: s.File, Pos: posOf(v), Path: p,
				Message: "`hypotheses` is now `objectives` (what the system under test must hold; they decide the verdict) and is read as such: " +
					"rename the key, and move what the outage's sources say happened (e.g. a success that must stay LOW) to `expectations`, which are reported as fidelity"})
			d.seq(v, p, func(_ int, x ast.Node, q string) {
				s.Objectives = append(s.Objectives, d.decodeHypothesis(x, q, kindObjective))
			})
		},
		"expectations": func(v ast.Node, p string) {
			d.seq(v, p, func(_ int, x ast.Node, q string) {
				s.Expectations = append(s.Expectations, d.decodeHypothesis(x, q, kindExpectation))
			})
		},
		"abort": func(v ast.Node, p string) {
			d.seq(v, p, func(_ int, x ast.Node, q string) {
				s.Abort = append(s.Abort, d.decodeGuard(x, q))
			})
		},
	})
}

// rawRefs remembers positions of things validated against the topology later.
type rawRefs struct {
	topologyPos Pos
	policyEdges map[string]Pos
	rateRegions map[string]Pos
	mixJourneys map[string]Pos
	warmupSet   bool
	recoverySet bool
}

func (d *decoder) decodePolicy(v ast.Node, p string, pol *Policy, raw *rawRefs) {
	r := d.resolve(v, p)
	if sn, ok := r.(*ast.StringNode); ok {
		pol.Preset = sn.Value
		d.checkPreset(posOf(r), p, sn.Value)
		return
	}
	d.fields(r, p, nil, map[string]func(ast.Node, string){
		"preset": func(x ast.Node, q string) {
			if s, ok := d.str(x, q); ok {
				pol.Preset = s
				d.checkPreset(posOf(x), q, s)
			}
		},
		"edges": func(x ast.Node, q string) {
			kvs, ok := d.mapping(x, q)
			if !ok {
				return
			}
			pol.Edges = map[string]string{}
			for _, kv := range kvs {
				if s, ok := d.str(kv.value, join(q, kv.key)); ok {
					d.checkPreset(posOf(kv.value), join(q, kv.key), s)
					pol.Edges[kv.key] = s
					raw.policyEdges[kv.key] = kv.keyPos
				}
			}
		},
	})
}

// Presets are the storefront's resilience presets (services/CONTRACT.md).
var Presets = []string{"fragile", "hardened"}

func (d *decoder) checkPreset(p Pos, path, s string) {
	for _, x := range Presets {
		if s == x {
			return
		}
	}
	d.e.Addf(p, path, yamlx.Suggest(s, Presets), "unknown policy preset %q", s)
}

func (d *decoder) decodeLoad(v ast.Node, p string, l *LoadProfile, raw *rawRefs) {
	d.fields(v, p, []string{"rate"}, map[string]func(ast.Node, string){
		"rate": func(x ast.Node, q string) {
			kvs, ok := d.mapping(x, q)
			if !ok {
				return
			}
			l.Rate = map[string]float64{}
			for _, kv := range kvs {
				qq := join(q, kv.key)
				rn := d.resolve(kv.value, qq)
				var rate float64
				switch t := rn.(type) {
				case *ast.StringNode:
					r, err := ParseRate(t.Value)
					if err != nil {
						d.e.Addf(posOf(rn), qq, `write arrivals per second, e.g. "40/s"`, "%v", err)
						continue
					}
					rate = r
				case *ast.IntegerNode, *ast.FloatNode:
					r, _ := d.number(rn, qq)
					if r < 0 {
						d.e.Addf(posOf(rn), qq, "", "negative rate")
						continue
					}
					rate = r
				default:
					if rn != nil {
						d.e.Addf(posOf(rn), qq, `write e.g. "40/s"`, "expected a rate, got %s", kindOf(rn))
					}
					continue
				}
				if rate > 5000 {
					d.e.Addf(posOf(rn), qq, "the load generator targets ≤ 5000/s per region", "rate %.0f/s is too high", rate)
				}
				l.Rate[kv.key] = rate
				raw.rateRegions[kv.key] = kv.keyPos
			}
		},
		"mix": func(x ast.Node, q string) {
			kvs, ok := d.mapping(x, q)
			if !ok {
				return
			}
			l.Mix = map[string]int{}
			total := int64(0)
			for _, kv := range kvs {
				w, ok := d.integer(kv.value, join(q, kv.key))
				if !ok {
					continue
				}
				if w < 0 || w > 1_000_000 {
					d.e.Addf(posOf(kv.value), join(q, kv.key), "", "weight must be 0..1000000, got %d", w)
					continue
				}
				total += w
				l.Mix[kv.key] = int(w)
				raw.mixJourneys[kv.key] = kv.keyPos
			}
			if total == 0 && len(kvs) > 0 {
				d.e.Addf(posOf(x), q, "give at least one journey a positive weight", "every weight is 0")
			}
		},
	})
}

func (d *decoder) decodePhase(v ast.Node, p string, raw *rawRefs) Phase {
	ph := Phase{Pos: posOf(v)}
	d.fields(v, p, []string{"name", "at", "for"}, map[string]func(ast.Node, string){
		"name": func(x ast.Node, q string) {
			if s, ok := d.str(x, q); ok {
				if !nameRE.MatchString(s) {
					d.e.Addf(posOf(x), q, "lower-case letters, digits, '.', '_' and '-'", "bad phase name %q", s)
				}
				ph.Name = s
			}
		},
		"at": func(x ast.Node, q string) {
			ph.At, _ = d.duration(x, q)
			ph.atPos = posOf(x)
		},
		"for": func(x ast.Node, q string) {
			if dur, ok := d.duration(x, q); ok {
				if dur == 0 {
					d.e.Addf(posOf(x), q, "", "a phase must last longer than 0")
				}
				ph.For = dur
			}
		},
		"note":         func(x ast.Node, q string) { ph.Note, _ = d.str(x, q) },
		"approximate":  func(x ast.Node, q string) { ph.Approximate, _ = d.boolean(x, q) },
		"source_time":  func(x ast.Node, q string) { ph.SourceTime, _ = d.scalarText(x, q) },
		"source_grade": func(x ast.Node, q string) { ph.SourceGrade = d.grade(x, q) },
		"faults": func(x ast.Node, q string) {
			d.seq(x, q, func(_ int, y ast.Node, r string) {
				ph.Faults = append(ph.Faults, d.decodeFault(y, r, raw))
			})
		},
	})
	return ph
}

func (d *decoder) decodeFault(v ast.Node, p string, raw *rawRefs) Fault {
	f := Fault{Pos: posOf(v)}
	kvs, ok := d.mapping(v, p)
	if !ok {
		return f
	}
	params := map[string]Pos{}
	hasKind := false
	for _, kv := range kvs {
		q := join(p, kv.key)
		switch kv.key {
		case "kind":
			hasKind = true
			f.Kind, _ = d.str(kv.value, q)
			f.kindPos = posOf(kv.value)
		case "edges":
			f.Edges = d.decodeEdgeSelector(kv.value, q)
		case "components":
			f.Components = d.decodeComponentSelector(kv.value, q)
		case "toxicity":
			if x, ok := d.number(kv.value, q); ok {
				if !(x > 0 && x <= 1) {
					d.e.Addf(posOf(kv.value), q, "the share of connections affected: 0 < toxicity ≤ 1 (remove the fault instead of 0)", "toxicity %v out of range", x)
				}
				f.Toxicity = &x
			}
		case "stream":
			if s, ok := d.str(kv.value, q); ok {
				if s != "upstream" && s != "downstream" && s != "both" {
					d.e.Addf(posOf(kv.value), q, yamlx.Suggest(s, []string{"upstream", "downstream", "both"}), "unknown stream %q", s)
				}
				f.Stream = s
			}
		default:
			g, ok := d.generic(kv.value, q, 0)
			if ok {
				if f.Params == nil {
					f.Params = map[string]any{}
				}
				f.Params[kv.key] = g
			}
			params[kv.key] = kv.keyPos
		}
	}
	if !hasKind {
		d.e.Addf(posOf(v), p, "e.g. kind: latency", "missing required field %q", "kind")
	}
	f.paramPos = params
	return f
}

func (d *decoder) decodeEdgeSelector(v ast.Node, p string) *EdgeSelector {
	sel := &EdgeSelector{}
	d.fields(v, p, nil, map[string]func(ast.Node, string){
		"names":  func(x ast.Node, q string) { sel.Names = d.strOrList(x, q) },
		"name":   func(x ast.Node, q string) { sel.Names = d.strOrList(x, q) },
		"from":   func(x ast.Node, q string) { sel.From, _ = d.str(x, q) },
		"to":     func(x ast.Node, q string) { sel.To, _ = d.str(x, q) },
		"region": func(x ast.Node, q string) { sel.Region, _ = d.str(x, q) },
		"crossing": func(x ast.Node, q string) {
			sel.Crossing = d.strOrList(x, q)
			if len(sel.Crossing) != 2 {
				d.e.Addf(posOf(x), q, "e.g. crossing: [us-east-1, eu-west-1]", "crossing needs exactly two sides, got %d", len(sel.Crossing))
			}
		},
		"labels": func(x ast.Node, q string) { sel.Labels = d.strMap(x, q) },
	})
	return sel
}

func (d *decoder) decodeComponentSelector(v ast.Node, p string) *ComponentSelector {
	sel := &ComponentSelector{}
	d.fields(v, p, nil, map[string]func(ast.Node, string){
		"names":  func(x ast.Node, q string) { sel.Names = d.strOrList(x, q) },
		"name":   func(x ast.Node, q string) { sel.Names = d.strOrList(x, q) },
		"region": func(x ast.Node, q string) { sel.Region, _ = d.str(x, q) },
		"labels": func(x ast.Node, q string) { sel.Labels = d.strMap(x, q) },
	})
	return sel
}

var metrics = []Metric{MetricSuccess, MetricP50, MetricP95, MetricP99}

func (d *decoder) condition(m Metric, v ast.Node, p string) (Condition, bool) {
	s, ok := d.scalarText(v, p)
	if !ok {
		return Condition{}, false
	}
	c, err := ParseCondition(m, s)
	if err != nil {
		d.e.Addf(posOf(v), p, "", "%v", err)
		return c, false
	}
	return c, true
}

// What a hypothesis entry is, for the fields it may carry.
type hypothesisKind int

const (
	kindSteady      hypothesisKind = iota // steady_state: no phase
	kindObjective                         // objectives: during a phase, or recovery after one
	kindExpectation                       // expectations: during a phase, with a claim and its grade
)

func (d *decoder) grade(v ast.Node, p string) string {
	g, ok := d.str(v, p)
	if ok && !slices.Contains(Grades, g) {
		d.e.Addf(posOf(v), p, yamlx.Suggest(g, Grades), "unknown source grade %q (primary: the source's own text was read; secondary: write-ups that agree; unverified: nothing retrievable states it)", g)
	}
	return g
}

func (d *decoder) decodeHypothesis(v ast.Node, p string, kind hypothesisKind) Hypothesis {
	h := Hypothesis{Pos: posOf(v)}
	spec := map[string]func(ast.Node, string){
		"journey":     func(x ast.Node, q string) { h.Journey, _ = d.str(x, q) },
		"region":      func(x ast.Node, q string) { h.Region, _ = d.str(x, q) },
		"description": func(x ast.Node, q string) { h.Description, _ = d.str(x, q) },
		"claim":       func(x ast.Node, q string) { h.Claim, _ = d.str(x, q) },
	}
	var duringPos, afterPos Pos
	hasDuring, hasAfter, hasRecover := false, false, false
	switch kind {
	case kindObjective:
		spec["during"] = func(x ast.Node, q string) { h.During, _ = d.str(x, q); duringPos, hasDuring = posOf(x), true }
		spec["after"] = func(x ast.Node, q string) { h.After, _ = d.str(x, q); afterPos, hasAfter = posOf(x), true }
		spec["recover_within"] = func(x ast.Node, q string) {
			hasRecover = true
			if dur, ok := d.duration(x, q); ok {
				if dur <= 0 {
					d.e.Addf(posOf(x), q, "e.g. recover_within: 30s (wall time after the phase ends)", "recover_within must be > 0")
				}
				h.RecoverWithin = dur
			}
		}
	case kindExpectation:
		spec["during"] = func(x ast.Node, q string) { h.During, _ = d.str(x, q) }
		spec["grade"] = func(x ast.Node, q string) { h.Grade = d.grade(x, q) }
	}
	for _, m := range metrics {
		spec[string(m)] = func(x ast.Node, q string) {
			if c, ok := d.condition(m, x, q); ok {
				h.Checks = append(h.Checks, c)
			}
		}
	}
	var req []string
	if kind == kindExpectation {
		req = []string{"during"}
	}
	nchecks := 0
	for _, m := range metrics {
		f := spec[string(m)]
		spec[string(m)] = func(x ast.Node, q string) { nchecks++; f(x, q) }
	}
	if !d.fields(v, p, req, spec) {
		return h
	}
	switch {
	case kind == kindObjective && hasRecover:
		if !hasAfter {
			d.e.Addf(posOf(v), p, "e.g. {after: congestion, journey: checkout, recover_within: 60s}", "a recovery objective needs `after`: the phase whose end starts the clock")
		}
		if hasDuring {
			d.e.Addf(duringPos, join(p, "during"), "split it into a `during` objective and a recovery objective", "an objective is judged either during a phase or as recovery after one, not both")
		}
		for _, c := range h.Checks {
			if c.Metric != MetricSuccess {
				d.e.Addf(posOf(v), join(p, string(c.Metric)), "a recovery objective waits for success only; judge latency with a `during` objective", "a recovery objective cannot check %s", c.Metric)
			}
		}
	case kind == kindObjective && hasAfter:
		d.e.Addf(afterPos, join(p, "after"), "add recover_within: 30s", "`after` makes a recovery objective: it needs recover_within")
	case kind == kindObjective && !hasDuring:
		d.e.Addf(posOf(v), p, `add during: PHASE (or "*" for every phase with faults), or after: PHASE with recover_within`, "an objective needs `during` or `after`")
		fallthrough
	case nchecks == 0:
		if nchecks == 0 {
			d.e.Addf(posOf(v), p, `add e.g. success: ">= 95%" or p99: "< 500ms"`, "hypothesis checks nothing")
		}
	}
	return h
}

func (d *decoder) decodeGuard(v ast.Node, p string) Guard {
	g := Guard{Pos: posOf(v)}
	n := 0
	spec := map[string]func(ast.Node, string){
		"journey": func(x ast.Node, q string) { g.Journey, _ = d.str(x, q) },
		"region":  func(x ast.Node, q string) { g.Region, _ = d.str(x, q) },
		"for":     func(x ast.Node, q string) { g.For, _ = d.duration(x, q) },
	}
	for _, m := range metrics {
		spec[string(m)] = func(x ast.Node, q string) {
			n++
			if c, ok := d.condition(m, x, q); ok {
				g.Condition = c
			}
		}
	}
	if d.fields(v, p, []string{"for"}, spec) && n != 1 {
		d.e.Addf(posOf(v), p, `e.g. {journey: browse, success: "< 20%", for: 30s}`, "an abort guard needs exactly one condition, got %d", n)
	}
	return g
}
