package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/local"
	"github.com/outagelab/outagelab/internal/procs"
)

// scaleRegions are the points of the scale curve.
var scaleRegions = []int{1, 2, 4}

// storefrontBinEnv resolves the storefront binary once in this process and
// hands it to children, so no child times a `go build`.
func storefrontBinEnv(b *testing.B) {
	b.Helper()
	if os.Getenv("OUTAGELAB_STOREFRONT_BIN") != "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := local.FindStorefront(ctx)
	if err != nil {
		b.Skipf("storefront binary: %v", err)
	}
	os.Setenv("OUTAGELAB_STOREFRONT_BIN", p)
}

// lastReady keeps the per-component start times of the last 2-region local
// start, for BenchmarkComponentStart.
var lastReady map[string]float64

// BenchmarkScaleUp is the scale curve of the local runtime: a storefront
// with 1, 2 and 4 regional stacks (ScaledStorefront) brought up in a fresh
// harness process. It reports time to healthy (s-to-healthy), the harness
// process's resident memory once up (harness-RSS-MB; budget < 200 MB), the
// memory of every component it started (components-PSS-MB, PSS so shared
// pages count once), the teardown time, and the topology's size.
// Run with -benchtime=1x (each iteration starts a whole topology).
func BenchmarkScaleUp(b *testing.B) {
	procs.RequireBinaries(b)
	storefrontBinEnv(b)
	for _, n := range scaleRegions {
		b.Run(fmt.Sprintf("runtime=local/regions=%d", n), func(b *testing.B) {
			scaleUp(b, "local", n)
		})
	}
}

func scaleUp(b *testing.B, runtime string, regions int) {
	var up, teardown, harnessRSS, compPSS, compRSS float64
	var comps, edges int
	for b.Loop() {
		c := startChild(b, runtime, regions)
		b.StopTimer()
		time.Sleep(time.Second) // let start-up garbage settle, as in a run
		m, err := ReadMem(c.cmd.Process.Pid)
		if err != nil {
			c.stop(b)
			b.Fatal(err)
		}
		if runtime == "local" {
			topo, _ := ScaledStorefront(regions, defaultOpts)
			cm, err := ComponentsMem(c.cmd.Process.Pid, names(topo))
			if err != nil {
				c.stop(b)
				b.Fatal(err)
			}
			if len(cm) != len(topo.Components) {
				c.stop(b)
				b.Fatalf("found the processes of %d of %d components", len(cm), len(topo.Components))
			}
			compPSS, compRSS = 0, 0
			for _, v := range cm {
				compPSS += v.TreePSS
				compRSS += v.RSS
			}
		}
		c.stop(b)
		b.StartTimer()
		up += c.Report.UpSeconds
		teardown += c.Report.Teardown
		harnessRSS = max(harnessRSS, m.RSS)
		comps, edges = c.Report.Components, c.Report.Edges
		if runtime == "local" && regions == 2 {
			lastReady = c.Report.Ready
		}
	}
	n := float64(b.N)
	b.ReportMetric(up/n, "s-to-healthy")
	b.ReportMetric(teardown/n, "s-teardown")
	b.ReportMetric(harnessRSS, "harness-RSS-MB")
	if runtime == "local" {
		b.ReportMetric(compPSS, "components-PSS-MB")
	}
	b.ReportMetric(float64(comps), "components")
	b.ReportMetric(float64(edges), "edges")
}

// BenchmarkComponentStart reports each component's start → ready time in
// the 2-region storefront started by the local runtime (taken from the last
// BenchmarkScaleUp regions=2 start, or from a start of its own).
func BenchmarkComponentStart(b *testing.B) {
	procs.RequireBinaries(b)
	storefrontBinEnv(b)
	if lastReady == nil {
		c := startChild(b, "local", 2)
		c.stop(b)
		lastReady = c.Report.Ready
	}
	ready := lastReady
	keys := make([]string, 0, len(ready))
	for k := range ready {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.Run("component="+k, func(b *testing.B) {
			for b.Loop() {
			}
			b.ReportMetric(ready[k], "s-to-ready")
		})
	}
}
