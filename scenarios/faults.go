package scenarios

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/yamlx"
)

// Fault kinds come from the harness registry (harness/faults), the one
// source of truth for kinds and their parameters. The engine adds one kind of
// its own, retry_storm (a closed-loop controller over latency toxics, see
// retrystorm.go), because it needs the recorder's view of the edge's rate.

// Selector converts the fault's selector to the harness's.
func (f *Fault) Selector() faults.Selector {
	var s faults.Selector
	if e := f.Edges; e != nil {
		s.Edges, s.From, s.To, s.Region = e.Names, e.From, e.To, e.Region
		s.Crossing, s.Labels = e.Crossing, e.Labels
	}
	if c := f.Components; c != nil {
		s.Components, s.Region, s.Labels = c.Names, c.Region, c.Labels
	}
	return s
}

// Scope is what the fault's kind acts on.
func (f *Fault) Scope() faults.Scope {
	if k, ok := lookupKind(f.Kind); ok {
		return k.scope
	}
	return ""
}

// checkFault validates one fault: its kind and parameters against the fault
// registry, and its selector against the topology (it must match something).
func checkFault(e *errs, f *Fault, path string, topo *topology.Topology) {
	if f.Kind == "" {
		return // reported by the decoder
	}
	k, ok := lookupKind(f.Kind)
	if !ok {
		e.Addf(f.kindPos, path+".kind", yamlx.Suggest(f.Kind, KindNames()), "unknown fault kind %q", f.Kind)
		return
	}
	for _, perr := range k.validate(f.paramsWithToxic()) {
		p := f.Pos
		if pp, ok := f.paramPos[perr.param]; ok {
			p = pp
		}
		field := path
		if perr.param != "" {
			field = path + "." + perr.param
		}
		e.Addf(p, field, perr.hint, "%s", perr.msg)
	}
	if (f.Toxicity != nil || f.Stream != "") && !k.toxic {
		e.Addf(f.Pos, path, "toxicity and stream apply to Toxiproxy toxics only", "fault kind %q has no toxicity or stream", f.Kind)
	}
	switch k.scope {
	case faults.ScopeEdge:
		if f.Components != nil {
			e.Addf(f.Pos, path+".components", "use edges: {to: NAME} to hit every edge into a component", "fault kind %q acts on edges, not components", f.Kind)
			return
		}
		if f.Edges == nil {
			e.Addf(f.Pos, path, "e.g. edges: {to: identity}", "fault kind %q needs an edges selector", f.Kind)
			return
		}
	case faults.ScopeComponent:
		if f.Edges != nil {
			e.Addf(f.Pos, path+".edges", "use components: {names: [NAME]}", "fault kind %q acts on components, not edges", f.Kind)
			return
		}
		if f.Components == nil {
			e.Addf(f.Pos, path, "e.g. components: {names: [identity]}", "fault kind %q needs a components selector", f.Kind)
			return
		}
	}
	if topo == nil {
		return
	}
	sel := f.Selector()
	field := path + ".edges"
	hint := "edges are named <from>__<to>; see the topology with `outagelab up`"
	if k.scope == faults.ScopeComponent {
		field = path + ".components"
		hint = yamlx.Suggest(firstOr(sel.Components), componentNames(topo))
	}
	if _, err := sel.Resolve(topo, k.scope); err != nil {
		e.Addf(f.Pos, field, hint, "%v", err)
	}
}

