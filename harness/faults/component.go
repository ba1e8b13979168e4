package faults

import (
	"context"
	"fmt"

	"github.com/outagelab/outagelab/harness/topology"
)

// componentFault is the shared behaviour of pause, stop and kill: an action
// on apply, its inverse on removal, refcounted per component so overlapping
// faults compose.
func componentApply(ctx context.Context, env *Env, t Target, key string, do topology.Action) error {
	if t.Component == nil {
		return fmt.Errorf("target %q is not a component", t.Name())
	}
	if !env.acquire(key + ":" + t.Component.Name) {
		return nil
	}
	if err := env.System.ComponentAction(ctx, t.Component.Name, do); err != nil {
		env.release(key + ":" + t.Component.Name)
		return err
	}
	return nil
}

func componentRemove(ctx context.Context, env *Env, id string, t Target, key string, undo topology.Action) error {
	if t.Component == nil || !env.release(key+":"+t.Component.Name) {
		return nil
	}
	err := env.System.ComponentAction(ctx, t.Component.Name, undo)
	if err != nil {
		env.log().Error("FAULT REMOVAL FAILED: component could not be brought back", "fault", id,
			"component", t.Component.Name, "action", undo, "err", err)
		// one retry: a start racing a slow stop is the usual cause
		if err2 := env.System.ComponentAction(ctx, t.Component.Name, undo); err2 == nil {
			return nil
		}
	}
	return err
}
