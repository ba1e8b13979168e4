// Command storefront is the miniature shop Outage Lab breaks on purpose: one
// static binary, one subcommand per service.
//
//	storefront gateway  --listen :8080 --dep catalog=http://… --dep cart=http://… …
//	storefront catalog  --dep postgres=postgres://…
//	storefront version
//
// Flags per service are in services/CONTRACT.md; every --flag-name also reads
// the environment variable SF_FLAG_NAME. SIGTERM or SIGINT shuts the service
// down gracefully; a second signal kills it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/outagelab/outagelab/services/cart"
	"github.com/outagelab/outagelab/services/catalog"
	"github.com/outagelab/outagelab/services/checkout"
	"github.com/outagelab/outagelab/services/gateway"
	"github.com/outagelab/outagelab/services/identity"
	"github.com/outagelab/outagelab/services/monitoring"
	"github.com/outagelab/outagelab/services/orders"
	"github.com/outagelab/outagelab/services/payment"
	"github.com/outagelab/outagelab/services/recommendations"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// mainFunc is a service's entry point.
type mainFunc func(ctx context.Context, args []string) error

// services maps each subcommand to its service (CONTRACT.md "Binary").
var services = map[string]struct {
	main mainFunc
	doc  string
}{
	"gateway":         {gateway.Main, "HTML pages and JSON API; aggregates the other services"},
	"identity":        {identity.Main, "login and signed tokens (global, us-east-1)"},
	"catalog":         {catalog.Main, "products and prices in PostgreSQL"},
	"cart":            {cart.Main, "carts in Redis"},
	"checkout":        {checkout.Main, "orchestrates identity, cart, orders and payment (global)"},
	"payment":         {payment.Main, "simulated third-party payment provider"},
	"orders":          {orders.Main, "orders and inventory in PostgreSQL (global)"},
	"recommendations": {recommendations.Main, "non-critical product suggestions"},
	"monitoring":      {monitoring.Main, "health-checks the other components"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	go func() {
		<-ctx.Done()
		stop() // a second signal gets the default action: exit now
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args and returns the exit code: 0 ok, 1 the service
// failed, 2 bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	svc, ok := services[name]
	if !ok {
		fmt.Fprintf(stderr, "storefront: unknown service %q\n\n", name)
		usage(stderr)
		return 2
	}
	if err := svc.main(ctx, rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, strings.TrimPrefix(err.Error(), name+": "+flag.ErrHelp.Error()+"\n"))
			return 0
		}
		fmt.Fprintf(stderr, "storefront %s: %v\n", name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: storefront <service> [flags]   (storefront <service> -h lists the flags)")
	fmt.Fprintln(w, "       storefront version")
	fmt.Fprintln(w, "\nservices:")
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, services[n].doc)
	}
	fmt.Fprintln(w, "\nEvery --flag-name also reads env SF_FLAG_NAME; see services/CONTRACT.md.")
}

func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return fmt.Sprintf("storefront %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
