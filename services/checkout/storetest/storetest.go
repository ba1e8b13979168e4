// Package storetest runs the real storefront services in-process on
// loopback ports, against real PostgreSQL and Redis processes
// (internal/procs), for integration tests and benchmarks.
//
//	test ─▶ gateway ─▶ catalog, recommendations, cart, identity, checkout
//	                   checkout ─▶ identity, cart-us-east-1, orders, payment
//	        postgres (catalog + orders databases), redis (cart)
//
// Each service runs its own Main with the command-line flags of
// CONTRACT.md, so the tests exercise what the binary runs. A service can be
// stopped and started again (same port) to stage an outage.
package storetest

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/procs"
	"github.com/outagelab/outagelab/services/cart"
	"github.com/outagelab/outagelab/services/catalog"
	"github.com/outagelab/outagelab/services/checkout"
	"github.com/outagelab/outagelab/services/identity"
	"github.com/outagelab/outagelab/services/orders"
	"github.com/outagelab/outagelab/services/payment"
	"github.com/outagelab/outagelab/services/recommendations"
)

// AdminToken is the admin API token of every service the stack starts.
const AdminToken = "storetest-admin"

// Region is the region every service of the stack runs in.
const Region = "us-east-1"

// Mains maps a service name to its entry point.
var Mains = map[string]func(context.Context, []string) error{
	"identity": identity.Main,
	// identity-regional is a second identity with the same users and key
	// (a region's replica); the gateway logs in through it when hardened.
	"identity-regional": identity.Main,
	"catalog":           catalog.Main,
	"cart":              cart.Main,
	"recommendations":   recommendations.Main,
	"orders":            orders.Main,
	"payment":           payment.Main,
	"checkout":          checkout.Main,
}

// Options choose what the stack runs.
type Options struct {
	// Policy is the --policy of every service ("fragile" when empty).
	Policy string
	// Services to start, in order; nil starts the checkout path
	// (identity, cart, orders, payment, checkout). Add "catalog" and
	// "recommendations" for the gateway.
	Services []string
	// Extra flags per service (e.g. payment: --latency 50ms).
	Extra map[string][]string
	// ExtraMains adds entry points (the gateway's tests add the gateway,
	// which this package cannot import without a cycle).
	ExtraMains map[string]func(context.Context, []string) error
	// ReplicaDep is the gateway's dependency name for the identity-regional
	// service when it runs: "identity-regional" (default: the region's own
	// replica) or "identity-failover" (another region's, tried last).
	ReplicaDep string
}

// Stack is a running storefront.
type Stack struct {
	t       testing.TB
	opts    Options
	PG      *procs.Postgres
	Redis   *procs.Redis
	ports   map[string]int
	admin   map[string]int
	mu      sync.Mutex
	running map[string]*running
	args    map[string][]string
	mains   map[string]func(context.Context, []string) error
}

type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Main returned; err is its error
	err    error
}

// SigningSeed is the identities' ed25519 seed (hex): fixed, so a replica
// signs and verifies with the same key.
var SigningSeed = strings.Repeat("5e", 32)

// CheckoutPath is the default service list.
var CheckoutPath = []string{"identity", "cart", "orders", "payment", "checkout"}

// Start brings the stack up (skipping the test when postgres or
// redis-server is missing and CI is unset) and tears it down in t.Cleanup.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	procs.RequireBinaries(t)
	if opts.Services == nil {
		opts.Services = CheckoutPath
	}
	if opts.Policy == "" {
		opts.Policy = "fragile"
	}
	s := &Stack{t: t, opts: opts, ports: map[string]int{}, admin: map[string]int{}, running: map[string]*running{},
		args: map[string][]string{}, mains: map[string]func(context.Context, []string) error{}}
	for k, v := range Mains {
		s.mains[k] = v
	}
	for k, v := range opts.ExtraMains {
		s.mains[k] = v
	}
	s.PG = procs.NewTestPostgres(t, procs.WithArgs("-c", "max_connections=200"))
	s.Redis = procs.NewTestRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, db := range []string{"catalog", "orders"} {
		if err := s.PG.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"identity", "identity-regional", "catalog", "cart", "recommendations", "orders", "payment", "checkout", "gateway"}
	for _, name := range all {
		s.ports[name] = freePort(t)
		s.admin[name] = freePort(t)
	}
	for _, name := range opts.Services {
		if _, ok := s.mains[name]; !ok {
			t.Fatalf("storetest: no entry point for %q", name)
		}
	}
	t.Cleanup(s.stopAll)
	for _, name := range opts.Services {
		s.StartService(name)
	}
	return s
}

