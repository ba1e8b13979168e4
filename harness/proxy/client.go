// Package proxy talks to Toxiproxy: a context-aware client for the
// Toxiproxy HTTP API (the types are the official client's,
// github.com/Shopify/toxiproxy/v2/client) and an embedded server for the
// local runtime.
//
//	caller ──▶ 127.0.0.1:P (proxy "<edge>") ──[toxics]──▶ callee
//	                    ▲
//	harness ──HTTP──▶ Toxiproxy API (/proxies, /proxies/{p}/toxics, /reset)
//
// The official Go client has no context and a fixed 30 s timeout with the
// default transport's two idle connections per host; applying a phase's
// faults to every edge at once needs deadlines (a toxic removal can hang
// under load, see Toxiproxy's issue tracker) and a pool wide enough that
// concurrent calls do not queue, so the calls are made here. ToxiproxyClient
// returns the official client for anything else.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Types of the official client, re-exported so callers need one import.
type (
	Toxic      = toxiclient.Toxic
	Attributes = toxiclient.Attributes
	Proxy      = toxiclient.Proxy
)

// Streams of a toxic.
const (
	Upstream   = "upstream"   // client → server
	Downstream = "downstream" // server → client (Toxiproxy's default)
)

// Spec describes one proxy to create.
type Spec struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  bool   `json:"enabled"`
}

// APIError is an error answer from Toxiproxy.
type APIError struct {
	Status  int
	Message string
	Op      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("toxiproxy %s: %d %s", e.Op, e.Status, e.Message)
}

// IsNotFound reports whether err is Toxiproxy's 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// Client is a context-aware Toxiproxy API client. Every call is bounded:
// by ctx, and by CallTimeout whatever ctx allows (a wedged Toxiproxy never
// answers, see Server).
type Client struct {
	base string
	hc   *http.Client
	// CallTimeout bounds each API call (default DefaultCallTimeout). Set it
	// before the client is shared.
	CallTimeout time.Duration
}

// DefaultCallTimeout bounds one API call unless ctx ends earlier.
const DefaultCallTimeout = 5 * time.Second

// FallbackTimeout bounds RemoveToxicGuaranteed's fallback (reading,
// deleting and recreating the proxy, then a reset) as a whole.
const FallbackTimeout = 15 * time.Second

// NewClient returns a client for the API at base (http://127.0.0.1:8474 or
// 127.0.0.1:8474).
func NewClient(base string) *Client {
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	tr := &http.Transport{
		Proxy:               nil, // never route loopback API calls through an HTTP proxy
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	// The transport's own limits are a backstop behind the per-call
	// context: no call outlives them even if a caller's ctx never ends.
	tr.ResponseHeaderTimeout = time.Minute
	return &Client{base: strings.TrimRight(base, "/"), hc: &http.Client{Transport: tr, Timeout: time.Minute}, CallTimeout: DefaultCallTimeout}
}

// URL is the API base URL.
func (c *Client) URL() string { return c.base }

// ToxiproxyClient returns the official client for the same server.
func (c *Client) ToxiproxyClient() *toxiclient.Client { return toxiclient.NewClient(c.base) }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, op, method, path string, in, out any) error {
	bound := c.CallTimeout
	if bound <= 0 {
		bound = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, bound) // ctx's earlier deadline wins
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("toxiproxy %s: encode: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("toxiproxy %s: %w", op, err)
	}
	req.Header.Set("User-Agent", "outagelab")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("toxiproxy %s: read answer: %w", op, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &APIError{Status: resp.StatusCode, Message: msg, Op: op}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("toxiproxy %s: decode answer: %w", op, err)
		}
	}
	return nil
}

func p(s string) string { return url.PathEscape(s) }

// Version returns the server's version string.
func (c *Client) Version(ctx context.Context) (string, error) {
	var v struct {
		Version string `json:"version"`
	}
	// Older servers answer plain text; accept both.
	var raw json.RawMessage
	if err := c.do(ctx, "version", http.MethodGet, "/version", nil, &raw); err != nil {
		return "", err
	}
	if json.Unmarshal(raw, &v) == nil && v.Version != "" {
		return v.Version, nil
	}
	return strings.Trim(string(raw), "\" \n"), nil
}

// Ping succeeds when the API answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Version(ctx)
	return err
}

