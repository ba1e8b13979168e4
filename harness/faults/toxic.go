package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/outagelab/outagelab/harness/proxy"
)

// Stream values for toxic kinds.
const (
	StreamDownstream = "downstream" // callee → caller (Toxiproxy's default)
	StreamUpstream   = "upstream"   // caller → callee
	StreamBoth       = "both"       // one toxic per direction
)

// ToxicParams are the settings every Toxiproxy-backed kind shares.
type ToxicParams struct {
	// Toxicity is the probability (0..1) that a new connection gets the
	// toxic; rolled per connection, not per request. Default 1.
	Toxicity float64 `json:"toxicity" yaml:"toxicity"`
	// Stream is downstream (default), upstream or both.
	Stream string `json:"stream" yaml:"stream"`
}

// DefaultToxic returns toxicity 1, downstream.
func DefaultToxic() ToxicParams { return ToxicParams{Toxicity: 1, Stream: StreamDownstream} }

// Validate checks toxicity and stream.
func (p ToxicParams) Validate() error {
	var errs []error
	if p.Toxicity < 0 || p.Toxicity > 1 || p.Toxicity != p.Toxicity {
		errs = append(errs, fmt.Errorf("toxicity: %v out of range 0..1", p.Toxicity))
	}
	switch p.Stream {
	case StreamDownstream, StreamUpstream, StreamBoth, "":
	default:
		errs = append(errs, fmt.Errorf("stream: %q unknown (want downstream, upstream or both)", p.Stream))
	}
	return errors.Join(errs...)
}

func (p ToxicParams) streams() []string {
	switch p.Stream {
	case StreamUpstream:
		return []string{StreamUpstream}
	case StreamBoth:
		return []string{StreamDownstream, StreamUpstream}
	default:
		return []string{StreamDownstream}
	}
}

// ToxicName derives a Toxiproxy-safe toxic name from a fault id and stream.
func ToxicName(id, stream string) string {
	var b strings.Builder
	b.WriteString("ol_")
	for _, r := range id {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteString("_")
	b.WriteString(stream)
	return b.String()
}

// applyToxic adds one toxic per stream to the target edge's proxy.
func applyToxic(ctx context.Context, env *Env, id string, t Target, typ string, p ToxicParams, attrs proxy.Attributes) error {
	if t.Edge == nil {
		return fmt.Errorf("%s: target %q is not an edge", typ, t.Name())
	}
	for _, s := range p.streams() {
		tx := proxy.Toxic{Name: ToxicName(id, s), Type: typ, Stream: s, Toxicity: float32(p.Toxicity), Attributes: attrs}
		if err := env.Proxy.AddToxic(ctx, t.Edge.Name, tx); err != nil {
			return fmt.Errorf("%s on %s: %w", typ, t.Edge.Name, err)
		}
	}
	return nil
}

// removeToxic removes the toxics applyToxic added, falling back to
// recreating the proxy when removal fails or hangs (reported loudly).
func removeToxic(ctx context.Context, env *Env, id string, t Target, p ToxicParams) error {
	if t.Edge == nil {
		return nil
	}
	var errs []error
	for _, s := range p.streams() {
		how, err := env.Proxy.RemoveToxicGuaranteed(ctx, t.Edge.Name, ToxicName(id, s), env.RemoveTimeout, env.spec(t.Edge.Name))
		if how == proxy.RemovedByRecreate {
			env.log().Error("FAULT REMOVAL FELL BACK: toxic could not be removed; proxy deleted and recreated (open connections dropped)",
				"fault", id, "edge", t.Edge.Name, "err", err)
			if env.onRecreate != nil && err == nil {
				env.onRecreate(context.WithoutCancel(ctx), t.Edge.Name)
			}
			errs = append(errs, &FallbackError{Fault: id, Target: t.Edge.Name, Err: err})
			if err == nil {
				break // the proxy is fresh: every stream's toxic is gone
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// FallbackError says a removal needed the fallback. Err is nil when the
// fallback worked (the fault is gone, but the proxy's open connections were
// dropped and other faults on it re-applied).
type FallbackError struct {
	Fault, Target string
	Err           error
}

func (e *FallbackError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("fault %s on %s: removal fell back to recreating the proxy", e.Fault, e.Target)
	}
	return fmt.Sprintf("fault %s on %s: removal failed, fallback failed too: %v", e.Fault, e.Target, e.Err)
}

func (e *FallbackError) Unwrap() error { return e.Err }

// spec returns a remembered proxy spec for recreation (nil: ask the API).
func (e *Env) spec(name string) *proxy.Spec {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.specs[name]
}

// RememberProxies records every proxy's listen/upstream so a proxy can be
// recreated even when its API calls hang.
func (e *Env) RememberProxies(ctx context.Context) error {
	ps, err := e.Proxy.Proxies(ctx)
	if err != nil {
		return fmt.Errorf("remember proxies: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.specs == nil {
		e.specs = map[string]*proxy.Spec{}
	}
	for n, p := range ps {
		e.specs[n] = &proxy.Spec{Name: n, Listen: p.Listen, Upstream: p.Upstream, Enabled: true}
	}
	return nil
}
