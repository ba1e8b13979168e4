package faults

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/outagelab/outagelab/harness/topology"
)

// Selector picks the edges or components a fault targets. Every field that
// is set must match (AND); list fields match when any entry does (OR). Names
// are globs (path.Match: *, ?, [a-z]).
//
// For edge-scoped kinds:
//   - Edges: edge names ("gateway-*__identity").
//   - From, To: caller / callee component names ("gateway-*", "identity").
//   - Labels: the callee's labels (plane=internal).
//   - Region: the caller or the callee is in this region.
//   - Crossing [A, B]: one end matches A and the other B. A term matches a
//     component whose region, plane label or tier label equals it, or whose
//     label k equals v for a "k=v" term; "!term" negates. So
//     [us-east-1, "!us-east-1"] is every edge into or out of us-east-1 and
//     [data, internal] every edge between the data and internal planes.
//
// For component-scoped kinds: Components (names), Labels, Region.
type Selector struct {
	Edges      []string          `json:"edges,omitempty" yaml:"edges,omitempty"`
	From       string            `json:"from,omitempty" yaml:"from,omitempty"`
	To         string            `json:"to,omitempty" yaml:"to,omitempty"`
	Components []string          `json:"components,omitempty" yaml:"components,omitempty"`
	Labels     map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Region     string            `json:"region,omitempty" yaml:"region,omitempty"`
	Crossing   []string          `json:"crossing,omitempty" yaml:"crossing,omitempty"`
}

// IsZero reports whether no field is set.
func (s Selector) IsZero() bool {
	return len(s.Edges) == 0 && s.From == "" && s.To == "" && len(s.Components) == 0 &&
		len(s.Labels) == 0 && s.Region == "" && len(s.Crossing) == 0
}

// String renders the selector compactly for messages.
func (s Selector) String() string {
	var parts []string
	add := func(k string, v any) { parts = append(parts, fmt.Sprintf("%s=%v", k, v)) }
	if len(s.Edges) > 0 {
		add("edges", s.Edges)
	}
	if s.From != "" {
		add("from", s.From)
	}
	if s.To != "" {
		add("to", s.To)
	}
	if len(s.Components) > 0 {
		add("components", s.Components)
	}
	if len(s.Labels) > 0 {
		keys := make([]string, 0, len(s.Labels))
		for k := range s.Labels {
			keys = append(keys, k+"="+s.Labels[k])
		}
		slices.Sort(keys)
		add("labels", keys)
	}
	if s.Region != "" {
		add("region", s.Region)
	}
	if len(s.Crossing) > 0 {
		add("crossing", s.Crossing)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Validate checks the selector's shape for a scope; every problem at once.
func (s Selector) Validate(scope Scope) error {
	var errs []error
	if s.IsZero() {
		errs = append(errs, errors.New("selector: empty (it would match nothing; to mean everything write edges: [\"*\"] or components: [\"*\"])"))
	}
	globs := append(append([]string{s.From, s.To}, s.Edges...), s.Components...)
	for _, g := range globs {
		if g == "" {
			continue
		}
		if _, err := path.Match(g, ""); err != nil {
			errs = append(errs, fmt.Errorf("selector: bad glob %q: %v", g, err))
		}
	}
	if len(s.Crossing) != 0 && len(s.Crossing) != 2 {
		errs = append(errs, fmt.Errorf("selector.crossing: want exactly two terms [A, B], got %d", len(s.Crossing)))
	}
	for _, t := range s.Crossing {
		if strings.TrimPrefix(t, "!") == "" {
			errs = append(errs, errors.New("selector.crossing: empty term"))
		}
	}
	switch scope {
	case ScopeComponent:
		if len(s.Edges) > 0 || s.From != "" || s.To != "" || len(s.Crossing) > 0 {
			errs = append(errs, errors.New("selector: edges/from/to/crossing select edges, but this kind acts on components (use components, labels, region)"))
		}
	case ScopeEdge:
		if len(s.Components) > 0 {
			errs = append(errs, errors.New("selector: components selects components, but this kind acts on edges (use to: NAME for edges into a component)"))
		}
	}
	return errors.Join(errs...)
}

// Resolve returns the targets the selector picks in t, in topology order.
// Matching nothing is an error (a typo must not silently do nothing).
func (s Selector) Resolve(t *topology.Topology, scope Scope) ([]Target, error) {
	if err := s.Validate(scope); err != nil {
		return nil, err
	}
	var out []Target
	switch scope {
	case ScopeEdge:
		for _, e := range t.Edges {
			if s.matchEdge(t, e) {
				out = append(out, Target{Edge: e})
			}
		}
	case ScopeComponent:
		for _, c := range t.Components {
			if s.matchComponent(c) {
				out = append(out, Target{Component: c})
			}
		}
	default:
		return nil, fmt.Errorf("selector: unknown scope %q", scope)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("selector %s matches no %s in topology %q", s, scope, t.Name)
	}
	return out, nil
}

func glob(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

func anyGlob(patterns []string, name string) bool {
	for _, p := range patterns {
		if glob(p, name) {
			return true
		}
	}
	return false
}

func labelsMatch(want map[string]string, c *topology.Component) bool {
	for k, v := range want {
		if !glob(v, c.Labels[k]) {
			return false
		}
	}
	return true
}

func (s Selector) matchEdge(t *topology.Topology, e *topology.Edge) bool {
	from, to := t.Component(e.From), t.Component(e.To)
	if from == nil || to == nil {
		return false
	}
	if len(s.Edges) > 0 && !anyGlob(s.Edges, e.Name) {
		return false
	}
	if s.From != "" && !glob(s.From, e.From) {
		return false
	}
	if s.To != "" && !glob(s.To, e.To) {
		return false
	}
	if len(s.Labels) > 0 && !labelsMatch(s.Labels, to) {
		return false
	}
	if s.Region != "" && from.Region != s.Region && to.Region != s.Region {
		return false
	}
	if len(s.Crossing) == 2 {
		a, b := s.Crossing[0], s.Crossing[1]
		if !(termMatch(a, from) && termMatch(b, to) || termMatch(b, from) && termMatch(a, to)) {
			return false
		}
	}
	return true
}

func (s Selector) matchComponent(c *topology.Component) bool {
	if len(s.Components) > 0 && !anyGlob(s.Components, c.Name) {
		return false
	}
	if len(s.Labels) > 0 && !labelsMatch(s.Labels, c) {
		return false
	}
	if s.Region != "" && c.Region != s.Region {
		return false
	}
	return true
}

// termMatch matches a crossing term against a component.
func termMatch(term string, c *topology.Component) bool {
	if neg, ok := strings.CutPrefix(term, "!"); ok {
		return !termMatch(neg, c)
	}
	if k, v, ok := strings.Cut(term, "="); ok {
		return glob(v, c.Labels[k])
	}
	return term == c.Region || term == c.Labels[topology.LabelPlane] || term == c.Labels[topology.LabelTier]
}