func freePort(t testing.TB) int {
	p, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// URL is a service's base URL ("http://127.0.0.1:PORT").
func (s *Stack) URL(name string) string { return "http://127.0.0.1:" + strconv.Itoa(s.ports[name]) }

// AdminURL is a service's admin base URL.
func (s *Stack) AdminURL(name string) string {
	return "http://127.0.0.1:" + strconv.Itoa(s.admin[name])
}

func (s *Stack) argsFor(name string) []string {
	a := []string{
		"--listen", "127.0.0.1:" + strconv.Itoa(s.ports[name]),
		"--admin-listen", "127.0.0.1:" + strconv.Itoa(s.admin[name]),
		"--admin-token", AdminToken,
		"--region", Region,
		"--policy", s.opts.Policy,
		"--log-level", logLevel(),
	}
	dep := func(n, u string) { a = append(a, "--dep", n+"="+u) }
	switch name {
	case "identity", "identity-regional":
		a = append(a, "--signing-seed", SigningSeed) // one key: a token from either verifies anywhere
	case "catalog":
		dep("postgres", s.PG.DSN("catalog"))
	case "orders":
		dep("postgres", s.PG.DSN("orders"))
	case "cart":
		dep("redis", s.Redis.URL())
	case "recommendations":
		dep("catalog", s.URL("catalog"))
	case "checkout":
		dep("identity", s.URL("identity"))
		dep("cart-"+Region, s.URL("cart"))
		dep("orders", s.URL("orders"))
		dep("payment", s.URL("payment"))
	case "gateway":
		for _, d := range []string{"catalog", "recommendations", "cart", "identity", "checkout"} {
			dep(d, s.URL(d))
		}
		if slices.Contains(s.opts.Services, "identity-regional") {
			dep(cmp.Or(s.opts.ReplicaDep, "identity-regional"), s.URL("identity-regional"))
		}
	}
	return append(a, s.opts.Extra[name]...)
}

// logLevel keeps service logs quiet unless STORETEST_LOG=debug|info asks.
func logLevel() string {
	if l := os.Getenv("STORETEST_LOG"); l != "" {
		return l
	}
	return "error"
}

// StartService starts (or restarts) one service and waits until it is
// ready. A first start whose port was taken meanwhile (ports are picked
// free, then bound later) retries on fresh ports; a restart keeps its
// ports, since the services that call it know them.
func (s *Stack) StartService(name string) {
	s.t.Helper()
	s.mu.Lock()
	_, isRunning := s.running[name]
	_, started := s.args[name]
	s.mu.Unlock()
	if isRunning {
		return
	}
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		args, ok := s.args[name]
		if !ok {
			args = s.argsFor(name)
		}
		s.mu.Unlock()
		err := s.start(name, args)
		if err == nil {
			s.mu.Lock()
			s.args[name] = args
			s.mu.Unlock()
			return
		}
		if started || attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			s.t.Fatalf("start %s: %v", name, err)
		}
		s.ports[name], s.admin[name] = freePort(s.t), freePort(s.t)
	}
}

func (s *Stack) start(name string, args []string) error {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	main := s.mains[name]
	go func() {
		r.err = main(ctx, args)
		close(r.done)
	}()
	if err := s.waitReady(name, r); err != nil {
		cancel()
		select { // let it release its ports before a retry
		case <-r.done:
		case <-time.After(15 * time.Second):
		}
		return err
	}
	s.mu.Lock()
	s.running[name] = r
	s.mu.Unlock()
	return nil
}

// StopService stops one service (graceful shutdown) and waits for it.
func (s *Stack) StopService(name string) {
	s.t.Helper()
	s.mu.Lock()
	r, ok := s.running[name]
	delete(s.running, name)
	s.mu.Unlock()
	if !ok {
		return
	}
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			s.t.Errorf("%s stopped with error: %v", name, r.err)
		}
	case <-time.After(15 * time.Second):
		s.t.Errorf("%s did not stop within 15s", name)
	}
}

func (s *Stack) stopAll() {
	s.mu.Lock()
	names := make([]string, 0, len(s.running))
	for n := range s.running {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		s.StopService(n)
	}
}

// waitReady polls /readyz until 200; it fails when the service exits or
// is not ready within 60 s.
func (s *Stack) waitReady(name string, r *running) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			return fmt.Errorf("exited during start: %v", r.err)
		default:
		}
		resp, err := client.Get(s.URL(name) + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("not ready within 60s: %s", last)
}

// String lists the running services and their URLs (for failure messages).
func (s *Stack) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ""
	for n := range s.running {
		out += fmt.Sprintf("%s=%s ", n, s.URL(n))
	}
	return out
}