func (f *Fault) paramsWithToxic() map[string]any {
	p := make(map[string]any, len(f.Params)+2)
	for k, v := range f.Params {
		p[k] = v
	}
	if f.Toxicity != nil {
		p["toxicity"] = *f.Toxicity
	}
	if f.Stream != "" {
		p["stream"] = f.Stream
	}
	return p
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

type paramError struct {
	param, msg, hint string
}

// kindSpec is what the loader needs to know about a fault kind.
type kindSpec struct {
	scope    faults.Scope
	toxic    bool // has toxicity and stream
	validate func(params map[string]any) []paramError
	engine   bool // played by the engine, not the harness applier
}

func lookupKind(name string) (kindSpec, bool) {
	if k, ok := faults.Lookup(name); ok {
		return kindSpec{scope: k.Scope, toxic: k.Toxic != "", validate: registryValidate(name)}, true
	}
	if k, ok := engineKinds[name]; ok {
		return k, true
	}
	return kindSpec{}, false
}

// KindNames lists every fault kind a scenario may use, sorted.
func KindNames() []string {
	names := faults.KindNames()
	for n := range engineKinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var (
	unknownFieldRE = regexp.MustCompile(`unknown field "([^"]+)"`)
	goFieldRE      = regexp.MustCompile(`Go struct field [A-Za-z0-9_]+\.([a-z0-9_.]+) of type`)
	paramPrefixRE  = regexp.MustCompile(`^([a-z][a-z0-9_]*): (.*)$`)
)

// registryValidate decodes params through harness/faults.DecodeParams and
// turns its messages into per-parameter errors.
func registryValidate(kind string) func(map[string]any) []paramError {
	return func(p map[string]any) []paramError {
		raw, err := json.Marshal(p)
		if err != nil {
			return []paramError{{msg: fmt.Sprintf("parameters cannot be encoded: %v", err)}}
		}
		attrs := faults.Attributes(kind)
		// Decode one parameter at a time first so that a type error names
		// its parameter (encoding/json stops at the first and may not).
		var out []paramError
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !slices.Contains(attrs, k) {
				out = append(out, paramError{param: k, msg: fmt.Sprintf("unknown attribute %q", k), hint: yamlx.Suggest(k, attrs)})
				continue
			}
			one, _ := json.Marshal(map[string]any{k: p[k]})
			f, err := faults.New(kind)
			if err != nil {
				return []paramError{{msg: err.Error()}}
			}
			if err := json.Unmarshal(one, f); err != nil {
				msg := err.Error()
				if m := goFieldRE.FindStringSubmatch(msg); m != nil {
					msg = fmt.Sprintf("wrong type (%s)", msg[strings.Index(msg, "cannot unmarshal"):])
				}
				out = append(out, paramError{param: k, msg: msg})
			}
		}
		if len(out) > 0 {
			return out
		}
		_, err = faults.DecodeParams(kind, raw)
		if err == nil {
			return nil
		}
		msg := strings.TrimPrefix(err.Error(), kind+": ")
		if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
			return []paramError{{param: m[1], msg: fmt.Sprintf("unknown attribute %q", m[1]), hint: yamlx.Suggest(m[1], attrs)}}
		}
		if m := goFieldRE.FindStringSubmatch(msg); m != nil {
			return []paramError{{param: m[1], msg: "wrong type: " + msg}}
		}
		for _, one := range splitJoined(err) {
			// Only the whole error carries DecodeParams's "kind: " prefix;
			// the parts of a joined one start with their parameter, which
			// may share the kind's name (latency, timeout, delay).
			line := one.Error()
			if one == err {
				line = strings.TrimPrefix(line, kind+": ")
			}
			if m := paramPrefixRE.FindStringSubmatch(line); m != nil {
				out = append(out, paramError{param: m[1], msg: m[2]})
				continue
			}
			out = append(out, paramError{msg: line, hint: "attributes: " + strings.Join(attrs, ", ")})
		}
		return out
	}
}

// splitJoined unwraps fmt.Errorf("%w") layers down to an errors.Join and returns its parts.
func splitJoined(err error) []error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			var out []error
			for _, x := range j.Unwrap() {
				out = append(out, splitJoined(x)...)
			}
			return out
		}
	}
	return []error{err}
}

func paramErrorf(param, hint, format string, a ...any) paramError {
	return paramError{param: param, msg: fmt.Sprintf(format, a...), hint: hint}
}
