package faults

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/services/platform"
)

func TestHookSeedDerivation(t *testing.T) {
	a, b := &Env{}, &Env{}
	a.SetSeed(7)
	b.SetSeed(7)
	if a.HookSeed("p/0", "checkout") != b.HookSeed("p/0", "checkout") {
		t.Fatal("one run seed, fault and component gave two hook seeds")
	}
	seen := map[int64]string{}
	for _, c := range []struct {
		seed      int64
		id, comp  string
		different string
	}{
		{7, "p/0", "checkout", "base"},
		{7, "p/0", "cart-us-east-1", "component"},
		{7, "p/1", "checkout", "fault id"},
		{8, "p/0", "checkout", "run seed"},
		{7, "p/0c", "heckout", "id/component boundary"},
	} {
		e := &Env{}
		e.SetSeed(c.seed)
		s := e.HookSeed(c.id, c.comp)
		if s < 0 || s >= 1<<53 {
			t.Errorf("hook seed %d is outside [0, 2^53)", s)
		}
		if prev, ok := seen[s]; ok {
			t.Errorf("changing the %s did not change the hook seed (same as %s)", c.different, prev)
		}
		seen[s] = c.different
	}
}

func TestHookMergeKeepsTheWinningSeed(t *testing.T) {
	s1, s2 := int64(11), int64(22)
	got, _ := merge(map[string]hookPart{
		"a": {ErrorRate: 0.2, ErrorStatus: 500, Seed: &s1},
		"b": {ErrorRate: 0.6, ErrorStatus: 503, Seed: &s2},
		"c": {Delay: time.Second},
	})
	if got.Seed == nil || *got.Seed != s2 || got.ErrorRate != 0.6 {
		t.Fatalf("merge = %+v: want the seed of the fault whose error rate wins (22)", got)
	}
	got, _ = merge(map[string]hookPart{"c": {Delay: time.Second}})
	if got.Seed != nil {
		t.Fatalf("hooks without an error rate carry no seed: %+v", got)
	}
}

// platformSystem serves the storefront admin API of one real platform server.
type platformSystem struct {
	topo  *topology.Topology
	admin string
}

func (s platformSystem) Topology() *topology.Topology { return s.topo }
func (s platformSystem) ComponentAction(context.Context, string, topology.Action) error {
	return errors.New("component actions are not part of this test")
}
func (s platformSystem) AdminEndpoint(string) (string, error) { return "http://" + s.admin, nil }
func (s platformSystem) AdminToken() string                   { return "secret" }

// httpErrorPattern applies an http_error fault (rate 0.5) through the
// applier to a fresh real storefront server under run seed seed, sends n
// requests one after the other and returns which got the injected 503.
func httpErrorPattern(t *testing.T, seed int64, n int) string {
	t.Helper()
	cfg, err := platform.NewFlagSet("checkout").Parse([]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--admin-token", "secret"},
		func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := platform.NewWithLogger(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.Mux.HandleFunc("GET /api/checkout", func(w http.ResponseWriter, r *http.Request) {
		platform.WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	topo := &topology.Topology{Name: "one", Components: []*topology.Component{{Name: "checkout", Kind: topology.KindService, Image: "x", Region: "r1",
		Ports: []topology.Port{{Name: "http", Container: 80}, {Name: "admin", Container: 90}}, AdminPort: "admin"}}}
	env := NewEnv(platformSystem{topo: topo, admin: srv.AdminAddr()}, nil)
	env.SetSeed(seed)
	app := NewApplier(env, slog.New(slog.DiscardHandler))
	if _, err := app.Apply(ctx, Spec{ID: "errors/0", Kind: "http_error", Selector: Selector{Components: []string{"checkout"}},
		Params: &HTTPError{Rate: 0.5, Status: 503}}); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for range n {
		r, err := http.Get("http://" + srv.Addr() + "/api/checkout")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		switch r.StatusCode {
		case http.StatusOK:
			sb.WriteByte('.')
		case http.StatusServiceUnavailable:
			sb.WriteByte('x')
		default:
			t.Fatalf("status %d, want 200 or the injected 503", r.StatusCode)
		}
	}
	if _, err := app.RemoveAll(ctx); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// TestHTTPErrorFollowsTheRunSeed: the same run seed fails the same
// requests of a fresh component; another run seed fails others.
func TestHTTPErrorFollowsTheRunSeed(t *testing.T) {
	const n = 120
	a, b := httpErrorPattern(t, 7, n), httpErrorPattern(t, 7, n)
	if a != b {
		t.Fatalf("run seed 7 gave two fault sequences:\n%s\n%s", a, b)
	}
	if hits := strings.Count(a, "x"); hits < n/4 || hits > 3*n/4 {
		t.Fatalf("rate 0.5 failed %d of %d requests: %s", hits, n, a)
	}
	if c := httpErrorPattern(t, 8, n); c == a {
		t.Fatalf("run seeds 7 and 8 gave the same fault sequence: %s", a)
	}
}
