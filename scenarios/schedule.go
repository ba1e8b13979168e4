package scenarios

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/outagelab/outagelab/harness/faults"
)

// Plan is a scenario laid out on the wall clock: what the engine will do and
// when, as offsets from the moment the first phase may start. It is a pure
// function of the scenario, the time scale and the seed.
type Plan struct {
	Scale  float64
	Seed   int64
	Phases []PlannedPhase
	// Total is the end of the last phase (wall time from the first phase's start).
	Total time.Duration
}

// PlannedPhase is one phase on the wall clock.
type PlannedPhase struct {
	Phase
	Start, End time.Duration // wall offsets
	// Specs are the harness faults of the phase, ids "<phase>/<index>".
	Specs []faults.Spec
	// Storms are the phase's retry_storm faults (played by the engine).
	Storms []PlannedStorm
}

// PlannedStorm is one closed-loop retry_storm with its own seeded jitter.
type PlannedStorm struct {
	ID       string
	Selector faults.Selector
	RetryStorm
	// JitterSeed seeds the per-bucket jitter draws of this storm.
	JitterSeed uint64
}

// Jitter returns this storm's jitter source: the same sequence for the same seed.
func (p PlannedStorm) Jitter() *rand.Rand {
	return rand.New(rand.NewPCG(p.JitterSeed, 0x5eed))
}

// MinPhaseWall is the shortest wall-clock phase the engine plays: shorter
// ones would be below the recorder's resolution.
const MinPhaseWall = 2 * time.Second

// PlanRun lays s out at scale (0: the scenario's) with seed (0: the scenario's).
func PlanRun(s *Scenario, scale float64, seed int64) (*Plan, error) {
	if scale <= 0 {
		scale = s.TimeScale
	}
	if seed == 0 {
		seed = s.Seed
	}
	p := &Plan{Scale: scale, Seed: seed}
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(len(s.Phases))))
	order := make([]int, len(s.Phases))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return s.Phases[order[a]].At < s.Phases[order[b]].At })
	for _, i := range order {
		ph := s.Phases[i]
		pp := PlannedPhase{Phase: ph, Start: Scale(ph.At, scale), End: Scale(ph.End(), scale)}
		if pp.End-pp.Start < MinPhaseWall {
			return nil, fmt.Errorf("phase %q lasts %s at %gx, below the %s the recorder can resolve: lower the time scale",
				ph.Name, pp.End-pp.Start, scale, MinPhaseWall)
		}
		for j, f := range ph.Faults {
			id := fmt.Sprintf("%s/%d", ph.Name, j)
			k, ok := lookupKind(f.Kind)
			if !ok {
				return nil, fmt.Errorf("phase %s: unknown fault kind %q", ph.Name, f.Kind)
			}
			if k.engine {
				pp.Storms = append(pp.Storms, PlannedStorm{ID: id, Selector: f.Selector(), RetryStorm: RetryStormFrom(f.Params), JitterSeed: rng.Uint64()})
				continue
			}
			spec, err := f.Spec(id, ph.Name)
			if err != nil {
				return nil, fmt.Errorf("phase %s fault %d: %w", ph.Name, j, err)
			}
			pp.Specs = append(pp.Specs, spec)
		}
		p.Phases = append(p.Phases, pp)
		p.Total = max(p.Total, pp.End)
	}
	return p, nil
}

// Spec converts a (validated) fault to the harness's Spec.
func (f *Fault) Spec(id, phase string) (faults.Spec, error) {
	raw, err := jsonMarshal(f.paramsWithToxic())
	if err != nil {
		return faults.Spec{}, err
	}
	params, err := faults.DecodeParams(f.Kind, raw)
	if err != nil {
		return faults.Spec{}, err
	}
	return faults.Spec{ID: id, Kind: f.Kind, Selector: f.Selector(), Params: params,
		Labels: map[string]string{"phase": phase}}, nil
}

// PhaseAt returns the index of the phase active at wall offset t, or -1.
func (p *Plan) PhaseAt(t time.Duration) int {
	for i, ph := range p.Phases {
		if t >= ph.Start && t < ph.End {
			return i
		}
	}
	return -1
}
