package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/docker"
	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/harness/local"
)

var cleanupFlags struct {
	run       string
	olderThan time.Duration
	all       bool
}

var cleanupCmd = &cobra.Command{
	Use:   "cleanup",
	Short: "Remove the containers and networks that killed runs left behind",
	Long: `Remove every Docker container (forced) and network labelled
org.outagelab.run whose creating process is gone — what a run killed with
SIGKILL, a crash or a test timeout left behind — and the state files of
` + "`outagelab up`" + ` processes and the run directories of local runs that
are gone. Runs still alive in another
process are kept unless --all. Every run also does this when it starts.

Exit code: 0 when everything reachable was cleaned (a host without a
reachable Docker engine only gets a warning), 2 when something could not be
removed.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
		defer cancel()
		// State files of `outagelab up` processes that are gone (any runtime).
		states, serr := harness.SweepStates()
		for _, p := range states {
			fmt.Fprintf(cmd.OutOrStdout(), "removed state file %s\n", p)
		}
		if serr != nil {
			return withCode(2, fmt.Errorf("cleanup: %w", serr))
		}
		// Run directories of local runs killed before their teardown.
		dirs, lerr := local.Sweep()
		for _, d := range dirs {
			fmt.Fprintf(cmd.OutOrStdout(), "removed local run dir %s\n", d)
		}
		if lerr != nil {
			return withCode(2, fmt.Errorf("cleanup: %w", lerr))
		}
		// No Docker here is not a failure of the cleanup: what this host
		// has (local runs, state files) is clean; say what was skipped.
		dockerSkipped := func(err error) error {
			fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: cleanup: warning: Docker is not reachable, so containers and networks of killed docker runs were not looked for (%v); local leftovers were swept. Run `outagelab cleanup` again where the Docker engine answers (DOCKER_HOST=%q).\n",
				err, os.Getenv("DOCKER_HOST"))
			fmt.Fprintf(cmd.OutOrStdout(), "cleanup: removed %d state files and %d local run dirs; Docker not reachable, skipped\n", len(states), len(dirs))
			return nil
		}
		if err := (&docker.Runtime{}).Available(ctx); err != nil {
			return dockerSkipped(err)
		}
		c, err := images.NewClient()
		if err != nil {
			return dockerSkipped(err)
		}
		defer c.Close()
		f := docker.SweepFilter{RunID: cleanupFlags.run, OlderThan: cleanupFlags.olderThan, DeadOwnersOnly: !cleanupFlags.all && cleanupFlags.run == ""}
		removed, err := docker.Sweep(ctx, c, f)
		var nc, nn int
		for _, r := range removed {
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", r)
			if r.Kind == "container" {
				nc++
			} else {
				nn++
			}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "cleanup: removed %d containers and %d networks\n", nc, nn)
		if err != nil {
			return withCode(2, err)
		}
		return nil
	},
}

func init() {
	cleanupCmd.Flags().StringVar(&cleanupFlags.run, "run", "", "remove only this run's objects (even if its process lives)")
	cleanupCmd.Flags().DurationVar(&cleanupFlags.olderThan, "older-than", 0, "keep objects created less than this long ago")
	cleanupCmd.Flags().BoolVar(&cleanupFlags.all, "all", false, "also remove runs whose process is still alive")
	rootCmd.AddCommand(cleanupCmd)
}
