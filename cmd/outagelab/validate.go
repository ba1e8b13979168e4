package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/outagelab/outagelab/scenarios"
)

var validateCmd = &cobra.Command{
	Use:   "validate FILE|NAME...",
	Short: "Check scenario files and print every problem with file:line:col",
	Long: `Validate scenario files (or library names): strict YAML, known fields and
fault kinds, durations, selectors that match the topology, phases that do
not overlap, hypotheses that name real phases, journeys and regions.
Every problem is printed at once as file:line:col: field.path: message (hint).
Exit code 0 when all are valid, 2 otherwise.`,
	Args: cobra.MinimumNArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		bad := 0
		for _, a := range args {
			s, err := scenarios.Resolve(a)
			if err != nil {
				bad++
				var es scenarios.Errors
				if errors.As(err, &es) {
					for _, e := range es {
						fmt.Fprintln(cmd.ErrOrStderr(), e)
					}
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", a, err)
				}
				continue
			}
			for _, w := range s.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), w)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s, %d phases, %d objectives, %d expectations, %s at %gx)\n",
				a, s.Name, len(s.Phases), len(s.Objectives)+len(s.SteadyState), len(s.Expectations), roundDur(s.WallDuration(0)), s.TimeScale)
		}
		if bad > 0 {
			return withCode(2, fmt.Errorf("%d of %d scenario(s) invalid", bad, len(args)))
		}
		return nil
	},
}

func init() { rootCmd.AddCommand(validateCmd) }
