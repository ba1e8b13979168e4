package record

// Failed is closed when one of the recorder's goroutines panicked: the
// panic is recovered, the process keeps running, and Err says what
// happened. Sampling may have stopped; whoever runs the recorder should end
// the run with that error. A nil Recorder never fails.
func (r *Recorder) Failed() <-chan struct{} {
	if r == nil {
		return nil
	}
	return r.failed.Done()
}

// Err is the recovered panic (a *latch.PanicError) once Failed is closed.
func (r *Recorder) Err() error {
	if r == nil {
		return nil
	}
	return r.failed.Err()
}
