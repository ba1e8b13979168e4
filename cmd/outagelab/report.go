package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/outagelab/outagelab/reports"
)

// outagelab report render RESULT.json --format html,md,junit --out DIR
// outagelab report diff BASE.json HEAD.json [--max-regression 5%] [--format md|html] [--out FILE]

var reportCmd = &cobra.Command{
	Use:   "report",
	Short: "Render a run's result.json as HTML, Markdown or JUnit, or diff two runs",
}

func newReportRenderCmd() *cobra.Command {
	var formats []string
	var out string
	c := &cobra.Command{
		Use:   "render RESULT.json",
		Short: "Render result.json as html, md, junit and/or json into a directory",
		Example: `  outagelab report render out/run/result.json --format html,md,junit --out out/report
  outagelab report render result.json --format md --out . && cat summary.md >> "$GITHUB_STEP_SUMMARY"`,
		Args: reportArgs(1, "RESULT.json"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := reports.Load(args[0])
			if err != nil {
				return withCode(2, fmt.Errorf("read result: %w", err))
			}
			if out == "" {
				out = filepath.Dir(args[0])
			}
			paths, err := reports.Render(r, formats, out)
			if err != nil {
				if strings.Contains(err.Error(), "report format") {
					return withCode(2, err)
				}
				return withCode(2, fmt.Errorf("write reports to %s: %w", out, err))
			}
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	c.Flags().StringSliceVar(&formats, "format", []string{"html", "md", "junit"}, "formats: html, md, junit, json (comma-separated)")
	c.Flags().StringVar(&out, "out", "", "output directory (default: the result's directory)")
	return c
}

func newReportDiffCmd() *cobra.Command {
	var maxReg, format, out string
	c := &cobra.Command{
		Use:   "diff BASE.json HEAD.json",
		Short: "Compare two runs; exit 1 when HEAD regressed past the threshold",
		Long: `Compare two results of a scenario: the score and its parts, objectives
(newly failing), the replay's claims (fidelity), and per journey (success,
p99 per window) and component (worst state, slowest recovery).
Fidelity changes are listed; they gate only when both runs used --fidelity-gate.
Exit codes: 0 no regression past the threshold, 1 a regression, 2 bad input.`,
		Example: `  outagelab report diff main/result.json pr/result.json --max-regression 5% --format md >> "$GITHUB_STEP_SUMMARY"`,
		Args:    reportArgs(2, "BASE.json HEAD.json"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t := reports.DefaultThresholds
			if cmd.Flags().Changed("max-regression") {
				pct, err := parseReportPercent(maxReg)
				if err != nil {
					return usageError("--max-regression %q: %v (write e.g. 5%% or 0.5%%)", maxReg, err)
				}
				t = reports.ThresholdsFromPercent(pct)
			}
			if format != "md" && format != "markdown" && format != "html" {
				return usageError("--format %q: use md or html", format)
			}
			base, err := reports.Load(args[0])
			if err != nil {
				return withCode(2, fmt.Errorf("read base: %w", err))
			}
			head, err := reports.Load(args[1])
			if err != nil {
				return withCode(2, fmt.Errorf("read head: %w", err))
			}
			d := reports.Diff(base, head, t)
			var buf bytes.Buffer
			if format == "html" {
				err = reports.DiffHTML(&buf, d)
			} else {
				err = reports.DiffMarkdown(&buf, d)
			}
			if err != nil {
				return withCode(2, err)
			}
			if out == "" {
				if _, err := cmd.OutOrStdout().Write(buf.Bytes()); err != nil {
					return withCode(2, err)
				}
			} else {
				if st, err := os.Stat(out); err == nil && st.IsDir() {
					name := "diff.md"
					if format == "html" {
						name = "diff.html"
					}
					out = filepath.Join(out, name)
				}
				if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
					return withCode(2, fmt.Errorf("write diff: %w", err))
				}
				fmt.Fprintln(cmd.OutOrStdout(), out)
			}
			if d.Regressed() {
				return withCode(1, fmt.Errorf("%d regression(s) past the threshold; first: %s", len(d.Regressions), d.Regressions[0]))
			}
			return nil
		},
	}
	c.Flags().StringVar(&maxReg, "max-regression", "5%", "largest allowed worsening: success points, p99 and recovery growth, score points")
	c.Flags().StringVar(&format, "format", "md", "output format: md or html")
	c.Flags().StringVar(&out, "out", "", "write to this file (or directory) instead of stdout")
	return c
}

// parseReportPercent reads "5%", "5" or "0.5%" as a percentage.
func parseReportPercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if v < 0 || v > 100 {
		return 0, fmt.Errorf("must be between 0%% and 100%%")
	}
	return v, nil
}

// reportArgs is cobra.ExactArgs with a usage error (exit 2) that names the arguments.
func reportArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s needs %s (got %d argument(s)); see `%s --help`", cmd.CommandPath(), names, len(args), cmd.CommandPath())
		}
		return nil
	}
}

func init() {
	reportCmd.AddCommand(newReportRenderCmd(), newReportDiffCmd())
	rootCmd.AddCommand(reportCmd)
}
