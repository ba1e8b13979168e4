package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/effect"
)

// effectTimeout bounds how long an action waits to see its effect in the
// container's state (the caller's deadline applies when sooner).
var effectTimeout = 30 * time.Second

// wantState is the container state an action's effect shows as; ok false
// for actions whose effect is readiness (start, restart), checked elsewhere.
func wantState(a topology.Action) (desc string, holds func(*container.State) bool, ok bool) {
	switch a {
	case topology.ActionPause:
		return "paused", func(s *container.State) bool { return s.Paused }, true
	case topology.ActionUnpause:
		return "running and not paused", func(s *container.State) bool { return s.Running && !s.Paused }, true
	case topology.ActionStop, topology.ActionKill:
		return "not running", func(s *container.State) bool { return !s.Running }, true
	}
	return "", nil, false
}

// inspector is the part of the Docker API waitEffect needs.
type inspector interface {
	ContainerInspect(ctx context.Context, id string, o client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

// waitEffect polls the container's state until action's effect shows, and
// reports that moment to ctx's effect observer. It returns an error saying
// what the state is when the effect does not show within effectTimeout.
func waitEffect(ctx context.Context, cli inspector, id, name string, action topology.Action) error {
	desc, holds, ok := wantState(action)
	if !ok {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), effectTimeout)
	defer cancel()
	last := "unknown"
	for {
		r, err := cli.ContainerInspect(wctx, id, client.ContainerInspectOptions{})
		now := time.Now()
		if err == nil && r.Container.State != nil {
			if holds(r.Container.State) {
				effect.Observed(ctx, now)
				return nil
			}
			last = string(r.Container.State.Status)
		} else if err != nil {
			last = "inspect failed: " + err.Error()
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("%s %s: the Docker API accepted it but the container is not %s after %s (state: %s); check `docker inspect %s`",
				action, name, desc, effectTimeout, last, shortID(id))
		case <-time.After(10 * time.Millisecond):
		}
	}
}
