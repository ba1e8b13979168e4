package docker

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/effect"
)

// flipper answers inspect with a running container until the n-th call,
// then with state.
type flipper struct {
	n     int32
	calls atomic.Int32
	state container.State
}

func (f *flipper) ContainerInspect(ctx context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	st := container.State{Status: container.StateRunning, Running: true}
	if f.calls.Add(1) >= f.n {
		st = f.state
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{State: &st}}, nil
}

func TestWaitEffect(t *testing.T) {
	var seen time.Time
	ctx := effect.WithObserver(context.Background(), func(at time.Time) { seen = at })
	f := &flipper{n: 3, state: container.State{Status: container.StatePaused, Running: true, Paused: true}}
	before := time.Now()
	if err := waitEffect(ctx, f, "abc", "svc", topology.ActionPause); err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() != 3 {
		t.Errorf("returned after %d inspects, want 3 (the first that showed it paused)", f.calls.Load())
	}
	if seen.Before(before) || seen.After(time.Now()) {
		t.Errorf("observed moment %v not reported", seen)
	}

	f = &flipper{n: 2, state: container.State{Status: "exited"}}
	if err := waitEffect(ctx, f, "abc", "svc", topology.ActionKill); err != nil || f.calls.Load() != 2 {
		t.Errorf("kill: %v after %d inspects", err, f.calls.Load())
	}

	// Never paused: a bounded wait and an error that says what it saw.
	old := effectTimeout
	effectTimeout = 100 * time.Millisecond
	defer func() { effectTimeout = old }()
	f = &flipper{n: 1 << 30}
	err := waitEffect(ctx, f, "0123456789abcdef", "svc", topology.ActionPause)
	if err == nil || !strings.Contains(err.Error(), "not paused") || !strings.Contains(err.Error(), "state: running") ||
		!strings.Contains(err.Error(), "docker inspect 0123456789ab") {
		t.Errorf("never paused: %v", err)
	}
	// Start's effect is readiness, not a state: nothing to poll.
	if err := waitEffect(ctx, &flipper{n: 1 << 30}, "x", "svc", topology.ActionStart); err != nil {
		t.Error(err)
	}
}
