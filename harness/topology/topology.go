// Package topology describes what runs: components and the edges between
// them. It is pure data plus the rules that hold it together (validation,
// dependency order, selectors' raw material); runtimes (harness/docker,
// harness/local) bring a Topology to life.
//
//	caller ──edge──▶ [toxiproxy proxy "<from>__<to>"] ──▶ callee:port
//
// Every edge gets its own Toxiproxy proxy, and a component reaches its
// dependencies only through those proxies: the storefront by configuration
// (`--dep NAME=URL` points at the proxy), a user's own component by
// `${edge:NAME}` placeholders in its env/command or, in Docker, by the proxy
// taking the callee's hostname as a network alias.
package topology

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is what a component is.
type Kind string

const (
	KindService    Kind = "service"
	KindDatastore  Kind = "datastore"
	KindMonitoring Kind = "monitoring"
	KindUser       Kind = "user"
)

// Symbolic images the runtimes know how to build or start. Anything else in
// Component.Image is a user's image reference (docker runtime only).
const (
	ImageStorefront = "storefront"
	ImageToxiproxy  = "toxiproxy"
	ImagePostgres   = "postgres"
	ImageRedis      = "redis"
)

// Well-known port names.
const (
	PortHTTP     = "http"
	PortAdmin    = "admin"
	PortPostgres = "postgres"
	PortRedis    = "redis"
)

// Well-known label keys.
const (
	LabelPlane   = "plane"   // data | internal
	LabelTier    = "tier"    // global | regional | external
	LabelApp     = "app"     // storefront for the built-in topology
	LabelService = "service" // storefront subcommand
)

// Action is something a runtime can do to a running component.
type Action string

const (
	ActionPause   Action = "pause"
	ActionUnpause Action = "unpause"
	ActionStop    Action = "stop"
	ActionStart   Action = "start"
	ActionKill    Action = "kill"
	ActionRestart Action = "restart"
)

// Actions lists every Action in a stable order.
var Actions = []Action{ActionPause, ActionUnpause, ActionStop, ActionStart, ActionKill, ActionRestart}

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return slices.Contains(Actions, a) }

// Topology is components plus edges.
type Topology struct {
	Name       string       `json:"name" yaml:"name"`
	Regions    []string     `json:"regions" yaml:"regions"`
	Components []*Component `json:"components" yaml:"components"`
	Edges      []*Edge      `json:"edges" yaml:"edges"`
}

// Port is a named container/process port.
type Port struct {
	Name string `json:"name" yaml:"name"`
	// Container is the port the component listens on inside its container
	// (docker). The local runtime picks free loopback ports instead.
	Container int `json:"container" yaml:"container"`
}

// Readiness says how to tell a component is ready. HTTP wins over Log when
// both are set; with neither, a TCP connect to the first port is used.
type Readiness struct {
	HTTPPath string        `json:"http_path,omitempty" yaml:"http_path"` // e.g. /readyz; 200 means ready
	Port     string        `json:"port,omitempty" yaml:"port"`           // port name for HTTPPath (default: first port)
	Log      string        `json:"log,omitempty" yaml:"log"`             // regexp matched against the component's output
	Timeout  time.Duration `json:"timeout,omitempty" yaml:"timeout"`     // 0: the runtime's default
}

// Component is one running part.
type Component struct {
	Name   string            `json:"name" yaml:"name"`
	Kind   Kind              `json:"kind" yaml:"kind"`
	Region string            `json:"region" yaml:"region"`
	Labels map[string]string `json:"labels,omitempty" yaml:"labels"`
	// Image is symbolic (ImageStorefront, ImagePostgres, ...) or a user image.
	Image string `json:"image" yaml:"image"`
	// Service is the storefront subcommand when Image is ImageStorefront.
	Service string `json:"service,omitempty" yaml:"service"`
	// Command: for the storefront, extra flags after the subcommand (the
	// runtime adds --listen, --admin-listen, --admin-token and one --dep per
	// outgoing edge); for user images, the full command (may hold ${edge:NAME}).
	Command []string          `json:"command,omitempty" yaml:"command"`
	Env     map[string]string `json:"env,omitempty" yaml:"env"`
	Ports   []Port            `json:"ports" yaml:"ports"`
	Ready   Readiness         `json:"ready" yaml:"ready"`
	// Databases to create in a postgres component before dependents start.
	Databases []string `json:"databases,omitempty" yaml:"databases"`
	// AdminPort names the port of the app-level fault hooks API ("" = none).
	AdminPort string `json:"admin_port,omitempty" yaml:"admin_port"`
}

// Edge is a caller → callee dependency, always through its own proxy.
type Edge struct {
	Name string `json:"name" yaml:"name"` // <from>__<to> unless given
	From string `json:"from" yaml:"from"`
	To   string `json:"to" yaml:"to"`
	Port string `json:"port" yaml:"port"` // callee port name
	// DepName is the name the caller uses for this dependency (`--dep NAME=URL`).
	DepName string `json:"dep_name,omitempty" yaml:"dep_name"`
	// URL is how the caller addresses the dependency, with {host} and {port}
	// replaced by the proxy's address: "http://{host}:{port}",
	// "postgres://postgres@{host}:{port}/orders?sslmode=disable",
	// "redis://{host}:{port}/0". Empty means "{host}:{port}".
	URL string `json:"url,omitempty" yaml:"url"`
}

// EdgeName is the canonical name of the edge from → to.
func EdgeName(from, to string) string { return from + "__" + to }

// Address renders the edge's URL template for a proxy at host:port.
func (e *Edge) Address(host string, port int) string {
	tmpl := e.URL
	if tmpl == "" {
		tmpl = "{host}:{port}"
	}
	r := strings.NewReplacer("{host}", host, "{port}", strconv.Itoa(port))
	return r.Replace(tmpl)
}