// Proxies returns every proxy with its toxics.
func (c *Client) Proxies(ctx context.Context) (map[string]*Proxy, error) {
	out := map[string]*Proxy{}
	if err := c.do(ctx, "list proxies", http.MethodGet, "/proxies", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Proxy returns one proxy with its toxics.
func (c *Client) Proxy(ctx context.Context, name string) (*Proxy, error) {
	var out Proxy
	if err := c.do(ctx, "get proxy "+name, http.MethodGet, "/proxies/"+p(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Populate creates or replaces the proxies in one call.
func (c *Client) Populate(ctx context.Context, specs []Spec) error {
	_, err := c.PopulateProxies(ctx, specs)
	return err
}

// PopulateProxies is Populate returning the proxies as created (Listen holds
// the real address when a spec asked for port 0).
func (c *Client) PopulateProxies(ctx context.Context, specs []Spec) ([]*Proxy, error) {
	var out struct {
		Proxies []*Proxy `json:"proxies"`
	}
	if err := c.do(ctx, "populate", http.MethodPost, "/populate", specs, &out); err != nil {
		return nil, err
	}
	return out.Proxies, nil
}

// CreateProxy creates one proxy and returns it as created (Listen holds the
// real address when s.Listen asked for port 0).
func (c *Client) CreateProxy(ctx context.Context, s Spec) (*Proxy, error) {
	var out Proxy
	if err := c.do(ctx, "create proxy "+s.Name, http.MethodPost, "/proxies", s, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteProxy deletes one proxy (its listener closes, connections drop).
func (c *Client) DeleteProxy(ctx context.Context, name string) error {
	return c.do(ctx, "delete proxy "+name, http.MethodDelete, "/proxies/"+p(name), nil, nil)
}

// SetEnabled enables or disables a proxy. Disabled = listener closed, open
// connections closed, new connections refused.
func (c *Client) SetEnabled(ctx context.Context, name string, enabled bool) error {
	return c.do(ctx, fmt.Sprintf("set proxy %s enabled=%v", name, enabled), http.MethodPost, "/proxies/"+p(name),
		map[string]any{"enabled": enabled}, nil)
}

// SetUpstream points a proxy at a new upstream address (open connections
// are dropped).
func (c *Client) SetUpstream(ctx context.Context, name, upstream string) error {
	return c.do(ctx, "set upstream of "+name, http.MethodPost, "/proxies/"+p(name),
		map[string]any{"upstream": upstream}, nil)
}

// AddToxic adds a toxic to a proxy. Unlike the official client, Toxicity is
// sent as given: set it (1 = every connection); 0 means never.
func (c *Client) AddToxic(ctx context.Context, proxyName string, t Toxic) error {
	return c.do(ctx, "add toxic "+t.Name+" to "+proxyName, http.MethodPost, "/proxies/"+p(proxyName)+"/toxics", t, nil)
}

// UpdateToxic updates a toxic's toxicity and attributes.
func (c *Client) UpdateToxic(ctx context.Context, proxyName string, t Toxic) error {
	return c.do(ctx, "update toxic "+t.Name+" on "+proxyName, http.MethodPost,
		"/proxies/"+p(proxyName)+"/toxics/"+p(t.Name), map[string]any{"toxicity": t.Toxicity, "attributes": t.Attributes}, nil)
}

// RemoveToxic removes a toxic. A missing toxic is not an error.
func (c *Client) RemoveToxic(ctx context.Context, proxyName, toxic string) error {
	err := c.do(ctx, "remove toxic "+toxic+" from "+proxyName, http.MethodDelete, "/proxies/"+p(proxyName)+"/toxics/"+p(toxic), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// Reset enables every proxy and removes every toxic (POST /reset).
func (c *Client) Reset(ctx context.Context) error {
	return c.do(ctx, "reset", http.MethodPost, "/reset", nil, nil)
}

// Recreate deletes a proxy and creates it again with the same listen and
// upstream addresses, enabled and without toxics: the last resort when a
// toxic cannot be removed.
func (c *Client) Recreate(ctx context.Context, name string, known *Spec) error {
	// The server's current view wins (an upstream may have moved since
	// known was recorded); known is for when the API cannot answer that.
	spec := known
	gctx, cancel := context.WithTimeout(ctx, time.Second)
	px, err := c.Proxy(gctx, name)
	cancel()
	if err == nil {
		spec = &Spec{Name: px.Name, Listen: px.Listen, Upstream: px.Upstream}
	} else if spec == nil {
		return fmt.Errorf("recreate proxy %s: %w", name, err)
	}
	s := *spec
	s.Enabled = true
	if err := c.DeleteProxy(ctx, name); err != nil && !IsNotFound(err) {
		return fmt.Errorf("recreate proxy %s: %w", name, err)
	}
	// The listener may take a moment to be released.
	for i := 0; i < 20; i++ {
		if _, err = c.CreateProxy(ctx, s); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recreate proxy %s: %w (last: %v)", name, ctx.Err(), err)
		case <-time.After(25 * time.Millisecond):
		}
	}
	return fmt.Errorf("recreate proxy %s: %w", name, err)
}

// Removal says how a toxic was removed.
type Removal string

const (
	RemovedCleanly    Removal = "removed"
	RemovedByRecreate Removal = "proxy_recreated"
)

// RemoveToxicGuaranteed removes a toxic, waiting at most timeout for the
// API. If removal fails or hangs it deletes and recreates the proxy (which
// drops every toxic and open connection on it) and reports that it did; the
// returned error is non-nil only when even that failed. It returns within
// timeout + FallbackTimeout.
func (c *Client) RemoveToxicGuaranteed(ctx context.Context, proxyName, toxic string, timeout time.Duration, known *Spec) (Removal, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	err := c.RemoveToxic(rctx, proxyName, toxic)
	cancel()
	if err == nil {
		return RemovedCleanly, nil
	}
	if IsNotFound(err) {
		return RemovedCleanly, nil
	}
	// The fallback runs even when ctx is already cancelled (the caller is
	// cleaning up), but never longer than FallbackTimeout.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), FallbackTimeout)
	defer fcancel()
	if rerr := c.Recreate(fctx, proxyName, known); rerr != nil {
		return RemovedByRecreate, fmt.Errorf("remove toxic %s from %s: %v; fallback: %w", toxic, proxyName, err, rerr)
	}
	return RemovedByRecreate, nil
}
