package yamlx

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
)

// maxHops bounds one chain of anchors, aliases and tags.
const maxHops = 32

// Resolver follows anchors, aliases and tags to the node that holds a
// value. Every step counts against a budget shared by the whole file, so a
// "billion laughs" file (aliases of aliases that expand exponentially) is
// stopped early instead of walked.
type Resolver struct {
	errs      *Collector
	maxNodes  int
	anchors   map[string]ast.Node
	visits    int
	exhausted bool
}

// NewResolver resolves within maxNodes steps and records problems (an
// unknown alias, the budget spent) in errs.
func NewResolver(errs *Collector, maxNodes int) *Resolver {
	return &Resolver{errs: errs, maxNodes: maxNodes, anchors: map[string]ast.Node{}}
}

// CollectAnchors records the anchors under n (to MaxDepth); a later anchor
// of the same name wins.
func (r *Resolver) CollectAnchors(n ast.Node) { r.collect(n, 0) }

func (r *Resolver) collect(n ast.Node, depth int) {
	if n == nil || depth > MaxDepth {
		return
	}
	switch v := n.(type) {
	case *ast.AnchorNode:
		if v.Name != nil {
			r.anchors[v.Name.GetToken().Value] = v.Value
		}
		r.collect(v.Value, depth+1)
	case *ast.TagNode:
		r.collect(v.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			r.collect(mv.Value, depth+1)
		}
	case *ast.MappingValueNode:
		r.collect(v.Value, depth+1)
	case *ast.SequenceNode:
		for _, x := range v.Values {
			r.collect(x, depth+1)
		}
	}
}

// Resolve returns the value node n stands for. It returns nil, and records
// why at path, when an alias is unknown or the budget is spent (recorded
// once per file).
func (r *Resolver) Resolve(n ast.Node, path string) ast.Node {
	for hops := 0; n != nil; hops++ {
		r.visits++
		if r.visits > r.maxNodes || hops > maxHops {
			if !r.exhausted {
				r.exhausted = true
				r.errs.Addf(PosOf(n), path, "aliases that expand exponentially are refused", "file expands to more than %d nodes", r.maxNodes)
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
			t, ok := r.anchors[name]
			if !ok {
				r.errs.Add(PosOf(n), path, fmt.Sprintf("unknown alias *%s", name), "define the anchor &"+name+" first")
				return nil
			}
			n = t
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
	return nil
}

// Exhausted reports whether the budget was spent: what was decoded is
// incomplete and checks that need the whole file should be skipped.
func (r *Resolver) Exhausted() bool { return r.exhausted }
