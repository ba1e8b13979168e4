package scenarios

import "github.com/outagelab/outagelab/internal/yamlx"

// Pos is a position in a scenario file (1-based line and column).
type Pos = yamlx.Pos

// Error is one problem found in a scenario file.
//
// It prints as `file:line:col: field.path: message (hint)`, the form editors
// and CI annotations understand.
type Error = yamlx.Error

// Errors is every problem found in one file, in file order. Load returns all
// of them at once so that a user fixes a file in one pass.
type Errors = yamlx.Errors

// errs collects problems for one file.
type errs = yamlx.Collector

// maxErrors bounds the error list: a garbage file must not produce megabytes of output.
const maxErrors = 200

func newErrs(file string) *errs { return &yamlx.Collector{File: file, Max: maxErrors} }
