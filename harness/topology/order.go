package topology

import (
	"slices"
	"strings"
)

// Order returns the components in dependency order as waves: every
// component's callees are in earlier waves, so a runtime starts wave by wave
// and the components of one wave in parallel. Names inside a wave are sorted.
// A dependency cycle is an error that names the cycle.
func (t *Topology) Order() ([][]string, error) {
	deps := map[string][]string{} // caller -> callees
	indeg := map[string]int{}
	for _, c := range t.Components {
		if c == nil {
			continue
		}
		indeg[c.Name] = 0
	}
	for _, e := range t.Edges {
		if e == nil {
			continue
		}
		if _, ok := indeg[e.From]; !ok {
			continue // reported by Validate
		}
		if _, ok := indeg[e.To]; !ok || e.From == e.To {
			continue
		}
		if slices.Contains(deps[e.From], e.To) {
			continue
		}
		deps[e.From] = append(deps[e.From], e.To)
		indeg[e.From]++ // a caller waits for each distinct callee
	}
	// Kahn's algorithm on "callee before caller".
	callers := map[string][]string{}
	for from, tos := range deps {
		for _, to := range tos {
			callers[to] = append(callers[to], from)
		}
	}
	var waves [][]string
	var ready []string
	for n, d := range indeg {
		if d == 0 {
			ready = append(ready, n)
		}
	}
	done := 0
	for len(ready) > 0 {
		slices.Sort(ready)
		waves = append(waves, ready)
		done += len(ready)
		var next []string
		for _, n := range ready {
			for _, caller := range callers[n] {
				indeg[caller]--
				if indeg[caller] == 0 {
					next = append(next, caller)
				}
			}
		}
		ready = next
	}
	if done != len(indeg) {
		return waves, &FieldError{Path: "edges", Msg: "dependency cycle " + findCycle(deps, indeg),
			Hint: "components in a cycle cannot be started in dependency order; remove one edge"}
	}
	return waves, nil
}

// findCycle returns one cycle among the nodes left with indeg > 0.
func findCycle(deps map[string][]string, indeg map[string]int) string {
	var left []string
	for n, d := range indeg {
		if d > 0 {
			left = append(left, n)
		}
	}
	slices.Sort(left)
	state := map[string]int{} // 0 new, 1 on stack, 2 done
	var stack []string
	var cycle []string
	var visit func(string) bool
	visit = func(n string) bool {
		state[n] = 1
		stack = append(stack, n)
		tos := slices.Clone(deps[n])
		slices.Sort(tos)
		for _, m := range tos {
			switch state[m] {
			case 1:
				i := slices.Index(stack, m)
				cycle = append(slices.Clone(stack[i:]), m)
				return true
			case 0:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = 2
		return false
	}
	for _, n := range left {
		if state[n] == 0 && visit(n) {
			break
		}
	}
	if cycle == nil {
		return "(unknown)"
	}
	return strings.Join(cycle, " → ")
}
