package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/outagelab/outagelab/scenarios"
)

var listCmd = &cobra.Command{
	Use:   "list",
	Short: "List the built-in scenario library",
	Long: `List the built-in scenarios: name, title, incident date, and how long a run
takes at the scenario's own time scale (warm-up + phases + recovery).
Run one with ` + "`outagelab run NAME`" + `.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		lib, err := scenarios.Library()
		if err != nil {
			return withCode(2, fmt.Errorf("the built-in library is invalid (a bug): %w", err))
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tTITLE\tDATE\tDURATION\tSCALE")
		for _, s := range lib {
			date := s.Date
			if date == "" {
				date = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%gx\n", s.Name, s.Title, date, roundDur(s.WallDuration(0)), s.TimeScale)
		}
		return w.Flush()
	},
}

func roundDur(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

func init() { rootCmd.AddCommand(listCmd) }
