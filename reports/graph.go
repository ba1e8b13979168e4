package reports

import (
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/outagelab/outagelab/reports/result"
)

// The dependency graph: one column per region × plane (label "plane", else
// the component kind), rows by depth (longest path from a component nothing
// calls), nodes coloured by worst state, the cascade drawn in red with its
// order, faulted edges dashed.

type gnode struct {
	name, region, group, kind, state string
	level, slot                      int
	x, y                             float64
	cascade                          int // 1-based cascade order, 0 none
}

func depGraph(id string, r *result.Result) template.HTML {
	nodes, order := graphNodes(r)
	if len(nodes) == 0 {
		return ""
	}
	edges := graphEdges(r, nodes)
	// Levels: longest path from roots, bounded so cycles terminate.
	for iter := 0; iter < len(nodes); iter++ {
		changed := false
		for _, e := range edges {
			a, b := nodes[e.From], nodes[e.To]
			if a != nil && b != nil && a != b && b.level < a.level+1 && a.level+1 < len(nodes) {
				b.level = a.level + 1
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	// Columns and slots.
	type colKey struct{ group string }
	var cols []string
	colNodes := map[string][]*gnode{}
	for _, n := range order {
		g := nodes[n]
		if _, ok := colNodes[g.group]; !ok {
			cols = append(cols, g.group)
		}
		colNodes[g.group] = append(colNodes[g.group], g)
	}
	const slotW, rowH, nodeW, nodeH, top = 128.0, 62.0, 116.0, 28.0, 50.0
	x := 10.0
	maxLevel := 0
	colX := map[string][2]float64{}
	for _, c := range cols {
		perLevel := map[int]int{}
		ns := colNodes[c]
		sort.SliceStable(ns, func(i, j int) bool { return ns[i].level < ns[j].level })
		width := 1
		for _, g := range ns {
			g.slot = perLevel[g.level]
			perLevel[g.level]++
			width = max(width, perLevel[g.level])
			maxLevel = max(maxLevel, g.level)
		}
		for _, g := range ns {
			// Centre the level's nodes in the column.
			off := float64(width-perLevel[g.level]) * slotW / 2
			g.x = x + off + float64(g.slot)*slotW + slotW/2
			g.y = top + float64(g.level)*rowH + nodeH/2 + 8
		}
		colX[c] = [2]float64{x, x + float64(width)*slotW}
		x += float64(width)*slotW + 16
	}
	w := x - 6
	h := top + float64(maxLevel+1)*rowH + 30
	for k, s := range r.Cascade {
		if g := nodes[s.Component]; g != nil && g.cascade == 0 {
			g.cascade = k + 1
		}
	}
	var b svgB
	b.open(id, w, h, "Dependency graph with the cascade",
		fmt.Sprintf("%d components in %d region/plane groups and %d edges. Nodes are coloured by worst state; red edges carry the cascade in the order numbered; dashed edges were faulted.", len(nodes), len(cols), len(edges)))
	b.WriteString(`<defs>`)
	for _, m := range []string{"edge", "cascade", "faulted"} {
		fmt.Fprintf(&b, `<marker id="%s-arrow-%s" class="arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker>`, id, m, m)
	}
	b.WriteString(`</defs>`)
	for _, c := range cols {
		xs := colX[c]
		fmt.Fprintf(&b, `<rect class="group" x="%s" y="6" width="%s" height="%s" rx="8"/>`, f1(xs[0]), f1(xs[1]-xs[0]), f1(h-12))
		reg, plane, _ := strings.Cut(c, " · ")
		b.text((xs[0]+xs[1])/2, 22, "group-label", "middle", reg)
		if plane != "" {
			b.text((xs[0]+xs[1])/2, 35, "group-sub", "middle", plane)
		}
	}
	// Edges under nodes; cascade last so it is on top.
	sort.SliceStable(edges, func(i, j int) bool { return edgeRank(edges[i].class) < edgeRank(edges[j].class) })
	for _, e := range edges {
		a, bn := nodes[e.From], nodes[e.To]
		if a == nil || bn == nil || a == bn {
			continue
		}
		x1, y1 := a.x, a.y+nodeH/2
		x2, y2 := bn.x, bn.y-nodeH/2
		var d string
		if bn.level > a.level {
			dy := (y2 - y1) / 2
			d = fmt.Sprintf("M%s %sC%s %s %s %s %s %s", f1(x1), f1(y1), f1(x1), f1(y1+dy), f1(x2), f1(y2-dy), f1(x2), f1(y2))
		} else { // same level or upwards: leave from the side
			x1 = a.x + nodeW/2
			if bn.x < a.x {
				x1 = a.x - nodeW/2
			}
			y1 = a.y
			x2, y2 = bn.x, bn.y+nodeH/2
			if bn.level < a.level {
				x2, y2 = bn.x, bn.y+nodeH/2
			} else {
				y2 = bn.y - nodeH/2
			}
			d = fmt.Sprintf("M%s %sC%s %s %s %s %s %s", f1(x1), f1(y1), f1((x1+x2)/2), f1(y1-rowH/2), f1(x2), f1(y2-rowH/3), f1(x2), f1(y2))
		}
		title := e.Name
		if title == "" {
			title = e.From + " → " + e.To
		}
		if e.note != "" {
			title += " · " + e.note
		}
		fmt.Fprintf(&b, `<path class="edge %s" d="%s" marker-end="url(#%s-arrow-%s)"><title>%s</title></path>`, e.class, d, id, e.class, esc(title))
	}
	for _, n := range order {
		g := nodes[n]
		label := shortName(g.name, g.region)
		if len([]rune(label)) > 17 {
			label = string([]rune(label)[:16]) + "…"
		}
		fmt.Fprintf(&b, `<g class="node st-%s"><title>%s (%s, %s): worst state %s</title>`, g.state, esc(g.name), esc(g.kind), esc(g.region), esc(g.state))
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" rx="6"/>`, f1(g.x-nodeW/2), f1(g.y-nodeH/2), f1(nodeW), f1(nodeH))
		b.text(g.x, g.y+4, "node-label", "middle", label)
		if g.cascade > 0 {
			fmt.Fprintf(&b, `<circle class="badge" cx="%s" cy="%s" r="9"/>`, f1(g.x+nodeW/2-4), f1(g.y-nodeH/2))
			b.text(g.x+nodeW/2-4, g.y-nodeH/2+3.5, "badge-label", "middle", fmt.Sprint(g.cascade))
		}
		b.WriteString(`</g>`)
	}
	return b.close()
}

type gedge struct {
	result.TopoEdge
	class, note string
}

func edgeRank(c string) int {
	switch c {
	case "faulted":
		return 1
	case "cascade":
		return 2
	}
	return 0
}

func graphNodes(r *result.Result) (map[string]*gnode, []string) {
	nodes := map[string]*gnode{}
	var order []string
	add := func(name, kind, region string, labels map[string]string) {
		if name == "" || nodes[name] != nil {
			return
		}
		plane := labels["plane"]
		if plane == "" {
			plane = kind
		}
		group := region
		if plane != "" {
			if group != "" {
				group += " · " + plane
			} else {
				group = plane
			}
		}
		if group == "" {
			group = "other"
		}
		nodes[name] = &gnode{name: name, kind: kind, region: region, group: group, state: "unknown"}
		order = append(order, name)
	}
	for _, c := range r.Topology.Components {
		add(c.Name, c.Kind, c.Region, c.Labels)
	}
	for _, c := range r.Components {
		add(c.Name, c.Kind, c.Region, nil)
		nodes[c.Name].state = worstState(c)
	}
	for _, g := range nodes {
		switch g.state {
		case "healthy", "degraded", "down":
		default:
			g.state = "unknown"
		}
	}
	// Order columns: regions in topology order, then planes by name.
	regionIdx := map[string]int{}
	for i, reg := range r.Topology.Regions {
		regionIdx[reg] = i
	}
	ri := func(reg string) int {
		if i, ok := regionIdx[reg]; ok {
			return i
		}
		return len(regionIdx) + 1
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := nodes[order[i]], nodes[order[j]]
		if ra, rb := ri(a.region), ri(b.region); ra != rb {
			return ra < rb
		}
		if a.region != b.region {
			return a.region < b.region
		}
		return a.group < b.group
	})
	return nodes, order
}

func graphEdges(r *result.Result, nodes map[string]*gnode) []gedge {
	faulted := map[string]bool{}
	for _, p := range r.Phases {
		for _, f := range p.Faults {
			for _, t := range f.Targets {
				faulted[t] = true
			}
		}
	}
	cascade := map[string]int{}
	for k, s := range r.Cascade {
		if s.Edge != "" {
			if _, ok := cascade[s.Edge]; !ok {
				cascade[s.Edge] = k + 1
			}
		}
	}
	amp := map[string]float64{}
	for _, e := range r.Edges {
		amp[e.Name] = e.RetryAmplification
	}
	var out []gedge
	seen := map[string]bool{}
	addEdge := func(e result.TopoEdge) {
		key := e.From + "\x00" + e.To
		if seen[key] || nodes[e.From] == nil || nodes[e.To] == nil {
			return
		}
		seen[key] = true
		g := gedge{TopoEdge: e, class: "edge"}
		var notes []string
		if faulted[e.Name] {
			g.class = "faulted"
			notes = append(notes, "faulted")
		}
		if k, ok := cascade[e.Name]; ok {
			g.class = "cascade"
			notes = append(notes, fmt.Sprintf("cascade step %d", k))
		}
		if a := amp[e.Name]; a > 0 {
			notes = append(notes, fmt.Sprintf("retry amplification %.2f×", a))
		}
		g.note = strings.Join(notes, ", ")
		out = append(out, g)
	}
	for _, e := range r.Topology.Edges {
		addEdge(e)
	}
	for _, e := range r.Edges {
		addEdge(result.TopoEdge{Name: e.Name, From: e.From, To: e.To})
	}
	return out
}

// shortName drops a region suffix the column already shows.
func shortName(name, region string) string {
	if region != "" {
		if s, ok := strings.CutSuffix(name, "-"+region); ok && s != "" {
			return s
		}
	}
	return name
}
