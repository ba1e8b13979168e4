package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/procs"
)

func TestTopologyDiff(t *testing.T) {
	a, err := topology.Storefront(topology.StorefrontOptions{Policy: topology.PolicyFragile})
	if err != nil {
		t.Fatal(err)
	}
	b, err := topology.Storefront(topology.StorefrontOptions{Policy: topology.PolicyHardened})
	if err != nil {
		t.Fatal(err)
	}
	if d := topologyDiff(a, b); d != "" {
		t.Errorf("storefront fragile vs hardened differ in shape: %s", d)
	}
	b.Components = b.Components[1:]
	b.Edges = append(b.Edges, &topology.Edge{Name: "x__y", From: "x", To: "y", Port: "http"})
	d := topologyDiff(a, b)
	for _, want := range []string{"components missing: " + a.Components[0].Name, "edges not in the scenario's: x__y"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff %q lacks %q", d, want)
		}
	}
}

// TestRunAttachTopologyMismatch: `run smoke --attach` on a running topology
// that is not the storefront exits 2 with a message naming both.
func TestRunAttachTopologyMismatch(t *testing.T) {
	procs.RequireRedis(t)
	ctx := context.Background()
	redis := func(name string) *topology.Component {
		return &topology.Component{Name: name, Kind: topology.KindDatastore, Region: "r", Image: topology.ImageRedis,
			Ports: []topology.Port{{Name: topology.PortRedis, Container: 6379}}}
	}
	topo := &topology.Topology{Name: "pair", Regions: []string{"r"}, Components: []*topology.Component{redis("a"), redis("b")},
		Edges: []*topology.Edge{{Name: "a__b", From: "a", To: "b", Port: topology.PortRedis}}}
	env, err := harness.Up(ctx, harness.Options{Runtime: "local", Topology: topo, LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	dir := t.TempDir()
	if _, err := harness.WriteState(env, dir); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OUTAGELAB_STATE_DIR", dir)
	var out, errb bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errb)
	rootCmd.SetArgs([]string{"run", "smoke", "--attach", "--out", t.TempDir()})
	defer rootCmd.SetArgs(nil)
	err = rootCmd.ExecuteContext(ctx)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("run --attach on a mismatched topology: %v, want exit 2", err)
	}
	for _, want := range []string{"smoke needs topology storefront", env.RunID(), "runs pair"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := env.Proxy.Proxy(ctx, "a__b"); err != nil {
		t.Errorf("the attached topology was disturbed: %v", err)
	}
}
