// Package faults is the registry of fault kinds and the applier that puts
// them on a running topology and takes them off again.
//
// Like Toxiproxy's toxics/, every kind is one file that ends with a Register
// call (latency.go, timeout.go, pause.go, ...); CREATING_FAULTS.md explains
// how to add one. A kind is a typed parameter struct with JSON/YAML tags that
// knows how to Validate itself (every error at once), Apply itself to one
// target and Remove itself again.
//
//	Spec{Kind, Selector, Params} ──Resolve──▶ targets (edges | components)
//	     │                                        │ one goroutine each,
//	     ▼                                        ▼ released together
//	Applier.Apply ─────────▶ Toxiproxy API / runtime action / admin API
//	     │                     (time of effect recorded per target)
//	     ▼
//	Applier.Remove / RemoveAll ── guaranteed: toxic removal that fails or
//	                              hangs falls back to recreating the proxy
package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/outagelab/outagelab/harness/proxy"
	"github.com/outagelab/outagelab/harness/topology"
)

// Scope is what a kind acts on.
type Scope string

const (
	ScopeEdge      Scope = "edge"      // a Toxiproxy proxy (or the caller's app hooks for that dependency)
	ScopeComponent Scope = "component" // a running component
)

// Fault is a kind's typed parameters and behaviour. Implementations are
// pointer types registered with Register.
type Fault interface {
	// Validate returns every problem with the parameters (errors.Join), each
	// starting with the parameter's JSON name.
	Validate() error
	// Apply puts the fault on one target. id is unique among active faults
	// and safe to derive names from (see ToxicName).
	Apply(ctx context.Context, env *Env, id string, t Target) error
	// Remove takes it off again. It must succeed when Apply partly failed.
	Remove(ctx context.Context, env *Env, id string, t Target) error
}

// Kind describes one registered fault kind.
type Kind struct {
	Name    string
	Scope   Scope
	Summary string
	// New returns a fresh parameter value with defaults filled in.
	New func() Fault
	// Toxic is the Toxiproxy toxic type when the kind is one ("" otherwise).
	Toxic string
	// OneShot kinds act at Apply and have nothing to undo (restart).
	OneShot bool
}

var (
	regMu sync.RWMutex
	reg   = map[string]Kind{}
)

// Register adds a kind. It panics on a duplicate or malformed kind: that is a
// programming error caught by the package's tests at init.
func Register(k Kind) {
	regMu.Lock()
	defer regMu.Unlock()
	if k.Name == "" || k.New == nil || (k.Scope != ScopeEdge && k.Scope != ScopeComponent) {
		panic(fmt.Sprintf("faults: malformed kind %+v", k))
	}
	if _, dup := reg[k.Name]; dup {
		panic("faults: kind registered twice: " + k.Name)
	}
	reg[k.Name] = k
}

// Lookup returns a registered kind.
func Lookup(name string) (Kind, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	k, ok := reg[name]
	return k, ok
}

// Kinds returns every registered kind sorted by name.
func Kinds() []Kind {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Kind, 0, len(reg))
	for _, k := range reg {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Kind) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// KindNames returns the registered kind names sorted.
func KindNames() []string {
	var out []string
	for _, k := range Kinds() {
		out = append(out, k.Name)
	}
	return out
}

// New returns the default parameters of kind, or an error naming the known kinds.
func New(kind string) (Fault, error) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("unknown fault kind %q (known: %s)", kind, strings.Join(KindNames(), ", "))
	}
	return k.New(), nil
}

// DecodeParams decodes a kind's parameters strictly from JSON (unknown
// attributes are errors) over its defaults, then validates them.
func DecodeParams(kind string, raw json.RawMessage) (Fault, error) {
	f, err := New(kind)
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(f); err != nil {
			return nil, fmt.Errorf("%s: %w (attributes: %s)", kind, err, strings.Join(Attributes(kind), ", "))
		}
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return f, nil
}

// Target is one thing a fault acts on.
type Target struct {
	Edge      *topology.Edge      // set for ScopeEdge
	Component *topology.Component // set for ScopeComponent
}

// Name is the edge or component name.
func (t Target) Name() string {
	if t.Edge != nil {
		return t.Edge.Name
	}
	if t.Component != nil {
		return t.Component.Name
	}
	return ""
}

// System is what faults act on; harness.Deployment satisfies it.
type System interface {
	Topology() *topology.Topology
	ComponentAction(ctx context.Context, component string, action topology.Action) error
	AdminEndpoint(component string) (string, error)
	AdminToken() string
}

// Env is what a fault's Apply/Remove get: the system, the Toxiproxy API and
// shared bookkeeping so overlapping faults compose (two "down" faults on one
// proxy keep it down until both are removed; app hooks are merged).
type Env struct {
	System System
	Proxy  *proxy.Client
	// RemoveTimeout bounds one toxic removal before the proxy-recreate fallback.
	RemoveTimeout time.Duration
	// Log receives the loud reports of removal fallbacks (nil: slog.Default).
	Log *slog.Logger

	mu         sync.Mutex
	seed       int64          // the run's seed (SetSeed): app-level draws derive from it
	counts     map[string]int // refcounts: "down:<proxy>", "pause:<component>", ...
	hooks      map[string]map[string]hookPart
	hookLocks  map[string]*sync.Mutex
	specs      map[string]*proxy.Spec // proxy specs learnt for recreation
	onRecreate func(ctx context.Context, proxy string)
}

// NewEnv returns an Env for sys and the Toxiproxy API client px.
func NewEnv(sys System, px *proxy.Client) *Env {
	return &Env{System: sys, Proxy: px, RemoveTimeout: 3 * time.Second}
}

func (e *Env) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// acquire increments a refcount and reports whether it was the first holder.
func (e *Env) acquire(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts = map[string]int{}
	}
	e.counts[key]++
	return e.counts[key] == 1
}

// release decrements a refcount and reports whether it was the last holder.
func (e *Env) release(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts[key] <= 0 {
		return false
	}
	e.counts[key]--
	if e.counts[key] == 0 {
		delete(e.counts, key)
		return true
	}
	return false
}

// Duration is a time.Duration that reads "800ms"/"1.5s" strings or plain
// numbers (milliseconds) from JSON and YAML, and writes strings.
type Duration time.Duration

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes "800ms".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads "800ms", "1.5s" or a bare number of milliseconds.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if v, err := time.ParseDuration(s); err == nil {
		*d = Duration(v)
		return nil
	}
	var ms float64
	if _, err := fmt.Sscanf(s, "%g", &ms); err == nil && fmt.Sprint(ms) == strings.TrimLeft(s, "+") {
		*d = Duration(ms * float64(time.Millisecond))
		return nil
	}
	return fmt.Errorf("invalid duration %q (write e.g. 800ms, 1.5s, 2m)", s)
}

// UnmarshalJSON accepts a string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return d.UnmarshalText([]byte(s))
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("invalid duration %s (write e.g. \"800ms\" or a number of milliseconds)", b)
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

// Attributes lists a kind's parameter names (JSON names), for hints.
func Attributes(kind string) []string {
	f, err := New(kind)
	if err != nil {
		return nil
	}
	b, _ := json.Marshal(f)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