// Port returns the named port.
func (c *Component) Port(name string) (Port, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

// Label returns a label value ("" when absent).
func (c *Component) Label(k string) string { return c.Labels[k] }

// Component returns the named component or nil.
func (t *Topology) Component(name string) *Component {
	for _, c := range t.Components {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Edge returns the named edge or nil.
func (t *Topology) Edge(name string) *Edge {
	for _, e := range t.Edges {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// Outgoing returns the edges whose caller is component, in topology order.
func (t *Topology) Outgoing(component string) []*Edge {
	var out []*Edge
	for _, e := range t.Edges {
		if e.From == component {
			out = append(out, e)
		}
	}
	return out
}

// Incoming returns the edges whose callee is component.
func (t *Topology) Incoming(component string) []*Edge {
	var out []*Edge
	for _, e := range t.Edges {
		if e.To == component {
			out = append(out, e)
		}
	}
	return out
}

// Validate checks the topology's internal consistency and returns every
// problem at once (errors.Join), each naming the field path.
func (t *Topology) Validate() error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	if t.Name == "" {
		add("name", "required")
	}
	if len(t.Components) == 0 {
		add("components", "at least one component is required")
	}
	seen := map[string]int{}
	for i, c := range t.Components {
		p := fmt.Sprintf("components[%d]", i)
		if c == nil {
			add(p, "empty component")
			continue
		}
		if err := checkName(c.Name); err != nil {
			add(p+".name", "%v", err)
		} else if j, dup := seen[c.Name]; dup {
			add(p+".name", "duplicate component name %q (also components[%d])", c.Name, j)
		} else {
			seen[c.Name] = i
		}
		switch c.Kind {
		case KindService, KindDatastore, KindMonitoring, KindUser:
		default:
			add(p+".kind", "unknown kind %q (want service, datastore, monitoring or user)", c.Kind)
		}
		if c.Image == "" {
			add(p+".image", "required")
		}
		if c.Image == ImageStorefront && c.Service == "" {
			add(p+".service", "required for the storefront image (the subcommand, e.g. gateway)")
		}
		ports := map[string]bool{}
		for j, port := range c.Ports {
			pp := fmt.Sprintf("%s.ports[%d]", p, j)
			if port.Name == "" {
				add(pp+".name", "required")
			} else if ports[port.Name] {
				add(pp+".name", "duplicate port name %q", port.Name)
			}
			ports[port.Name] = true
			if port.Container < 1 || port.Container > 65535 {
				add(pp+".container", "port %d out of range 1-65535", port.Container)
			}
		}
		if c.Ready.Port != "" && !ports[c.Ready.Port] {
			add(p+".ready.port", "no port named %q", c.Ready.Port)
		}
		if c.AdminPort != "" && !ports[c.AdminPort] {
			add(p+".admin_port", "no port named %q", c.AdminPort)
		}
		if c.Ready.Log != "" {
			if _, err := regexp.Compile(c.Ready.Log); err != nil {
				add(p+".ready.log", "bad regular expression: %v", err)
			}
		}
	}
	edges := map[string]int{}
	for i, e := range t.Edges {
		p := fmt.Sprintf("edges[%d]", i)
		if e == nil {
			add(p, "empty edge")
			continue
		}
		if err := checkName(e.Name); err != nil {
			add(p+".name", "%v", err)
		} else if j, dup := edges[e.Name]; dup {
			add(p+".name", "duplicate edge name %q (also edges[%d])", e.Name, j)
		} else {
			edges[e.Name] = i
		}
		from, to := t.Component(e.From), t.Component(e.To)
		switch {
		case e.From == "":
			add(p+".from", "required")
		case from == nil:
			add(p+".from", "unknown component %q", e.From)
		}
		switch {
		case e.To == "":
			add(p+".to", "required")
		case to == nil:
			add(p+".to", "unknown component %q", e.To)
		default:
			if _, ok := to.Port(e.Port); !ok {
				add(p+".port", "component %q has no port named %q", e.To, e.Port)
			}
		}
		if e.From == e.To && e.From != "" {
			add(p, "an edge cannot point at its own caller")
		}
	}
	// ${edge:NAME} placeholders must name an outgoing edge or callee.
	for i, c := range t.Components {
		if c == nil {
			continue
		}
		check := func(path, s string) {
			for _, ref := range placeholderRefs(s) {
				if t.outgoingNamed(c.Name, ref) == nil {
					errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf("${edge:%s}: %s has no edge to or named %q", ref, c.Name, ref),
						Hint: "add an edge from " + c.Name + " (edges: or depends_on:)"})
				}
			}
		}
		for j, a := range c.Command {
			check(fmt.Sprintf("components[%d].command[%d]", i, j), a)
		}
		keys := make([]string, 0, len(c.Env))
		for k := range c.Env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			check(fmt.Sprintf("components[%d].env.%s", i, k), c.Env[k])
		}
	}
	if _, err := t.Order(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// FieldError is one validation problem at a field path such as
// "components[3].ports[0].name".
type FieldError struct {
	Path string
	Msg  string
	Hint string
}

func (e *FieldError) Error() string {
	s := e.Path + ": " + e.Msg
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// checkName accepts names that are safe as Docker hostnames, proxy names and
// file names: lowercase letters, digits, '-' and '_', starting with a letter.
func checkName(s string) error {
	if s == "" {
		return errors.New("required")
	}
	if len(s) > 63*2+2 {
		return fmt.Errorf("%q is longer than 128 characters", s)
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' && i > 0 || (r == '-' || r == '_') && i > 0
		if !ok {
			return fmt.Errorf("%q: use lowercase letters, digits, '-' and '_', starting with a letter", s)
		}
	}
	return nil
}
