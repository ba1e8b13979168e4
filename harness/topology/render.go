package topology

import (
	"fmt"
	"maps"
	"regexp"
	"strconv"
)

// ProxyAddr says where a caller reaches the proxy of an edge, as seen from
// the caller (docker: the Toxiproxy container's alias and proxy port; local:
// 127.0.0.1 and the proxy's loopback port).
type ProxyAddr func(e *Edge) (host string, port int)

// placeholder matches ${edge:NAME}, ${edge:NAME.host}, ${edge:NAME.port} and
// ${edge:NAME.url}. NAME is an edge name or the callee's name among the
// component's outgoing edges.
var placeholder = regexp.MustCompile(`\$\{edge:([a-z0-9_-]+?)(\.(host|port|url))?\}`)

// Args returns the process arguments of c, excluding the executable/image
// entrypoint. For the storefront: [service, Command..., --dep NAME=URL...]
// (the runtime appends its listen/admin flags). For other components:
// Command with ${edge:...} placeholders expanded.
func (t *Topology) Args(c *Component, addr ProxyAddr) ([]string, error) {
	if c.Image == ImageStorefront {
		args := append([]string{c.Service}, c.Command...)
		for _, e := range t.Outgoing(c.Name) {
			host, port := addr(e)
			dep := e.DepName
			if dep == "" {
				dep = e.To
			}
			args = append(args, "--dep", dep+"="+e.Address(host, port))
		}
		return args, nil
	}
	out := make([]string, len(c.Command))
	for i, a := range c.Command {
		s, err := t.expand(c, a, addr)
		if err != nil {
			return nil, fmt.Errorf("component %s: command[%d]: %w", c.Name, i, err)
		}
		out[i] = s
	}
	return out, nil
}

// Env returns c's environment with ${edge:...} placeholders expanded.
func (t *Topology) Env(c *Component, addr ProxyAddr) (map[string]string, error) {
	out := maps.Clone(c.Env)
	for k, v := range c.Env {
		s, err := t.expand(c, v, addr)
		if err != nil {
			return nil, fmt.Errorf("component %s: env %s: %w", c.Name, k, err)
		}
		out[k] = s
	}
	return out, nil
}

// UsesPlaceholders reports whether c's command or env names edge e
// explicitly; otherwise a runtime that can should reach e's callee by alias.
func (t *Topology) UsesPlaceholders(c *Component, e *Edge) bool {
	refs := func(s string) bool {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			if m[1] == e.Name || m[1] == e.To {
				return true
			}
		}
		return false
	}
	for _, a := range c.Command {
		if refs(a) {
			return true
		}
	}
	for _, v := range c.Env {
		if refs(v) {
			return true
		}
	}
	return false
}

func (t *Topology) expand(c *Component, s string, addr ProxyAddr) (string, error) {
	var err error
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		e := t.outgoingNamed(c.Name, sub[1])
		if e == nil {
			if err == nil {
				err = fmt.Errorf("%s: %q is not an outgoing edge of %s (name an edge or a callee)", m, sub[1], c.Name)
			}
			return m
		}
		host, port := addr(e)
		switch sub[3] {
		case "host":
			return host
		case "port":
			return strconv.Itoa(port)
		case "url":
			return e.Address(host, port)
		default:
			return host + ":" + strconv.Itoa(port)
		}
	})
	return out, err
}

func (t *Topology) outgoingNamed(from, name string) *Edge {
	for _, e := range t.Outgoing(from) {
		if e.Name == name || e.To == name {
			return e
		}
	}
	return nil
}

// placeholderRefs returns the NAMEs referenced in s.
func placeholderRefs(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}
