package load

// Failed is closed when one of the generator's goroutines panicked (a bug,
// or an Observer that panics): the panic is recovered, the process keeps
// running, and Err says what happened. Whoever runs the load should end the
// run with that error. A nil Generator never fails.
func (g *Generator) Failed() <-chan struct{} {
	if g == nil {
		return nil
	}
	return g.failed.Done()
}

// Err is the recovered panic (a *latch.PanicError) once Failed is closed.
func (g *Generator) Err() error {
	if g == nil {
		return nil
	}
	return g.failed.Err()
}
