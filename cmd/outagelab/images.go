package main

import (
	"context"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/outagelab/outagelab/harness/images"
)

var imagesFlags struct {
	pull   bool
	noCLI  bool
	binDir string
}

var imagesCmd = &cobra.Command{
	Use:   "images",
	Short: "Build or find every image the docker runtime needs, without a registry",
	Long: `Build or find the images of the docker runtime and print them:

  storefront  outagelab/storefront:<content hash>  FROM scratch, the static storefront binary
  toxiproxy   outagelab/toxiproxy:2.12.0            FROM scratch, Toxiproxy's server
  postgres    postgres:15 when present locally, else outagelab/datastores:bookworm
  redis       redis:7 when present locally, else outagelab/datastores:bookworm

The datastore image is built once from Debian packages (debootstrap from this
machine's apt mirror, needs root; about a minute). Go images are rebuilt only
when their binary changed. Nothing is pulled unless --pull (or
OUTAGELAB_PULL_IMAGES=1) is given. Also builds bin/toxiproxy-cli, the official
client for the Toxiproxy API that ` + "`outagelab up`" + ` prints.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Minute)
		defer cancel()
		opts := images.Options{Log: cmd.ErrOrStderr(), Pull: imagesFlags.pull, BinDir: imagesFlags.binDir}
		start := time.Now()
		set, err := images.Ensure(ctx, opts)
		if err != nil {
			return withCode(2, fmt.Errorf("images: %w", err))
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tIMAGE\tSOURCE")
		for _, im := range set.All() {
			fmt.Fprintf(w, "%s\t%s\t%s\n", im.Name, im.Ref, im.Source)
		}
		w.Flush()
		if !imagesFlags.noCLI {
			dir := imagesFlags.binDir
			if dir == "" {
				root, err := images.ModuleRoot("")
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: toxiproxy-cli not built: %v\n", err)
					dir = ""
				} else {
					dir = filepath.Join(root, "bin")
				}
			}
			if dir != "" {
				if p, err := images.BuildToxiproxyCLI(ctx, dir); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "outagelab: toxiproxy-cli not built (the images are fine): %v\n", err)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "toxiproxy-cli\t%s\n", p)
				}
			}
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "images ready in %s\n", time.Since(start).Round(10*time.Millisecond))
		return nil
	},
}

func init() {
	imagesCmd.Flags().BoolVar(&imagesFlags.pull, "pull", false, "pull postgres:15 and redis:7 when missing (needs a registry; else they are built from Debian packages)")
	imagesCmd.Flags().BoolVar(&imagesFlags.noCLI, "no-cli", false, "do not build bin/toxiproxy-cli")
	imagesCmd.Flags().StringVar(&imagesFlags.binDir, "bin-dir", "", "where built binaries go (default: <repo>/bin)")
	rootCmd.AddCommand(imagesCmd)
}
