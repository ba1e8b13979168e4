package scenarios

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/record"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/reports/result"
)

// fakeDeployment is the storefront's topology with every component's HTTP
// answering from one stub, its datastores refusing connections (the
// invariants cannot be checked: an error, quickly) and component actions
// recorded.
type fakeDeployment struct {
	topo *topology.Topology
	toxi *proxy.Server
	addr string // host:port of the stub
	dead string // host:port where nothing listens

	mu      sync.Mutex
	actions []string
}

func (d *fakeDeployment) RunID() string                           { return "panic-test" }
func (d *fakeDeployment) RuntimeName() string                     { return "fake" }
func (d *fakeDeployment) Topology() *topology.Topology            { return d.topo }
func (d *fakeDeployment) ToxiproxyURL() string                    { return d.toxi.URL() }
func (d *fakeDeployment) Addr(string, string) (string, error)     { return d.dead, nil }
func (d *fakeDeployment) Endpoint(string, string) (string, error) { return "http://" + d.addr, nil }
func (d *fakeDeployment) AdminEndpoint(string) (string, error)    { return "http://" + d.addr, nil }
func (d *fakeDeployment) AdminToken() string                      { return "t" }
func (d *fakeDeployment) Teardown(context.Context) error          { return nil }
func (d *fakeDeployment) ComponentAction(_ context.Context, c string, a topology.Action) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.actions = append(d.actions, string(a)+" "+c)
	return nil
}

type panicTransport struct{ after time.Time }

func (p panicTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if time.Now().After(p.after) {
		panic("recorder transport bug")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A panic in a load-generator or recorder goroutine does not crash the
// process: the run ends early with an error naming it, the phase's faults
// are rolled back, and a partial result.json (status failed) is written.
func TestPanicInObservationEndsTheRunWithAnError(t *testing.T) {
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"products":[]}`)
	}))
	defer stub.Close()
	toxi, err := proxy.StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer toxi.Close()
	topo, err := ResolveTopology("", "", Policy{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("panic.yaml", []byte(`
name: panic-test
title: a bug in the observation ends the run
time_scale: 1
warmup: 1s
recovery: 1s
load: {rate: {us-east-1: 20/s}, mix: {browse: 1}}
phases:
  - {name: frozen, at: 0, for: 60s, faults: [{kind: pause, components: {names: [recommendations-us-east-1]}}]}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, want string
		inject     func(o *ObservationOptions, lc *load.Config, rc *record.Config)
	}{
		{"load observer", "load generator failed", func(o *ObservationOptions, lc *load.Config, rc *record.Config) {
			after := o.Epoch.Add(2 * time.Second) // inside the phase
			lc.Observer = func(load.StepResult) {
				if time.Now().After(after) {
					panic("observer bug")
				}
			}
		}},
		{"recorder scrape", "recorder failed", func(o *ObservationOptions, lc *load.Config, rc *record.Config) {
			rc.Client = &http.Client{Transport: panicTransport{after: o.Epoch.Add(2 * time.Second)}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep := &fakeDeployment{topo: topo, toxi: toxi, addr: strings.TrimPrefix(stub.URL, "http://"), dead: deadAddr(t)}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			env, err := harness.NewEnv(ctx, dep, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func(orig func(context.Context, *harness.Env, ObservationOptions) (*load.Generator, *record.Recorder, error)) {
				startObservation = orig
			}(startObservation)
			startObservation = func(ctx context.Context, env *harness.Env, o ObservationOptions) (*load.Generator, *record.Recorder, error) {
				lc := load.Config{Regions: []load.Region{{Name: "us-east-1", BaseURL: stub.URL, Rate: 20}}, Epoch: o.Epoch, Bucket: o.Bucket}
				rc := record.Config{Epoch: o.Epoch, Bucket: o.Bucket, Components: []record.Target{{Name: "gateway-us-east-1", HealthURL: stub.URL + "/healthz"}}}
				tc.inject(&o, &lc, &rc)
				gen, err := load.New(lc)
				if err != nil {
					return nil, nil, err
				}
				rc.Load = gen
				rec, err := record.New(rc)
				if err != nil {
					return nil, nil, err
				}
				if err := rec.Start(ctx); err != nil {
					return nil, nil, err
				}
				if err := gen.Start(ctx); err != nil {
					rec.Stop()
					return nil, nil, err
				}
				return gen, rec, nil
			}
			out := t.TempDir()
			start := time.Now()
			res, err := Run(ctx, s, RunOptions{Env: env, Out: out})
			if took := time.Since(start); took > 45*time.Second {
				t.Errorf("run took %v: the panic did not end it (the phase lasts 60 s)", took)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "panic in") {
				t.Fatalf("Run error = %v, want %q and the panic", err, tc.want)
			}
			if res.Status.State != "failed" || res.Verdict != result.VerdictError || !strings.Contains(res.Status.Reason, "panic in") {
				t.Errorf("status %+v verdict %s, want failed/error naming the panic", res.Status, res.Verdict)
			}
			written, rerr := result.Read(filepath.Join(out, "result.json"))
			if rerr != nil {
				t.Fatalf("partial result.json: %v", rerr)
			}
			if written.Status.State != "failed" || len(written.Phases) != 1 || written.Phases[0].EndedAt.IsZero() {
				t.Errorf("result.json: status %+v, phases %+v: want failed with the phase ended", written.Status, written.Phases)
			}
			dep.mu.Lock()
			acts := strings.Join(dep.actions, "; ")
			dep.mu.Unlock()
			if acts != "pause recommendations-us-east-1; unpause recommendations-us-east-1" {
				t.Errorf("component actions %q: want the pause applied and rolled back", acts)
			}
			if a := env.Faults.Active(); len(a) != 0 {
				t.Errorf("%d faults still active", len(a))
			}
		})
	}
}

// newFakeDeployment serves every component of the storefront topology from
// handler, with a real Toxiproxy for the edges; closed with the test.
func newFakeDeployment(t *testing.T, handler http.Handler) *fakeDeployment {
	t.Helper()
	stub := httptest.NewServer(handler)
	t.Cleanup(stub.Close)
	toxi, err := proxy.StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { toxi.Close() })
	topo, err := ResolveTopology("", "", Policy{})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeDeployment{topo: topo, toxi: toxi, addr: strings.TrimPrefix(stub.URL, "http://"), dead: deadAddr(t)}
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}
