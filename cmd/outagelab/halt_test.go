package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/gameday"
	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/testenv"
)

// TestHaltCommand runs `outagelab halt` against a real console on two
// redis-server processes with a toxic on their edge.
func TestHaltCommand(t *testing.T) {
	testenv.NeedTool(t, "redis-server")
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
	con, err := gameday.New(gameday.Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if err := con.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer con.Finish(ctx, "test over")
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	if _, err := con.ApplyFault(ctx, gameday.FaultRequest{Kind: "down", Selector: faults.Selector{Edges: []string{"a__b"}}}); err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := writeTokenFile(tokFile, con.Token()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(tokFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v %v", fi.Mode(), err)
	}

	var out bytes.Buffer
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = haltCall(cctx, &out, srv.URL+"/api/halt", "wrong-token-wrong-token", "")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	if len(env.Faults.Active()) != 1 {
		t.Fatal("a refused halt removed faults")
	}
	b, _ := os.ReadFile(tokFile)
	if err := haltCall(cctx, &out, srv.URL+"/api/halt", strings.TrimSpace(string(b)), "terminal"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "halted: 1 fault(s) removed") {
		t.Errorf("output %q", out.String())
	}
	px, err := env.Proxy.Proxy(ctx, "a__b")
	if err != nil || !px.Enabled || len(px.ActiveToxics) != 0 {
		t.Errorf("proxy after halt: %+v %v", px, err)
	}
	var who string
	for _, e := range con.State().Events {
		if e.Kind == "halt" {
			who = e.Actor
		}
	}
	if who != "terminal" {
		t.Errorf("halt audited as by %q", who)
	}
}
