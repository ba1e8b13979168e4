package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/procs"
)

// outagelabBin returns the CLI: $OUTAGELAB_BIN, else bin/outagelab of this
// source tree (make bench builds it first), else one built into a temp dir.
func outagelabBin(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("OUTAGELAB_BIN"); p != "" {
		return p
	}
	root, err := filepath.Abs("..")
	if err != nil {
		b.Fatal(err)
	}
	if p := filepath.Join(root, "bin", "outagelab"); fileIsExec(p) && fileIsExec(filepath.Join(root, "bin", "storefront")) {
		return p
	}
	dir := b.TempDir()
	for _, pkg := range []string{"outagelab", "storefront"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, pkg), "./cmd/"+pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			b.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
	return filepath.Join(dir, "outagelab")
}

func fileIsExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// runMem is what one sampled run measured.
type runMem struct {
	wall       time.Duration
	samples    int
	harnessRSS float64 // peak VmRSS of the outagelab process, MB
	harnessHWM float64 // its VmHWM at the last sample
	compsPSS   float64 // peak of the components' summed tree PSS
	comps      map[string]ComponentMem
}

var runResult struct {
	done bool
	mem  runMem
	err  error
}

// BenchmarkRunMemory plays testdata/run.yaml with the real CLI
// (`outagelab run … --runtime local --format html`): the storefront up,
// load at 120 journeys/s, a storefront-wide phase, reports rendered. It
// samples from outside, every 200 ms, the outagelab process's resident
// memory (harness: embedded Toxiproxy, load generator, recorder, engine;
// ARCHITECTURE.md budget < 200 MB) and each component process it started (budget:
// each storefront service < 40 MB RSS). One run serves every sub-benchmark;
// use -benchtime=1x.
func BenchmarkRunMemory(b *testing.B) {
	procs.RequireBinaries(b)
	if !runResult.done {
		runResult.mem, runResult.err = sampleRun(b, outagelabBin(b))
		runResult.done = true
	}
	if runResult.err != nil {
		b.Fatal(runResult.err)
	}
	m := runResult.mem
	b.Run("harness", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(max(m.harnessRSS, m.harnessHWM), "peak-RSS-MB")
		b.ReportMetric(m.compsPSS, "components-PSS-MB")
		b.ReportMetric(m.wall.Seconds(), "s-run")
		b.ReportMetric(float64(m.samples), "samples")
	})
	keys := make([]string, 0, len(m.comps))
	for k := range m.comps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cm := m.comps[k]
		b.Run("component="+k, func(b *testing.B) {
			for b.Loop() {
			}
			b.ReportMetric(cm.RSS, "peak-RSS-MB")
			b.ReportMetric(cm.TreePSS, "peak-tree-PSS-MB")
			b.ReportMetric(float64(cm.Procs), "procs")
		})
	}
}

func sampleRun(b *testing.B, bin string) (runMem, error) {
	topo, err := topology.Storefront(topology.StorefrontOptions{})
	if err != nil {
		return runMem{}, err
	}
	want := names(topo)
	out := b.TempDir()
	cmd := exec.Command(bin, "run", "testdata/run.yaml", "--runtime", "local", "--out", out, "--format", "html")
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return runMem{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	m := runMem{comps: map[string]ComponentMem{}}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			m.wall = time.Since(start)
			var ee *exec.ExitError
			// Exit 1 is a hypothesis that did not hold: the run itself was whole.
			if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
				return m, errors.New("outagelab run: " + err.Error() + "\n" + tail(stderr.String(), 3000))
			}
			if len(m.comps) != len(want) {
				var missing []string
				for n := range want {
					if _, ok := m.comps[n]; !ok {
						missing = append(missing, n)
					}
				}
				slices.Sort(missing)
				return m, errors.New("never saw the processes of " + strings.Join(missing, ", "))
			}
			return m, nil
		case <-tick.C:
			pid := cmd.Process.Pid
			hm, err := ReadMem(pid)
			if err != nil {
				continue // exiting
			}
			m.samples++
			m.harnessRSS = max(m.harnessRSS, hm.RSS)
			m.harnessHWM = hm.HWM
			cm, err := ComponentsMem(pid, want)
			if err != nil {
				continue
			}
			var sum float64
			for k, v := range cm {
				sum += v.TreePSS
				prev := m.comps[k]
				m.comps[k] = ComponentMem{PID: v.PID, Procs: max(prev.Procs, v.Procs), RSS: max(prev.RSS, v.RSS), TreePSS: max(prev.TreePSS, v.TreePSS)}
			}
			m.compsPSS = max(m.compsPSS, sum)
		}
	}
}
