package reports

import (
	"math"

	"github.com/outagelab/outagelab/reports/result"
)

// ScoreFormula is result.ScoreFormula: the score is part of the run record,
// written by the engine; renderers only recompute it for a result that has
// none (written before scores were recorded).
const ScoreFormula = result.ScoreFormula

// ScoreOf is result.ScoreOf: nil for a run that could not judge.
func ScoreOf(r *result.Result) *result.Score { return result.ScoreOf(r) }

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
