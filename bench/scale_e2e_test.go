//go:build e2e

package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/docker"
	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/internal/testenv"
)

func init() {
	// In a child: find or build every image before the timer starts, then
	// run the docker runtime on exactly those images.
	childPrepare["docker"] = func(ctx context.Context) error {
		set, err := images.Ensure(ctx, images.Options{})
		if err != nil {
			return err
		}
		harness.RegisterRuntime(docker.Name, &docker.Runtime{Images: &set})
		return nil
	}
}

// BenchmarkScaleUpDocker is BenchmarkScaleUp on the docker runtime (images
// present: built before the timer starts): time to healthy, teardown and the
// harness process's memory for 1, 2 and 4 regions. Component memory lives in
// the engine and is not reported here. Run with -tags e2e -benchtime=1x.
func BenchmarkScaleUpDocker(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	testenv.Need(b, "a Docker engine", (&docker.Runtime{}).Available(ctx))
	// Build the images once here so no child pays for it.
	ictx, icancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer icancel()
	if _, err := images.Ensure(ictx, images.Options{}); err != nil {
		b.Fatal(err)
	}
	for _, n := range scaleRegions {
		b.Run(fmt.Sprintf("runtime=docker/regions=%d", n), func(b *testing.B) {
			scaleUp(b, "docker", n)
		})
	}
}
