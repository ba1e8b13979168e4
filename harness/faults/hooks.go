package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// hookPart is one fault's contribution to a component's app-level hooks
// (the storefront admin API, CONTRACT.md "Admin API"). Several faults on one
// component are merged: the highest error rate wins (with its status), delays
// add up, empty_discovery lists are united, routes are united unless one
// contribution applies to every route.
type hookPart struct {
	ErrorRate      float64
	ErrorStatus    int
	Delay          time.Duration
	EmptyDiscovery []string
	Routes         []string
	// Seed seeds the component's error draws (nil: the component draws one).
	Seed *int64
}

// adminFaults is the admin API body.
type adminFaults struct {
	ErrorRate      float64  `json:"error_rate,omitempty"`
	ErrorStatus    int      `json:"error_status,omitempty"`
	DelayMs        int64    `json:"delay_ms,omitempty"`
	EmptyDiscovery []string `json:"empty_discovery,omitempty"`
	Routes         []string `json:"routes,omitempty"`
	Seed           *int64   `json:"seed,omitempty"`
}

// SetSeed sets the run's seed: the app-level faults applied afterwards
// derive their draws from it (see HookSeed).
func (e *Env) SetSeed(seed int64) {
	e.mu.Lock()
	e.seed = seed
	e.mu.Unlock()
}

// HookSeed is the seed an app-level fault sends to a component's admin
// API: derived from the run's seed, the fault's id and the component, so
// each target draws its own deterministic sequence and one fault's draws do
// not shift when another fault or target is added. It fits in 53 bits (JSON
// readers with float64 numbers keep it exact).
func (e *Env) HookSeed(faultID, component string) int64 {
	e.mu.Lock()
	seed := e.seed
	e.mu.Unlock()
	h := fnv.New64a()
	fmt.Fprintf(h, "outagelab/app-hook\x00%d\x00%s\x00%s", seed, faultID, component)
	return int64(h.Sum64() & (1<<53 - 1))
}

func merge(parts map[string]hookPart) (adminFaults, bool) {
	var out adminFaults
	if len(parts) == 0 {
		return out, false
	}
	ids := make([]string, 0, len(parts))
	for id := range parts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	allRoutes := false
	for _, id := range ids {
		p := parts[id]
		if p.ErrorRate > out.ErrorRate {
			// The winning error rate draws from its own fault's seed.
			out.ErrorRate, out.ErrorStatus, out.Seed = p.ErrorRate, p.ErrorStatus, p.Seed
		}
		out.DelayMs += p.Delay.Milliseconds()
		for _, d := range p.EmptyDiscovery {
			if !slices.Contains(out.EmptyDiscovery, d) {
				out.EmptyDiscovery = append(out.EmptyDiscovery, d)
			}
		}
		if len(p.Routes) == 0 && (p.ErrorRate > 0 || p.Delay > 0) {
			allRoutes = true
		}
		for _, r := range p.Routes {
			if !slices.Contains(out.Routes, r) {
				out.Routes = append(out.Routes, r)
			}
		}
	}
	if allRoutes {
		out.Routes = nil
	}
	return out, true
}

// setHook records a contribution and pushes the merged hooks to component.
func (e *Env) setHook(ctx context.Context, component, id string, part hookPart) error {
	l := e.hookLock(component)
	l.Lock()
	defer l.Unlock()
	e.mu.Lock()
	if e.hooks == nil {
		e.hooks = map[string]map[string]hookPart{}
	}
	if e.hooks[component] == nil {
		e.hooks[component] = map[string]hookPart{}
	}
	e.hooks[component][id] = part
	body, _ := merge(e.hooks[component])
	e.mu.Unlock()
	return e.pushHooks(ctx, component, &body)
}

// clearHook drops a contribution and pushes what is left (DELETE when none).
func (e *Env) clearHook(ctx context.Context, component, id string) error {
	l := e.hookLock(component)
	l.Lock()
	defer l.Unlock()
	e.mu.Lock()
	delete(e.hooks[component], id)
	body, any := merge(e.hooks[component])
	e.mu.Unlock()
	if !any {
		return e.pushHooks(ctx, component, nil)
	}
	return e.pushHooks(ctx, component, &body)
}

// hookLock serialises merge+push per component so merged states arrive in order.
func (e *Env) hookLock(component string) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hookLocks == nil {
		e.hookLocks = map[string]*sync.Mutex{}
	}
	if e.hookLocks[component] == nil {
		e.hookLocks[component] = &sync.Mutex{}
	}
	return e.hookLocks[component]
}

// pushHooks sends the merged hooks (nil: DELETE) to the component's admin API.
func (e *Env) pushHooks(ctx context.Context, component string, body *adminFaults) error {
	base, err := e.System.AdminEndpoint(component)
	if err != nil {
		return fmt.Errorf("admin hooks on %s: %w", component, err)
	}
	method := http.MethodDelete
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		method, rd = http.MethodPut, bytes.NewReader(b)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/admin/faults", rd)
	if err != nil {
		return fmt.Errorf("admin hooks on %s: %w", component, err)
	}
	req.Header.Set("Authorization", "Bearer "+e.System.AdminToken())
	req.Header.Set("Content-Type", "application/json")
	resp, err := adminClient.Do(req)
	if err != nil {
		return fmt.Errorf("admin hooks on %s: %w", component, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("admin hooks on %s: %s %s: %d %s", component, method, base+"/admin/faults", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

var adminClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}
