// Package latch records the first failure of a group of background
// goroutines (a load generator's, a recorder's) so that whoever drives them
// learns of it: a panic in one of them is recovered into an error instead
// of ending the process, and the run that depends on them ends with that
// error (faults rolled back, partial result written).
//
//	go func() { defer l.Recover("pacer us-east-1"); ... }()
//	select { case <-l.Done(): return l.Err() ... }
package latch

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// Latch holds the first error set on it. The zero value is ready to use.
type Latch struct {
	mu  sync.Mutex
	ch  chan struct{}
	err error
}

func (l *Latch) chLocked() chan struct{} {
	if l.ch == nil {
		l.ch = make(chan struct{})
	}
	return l.ch
}

// Done is closed once an error is set. A nil *Latch never fails: its Done
// is nil (blocks forever in a select).
func (l *Latch) Done() <-chan struct{} {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.chLocked()
}

// Err returns the first error set, nil while none is.
func (l *Latch) Err() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Fail sets err unless an error is already set; nil is ignored.
func (l *Latch) Fail(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.err = err
	close(l.chLocked())
}

// Recover, deferred directly in a goroutine (defer l.Recover("what")),
// turns a panic in it into a *PanicError set on l; the goroutine ends
// normally and the process keeps running.
func (l *Latch) Recover(where string) {
	if p := recover(); p != nil {
		l.Fail(&PanicError{Where: where, Value: p, Stack: debug.Stack()})
	}
}

// PanicError is a panic recovered in a background goroutine.
type PanicError struct {
	Where string // which goroutine ("load: journey checkout")
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack at the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic in %s: %v (a bug: please report it with the stack in the run log)", e.Where, e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
