package docker

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/harness/topology"
)

func init() { harness.ContainerActionFunc = ContainerAction }

// ContainerAction acts on a container by ID through the Docker API, for an
// Env attached (harness.Attach) to a topology another process owns. Unlike
// Deployment.ComponentAction it does not wait for readiness after start
// (the attached Env does that from the state file's addresses).
func ContainerAction(ctx context.Context, id string, action topology.Action) error {
	cli, err := images.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	grace, zero := 5, 0
	switch action {
	case topology.ActionPause:
		_, err = cli.ContainerPause(ctx, id, client.ContainerPauseOptions{})
	case topology.ActionUnpause:
		_, err = cli.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
	case topology.ActionStop:
		_, err = cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &grace})
	case topology.ActionKill:
		_, err = cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"})
	case topology.ActionStart:
		_, err = cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	case topology.ActionRestart:
		if _, err = cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &zero}); err == nil {
			_, err = cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
		}
	default:
		return fmt.Errorf("docker: unknown action %q (want one of %v)", action, topology.Actions)
	}
	if err != nil {
		return err
	}
	return waitEffect(ctx, cli, id, id, action)
}
