package latch

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecoverTurnsAPanicIntoTheFirstError(t *testing.T) {
	var l Latch
	select {
	case <-l.Done():
		t.Fatal("Done closed before any error")
	default:
	}
	boom := errors.New("boom")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.Recover("worker")
			if i == 0 {
				panic(boom)
			}
			time.Sleep(10 * time.Millisecond)
			panic("later")
		}()
	}
	wg.Wait() // the process is still alive: every panic was recovered
	select {
	case <-l.Done():
	case <-time.After(time.Second):
		t.Fatal("Done not closed after a panic")
	}
	var pe *PanicError
	if err := l.Err(); !errors.As(err, &pe) || !errors.Is(err, boom) || pe.Where != "worker" ||
		!strings.Contains(err.Error(), "panic in worker: boom") || !strings.Contains(string(pe.Stack), "latch_test.go") {
		t.Errorf("Err = %v (%+v), want the first panic, boom, with its stack", err, pe)
	}
	l.Fail(errors.New("another")) // the first error stays
	if !errors.Is(l.Err(), boom) {
		t.Errorf("Err changed to %v", l.Err())
	}
	var nl *Latch
	if nl.Done() != nil || nl.Err() != nil {
		t.Error("a nil latch must never fail")
	}
}
