package scenarios

import (
	"cmp"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/yamlx"
)

// Journeys are the shopper journeys the load generator drives.
var Journeys = []string{"browse", "search", "product", "login", "add_to_cart", "checkout"}

// Defaults applied when a file leaves a field out.
const (
	DefaultTimeScale = 60.0
	DefaultWarmup    = 10 * time.Second
	DefaultRecovery  = 30 * time.Second
	DefaultTopology  = "storefront"
	DefaultSeed      = 1
)

// Options tune Parse.
type Options struct {
	// Topology resolves the scenario's topology field; nil uses ResolveTopology.
	Topology func(name, scenarioFile string, policy Policy) (*topology.Topology, error)
}

// Load reads and validates a scenario file.
func Load(file string) (*Scenario, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	if fi.Size() > MaxFileSize {
		return nil, Errors{{File: file, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", fi.Size(), MaxFileSize), Hint: "is this a scenario file?"}}
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(file, src, Options{})
}

// Parse decodes and validates src (named file in errors). Every problem is
// reported at once as Errors; the returned Scenario is nil then.
func Parse(file string, src []byte, opts Options) (*Scenario, error) {
	e := newErrs(file)
	d := newDecoder(e)
	root := d.parse(src)
	if root == nil {
		return nil, e.Err()
	}
	s := &Scenario{File: file}
	raw := &rawRefs{policyEdges: map[string]Pos{}, rateRegions: map[string]Pos{}, mixJourneys: map[string]Pos{}}
	d.decodeScenario(root, s, raw)
	applyDefaults(s, raw)
	resolve := opts.Topology
	if resolve == nil {
		resolve = ResolveTopology
	}
	var topo *topology.Topology
	if !d.r.Exhausted() {
		t, err := resolve(s.Topology, file, Policy{Preset: s.Policy.Preset})
		if err != nil {
			e.Addf(raw.topologyPos, "topology", `"storefront" or a topology file next to the scenario`, "%v", err)
		} else {
			topo = t
		}
		check(e, s, raw, topo)
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func applyDefaults(s *Scenario, raw *rawRefs) {
	if s.Topology == "" {
		s.Topology = DefaultTopology
	}
	if s.TimeScale == 0 {
		s.TimeScale = DefaultTimeScale
	}
	if s.Policy.Preset == "" {
		s.Policy.Preset = topology.PolicyFragile
	}
	if s.Seed == 0 {
		s.Seed = DefaultSeed
	}
	if !raw.warmupSet {
		s.Warmup = DefaultWarmup
	}
	if !raw.recoverySet {
		s.Recovery = DefaultRecovery
	}
	if len(s.Load.Mix) == 0 {
		s.Load.Mix = map[string]int{"browse": 50, "search": 15, "product": 10, "login": 10, "add_to_cart": 10, "checkout": 5}
	}
}

// ResolveTopology returns the topology a scenario names: "storefront" (built
// in, with the scenario's policy) or a file relative to the scenario.
func ResolveTopology(name, scenarioFile string, pol Policy) (*topology.Topology, error) {
	if name == "" || name == DefaultTopology {
		return topology.Storefront(topology.StorefrontOptions{Policy: pol.Preset, EdgePolicy: pol.Edges})
	}
	p := name
	if !filepath.IsAbs(p) && scenarioFile != "" {
		p = filepath.Join(filepath.Dir(scenarioFile), p)
	}
	return loadTopologyFile(p)
}

// check runs the whole-file rules: references between parts, phase overlap,
// fault kinds and parameters (through the harness registry), selectors that
// must match something in the topology.
func check(e *errs, s *Scenario, raw *rawRefs, topo *topology.Topology) {
	// Phases: unique names, no overlap (in incident time).
	names := map[string]Pos{}
	var phaseNames []string
	for i, p := range s.Phases {
		path := fmt.Sprintf("phases[%d]", i)
		if p.Name != "" {
			if prev, dup := names[p.Name]; dup {
				e.Addf(p.Pos, path+".name", fmt.Sprintf("first used at %d:%d", prev.Line, prev.Col), "duplicate phase name %q", p.Name)
			}
			names[p.Name] = p.Pos
			phaseNames = append(phaseNames, p.Name)
		}
	}
	idx := make([]int, len(s.Phases))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return s.Phases[idx[a]].At < s.Phases[idx[b]].At })
	for k := 1; k < len(idx); k++ {
		prev, cur := s.Phases[idx[k-1]], s.Phases[idx[k]]
		if cur.At < prev.End() {
			e.Addf(cur.atPos, fmt.Sprintf("phases[%d].at", idx[k]),
				fmt.Sprintf("start it at or after %s, or shorten %q", fmtDur(prev.End()), prev.Name),
				"phase %q (at %s) overlaps phase %q (%s–%s)", cur.Name, fmtDur(cur.At), prev.Name, fmtDur(prev.At), fmtDur(prev.End()))
		}
	}
	if len(s.Phases) == 0 && len(e.List()) == 0 {
		e.Addf(s.Pos, "phases", "add at least one phase with faults", "a scenario needs at least one phase")
	}

	var regions []string
	if topo != nil {
		regions = topo.Regions
	}
	loadRegions := make([]string, 0, len(s.Load.Rate))
	for r := range s.Load.Rate {
		loadRegions = append(loadRegions, r)
	}
	sort.Strings(loadRegions)
	if topo != nil {
		for _, r := range loadRegions {
			if !slices.Contains(regions, r) {
				e.Addf(raw.rateRegions[r], "load.rate."+r, yamlx.Suggest(r, regions), "unknown region %q", r)
			}
		}
		for name, p := range raw.policyEdges {
			if topo.Edge(name) == nil {
				e.Addf(p, "policy.edges."+name, yamlx.Suggest(name, edgeNames(topo)), "unknown edge %q", name)
			}
		}
	}
	for j, p := range raw.mixJourneys {
		if !slices.Contains(Journeys, j) {
			e.Addf(p, "load.mix."+j, yamlx.Suggest(j, Journeys), "unknown journey %q", j)
		}
	}
	if len(s.Load.Rate) == 0 && len(e.List()) == 0 {
		e.Addf(s.Pos, "load.rate", `e.g. load: {rate: {us-east-1: 40/s}}`, "no load: give at least one region a rate")
	}

	checkHyp := func(h Hypothesis, path string) {
		if h.During != "" && h.During != EveryPhase && !slices.Contains(phaseNames, h.During) {
			e.Addf(h.Pos, path+".during", yamlx.Suggest(h.During, phaseNames), "unknown phase %q", h.During)
		}
		if h.After != "" && !slices.Contains(phaseNames, h.After) {
			e.Addf(h.Pos, path+".after", yamlx.Suggest(h.After, phaseNames), "unknown phase %q", h.After)
		}
		if h.Journey != "" && !slices.Contains(Journeys, h.Journey) {
			e.Addf(h.Pos, path+".journey", yamlx.Suggest(h.Journey, Journeys), "unknown journey %q", h.Journey)
		} else if h.Journey != "" && s.Load.Mix[h.Journey] == 0 {
			e.Addf(h.Pos, path+".journey", "give it a weight in load.mix", "journey %q gets no load", h.Journey)
		}
		if h.Region != "" && len(loadRegions) > 0 && !slices.Contains(loadRegions, h.Region) {
			e.Addf(h.Pos, path+".region", "objectives and expectations can only judge regions that get load: "+yamlx.Suggest(h.Region, loadRegions), "region %q gets no load", h.Region)
		}
	}
	for i, h := range s.SteadyState {
		checkHyp(h, fmt.Sprintf("steady_state[%d]", i))
	}
	for i, h := range s.Objectives {
		checkHyp(h, fmt.Sprintf("%s[%d]", cmp.Or(s.objectivesKey, "objectives"), i))
	}
	for i, h := range s.Expectations {
		if h.During == EveryPhase {
			e.Addf(h.Pos, fmt.Sprintf("expectations[%d].during", i), "name the phase the source speaks of", `"*" is for objectives only`)
		}
		checkHyp(h, fmt.Sprintf("expectations[%d]", i))
	}
	for i, g := range s.Abort {
		checkHyp(Hypothesis{Journey: g.Journey, Region: g.Region, Pos: g.Pos}, fmt.Sprintf("abort[%d]", i))
	}

	for i := range s.Phases {
		for j := range s.Phases[i].Faults {
			checkFault(e, &s.Phases[i].Faults[j], fmt.Sprintf("phases[%d].faults[%d]", i, j), topo)
		}
	}
}

func edgeNames(t *topology.Topology) []string {
	out := make([]string, 0, len(t.Edges))
	for _, e := range t.Edges {
		out = append(out, e.Name)
	}
	return out
}

func componentNames(t *topology.Topology) []string {
	out := make([]string, 0, len(t.Components))
	for _, c := range t.Components {
		out = append(out, c.Name)
	}
	return out
}

func fmtDur(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.String()
}

// globMatch is path.Match that treats a malformed pattern as no match.
func globMatch(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}
