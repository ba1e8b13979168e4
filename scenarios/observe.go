package scenarios

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/load"
	"github.com/outagelab/outagelab/harness/record"
	"github.com/outagelab/outagelab/harness/topology"
)

// ObservationOptions configure StartObservation.
type ObservationOptions struct {
	// Rates are arrivals per second per region; each region needs a
	// component gateway-<region> with an http port (the storefront's).
	// None: no load, only the recorder.
	Rates map[string]float64
	Mix   load.Mix // default load.DefaultMix
	Seed  int64    // the load's randomness
	RunID string   // makes the load's idempotency keys unique
	// Epoch is the start of bucket 0 for load and recorder alike.
	Epoch  time.Time
	Bucket time.Duration
}

// StartObservation starts the recorder on every component and edge of env's
// topology and, when rates are given, the load generator on the regions'
// gateways (gen is nil otherwise). The caller stops both. On error nothing
// is left running.
//
// Storefront components are scraped for /metrics, /healthz and /readyz;
// other components are probed on their readiness path when they have one,
// else by a TCP connect to their first port.
func StartObservation(ctx context.Context, env *harness.Env, o ObservationOptions) (gen *load.Generator, rec *record.Recorder, err error) {
	t := env.Topology()
	if len(o.Rates) > 0 {
		names := make([]string, 0, len(o.Rates))
		for n := range o.Rates {
			names = append(names, n)
		}
		sort.Strings(names)
		var regions []load.Region
		for _, n := range names {
			gw := "gateway-" + n
			if t.Component(gw) == nil {
				return nil, nil, fmt.Errorf("load for region %s: topology %s has no component %s (load drives the storefront's gateways)", n, t.Name, gw)
			}
			u, err := env.Endpoint(gw, topology.PortHTTP)
			if err != nil {
				return nil, nil, fmt.Errorf("load for region %s: %w", n, err)
			}
			regions = append(regions, load.Region{Name: n, BaseURL: u, Rate: o.Rates[n]})
		}
		gen, err = load.New(load.Config{Regions: regions, Mix: o.Mix, Seed: o.Seed, RunID: o.RunID, Epoch: o.Epoch, Bucket: o.Bucket})
		if err != nil {
			return nil, nil, fmt.Errorf("load generator: %w", err)
		}
	}
	rc, err := recorderConfig(env, t)
	if err != nil {
		return nil, nil, err
	}
	rc.Epoch, rc.Bucket = o.Epoch, o.Bucket
	if gen != nil {
		rc.Load = gen
	}
	rec, err = record.New(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("recorder: %w", err)
	}
	if err := rec.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("start recorder: %w", err)
	}
	if gen != nil {
		if err := gen.Start(ctx); err != nil {
			rec.Stop()
			return nil, nil, fmt.Errorf("start load: %w", err)
		}
	}
	return gen, rec, nil
}

// recorderConfig lists t's components and edges as the recorder's targets.
func recorderConfig(env *harness.Env, t *topology.Topology) (record.Config, error) {
	rc := record.Config{ToxiproxyURL: env.ToxiproxyURL()}
	for _, c := range t.Components {
		tg := record.Target{Name: c.Name, Kind: string(c.Kind), Region: c.Region}
		if _, ok := c.Port(topology.PortHTTP); ok && c.Image == topology.ImageStorefront {
			base, err := env.Endpoint(c.Name, topology.PortHTTP)
			if err != nil {
				return rc, fmt.Errorf("recorder target %s: %w", c.Name, err)
			}
			tg.MetricsURL, tg.HealthURL, tg.ReadyURL = base+"/metrics", base+"/healthz", base+"/readyz"
			if c.Kind == topology.KindMonitoring {
				rc.Monitoring = &record.Monitor{Component: c.Name, StatusURL: base + "/status"}
			}
		} else if len(c.Ports) > 0 {
			addr, err := env.Addr(c.Name, c.Ports[0].Name)
			if err != nil {
				return rc, fmt.Errorf("recorder target %s: %w", c.Name, err)
			}
			tg.TCPAddr = addr
			if r := c.Ready; r.HTTPPath != "" {
				port := r.Port
				if port == "" {
					port = c.Ports[0].Name
				}
				if base, err := env.Endpoint(c.Name, port); err == nil {
					tg.HealthURL, tg.TCPAddr = base+r.HTTPPath, ""
				}
			}
		}
		rc.Components = append(rc.Components, tg)
	}
	for _, e := range t.Edges {
		rc.Edges = append(rc.Edges, record.Edge{Name: e.Name, From: e.From, To: e.To, Dependency: e.DepName})
	}
	return rc, nil
}
