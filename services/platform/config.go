package platform

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/outagelab/outagelab/services/resilience"
)

// Config is the common configuration of every storefront service
// (CONTRACT.md "Common flags").
type Config struct {
	// Service is the subcommand ("catalog"); Name defaults to it.
	Service     string
	Listen      string
	AdminListen string
	AdminToken  string
	Region      string
	Name        string
	// Deps maps a dependency name to its URL or DSN.
	Deps map[string]string
	// Policy is the default resilience preset; PolicyOverrides per dependency.
	Policy          string
	PolicyOverrides map[string]string
	LogLevel        slog.Level
}

// FlagSet is a service's flag set with the common flags registered; the
// service adds its own flags before calling Parse.
type FlagSet struct {
	*flag.FlagSet
	cfg      Config
	logLevel string
	deps     kvList
	override kvList
}

// kvList is a repeatable NAME=VALUE flag.
type kvList struct {
	flag string
	kv   map[string]string
}

func (l *kvList) String() string {
	if l == nil || len(l.kv) == 0 {
		return ""
	}
	keys := make([]string, 0, len(l.kv))
	for k := range l.kv {
		keys = append(keys, k+"="+l.kv[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// Set accepts "NAME=VALUE", or several separated by commas (the env form).
func (l *kvList) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return fmt.Errorf("--%s wants NAME=VALUE, got %q", l.flag, part)
		}
		if l.kv == nil {
			l.kv = map[string]string{}
		}
		l.kv[k] = v
	}
	return nil
}

// NewFlagSet returns the flag set of service with the common flags.
func NewFlagSet(service string) *FlagSet {
	fs := &FlagSet{FlagSet: flag.NewFlagSet(service, flag.ContinueOnError)}
	fs.deps.flag, fs.override.flag = "dep", "policy-override"
	fs.cfg.Service = service
	fs.StringVar(&fs.cfg.Listen, "listen", ":8080", "main HTTP listener (API, /healthz, /readyz, /metrics)")
	fs.StringVar(&fs.cfg.AdminListen, "admin-listen", ":9090", "admin listener (fault hooks); empty disables")
	fs.StringVar(&fs.cfg.AdminToken, "admin-token", "", "bearer token for the admin API; the admin API refuses all calls when empty")
	fs.StringVar(&fs.cfg.Region, "region", "us-east-1", "region label on metrics and logs")
	fs.StringVar(&fs.cfg.Name, "name", service, "component name used in logs and metrics")
	fs.Var(&fs.deps, "dep", "dependency NAME=URL (repeatable; env SF_DEPS=\"a=URL,b=URL\")")
	fs.StringVar(&fs.cfg.Policy, "policy", resilience.PresetFragile, "resilience preset for every dependency: "+strings.Join(resilience.PresetNames(), " or "))
	fs.Var(&fs.override, "policy-override", "per dependency preset NAME=PRESET (repeatable)")
	fs.StringVar(&fs.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return fs
}

// EnvName is the environment variable of a flag: --admin-token ⇔ SF_ADMIN_TOKEN.
func EnvName(flagName string) string {
	return "SF_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args, then fills every flag not given on the command line
// from its environment variable (flag wins), reading env through getenv
// (nil means os.Getenv), and validates the common configuration.
func (fs *FlagSet) Parse(args []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	fs.SetOutput(io.Discard)
	if err := fs.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, fmt.Errorf("%s: %w\n%s", fs.Name(), err, fs.UsageText())
		}
		return nil, fmt.Errorf("%s: %w (run with -h for the flags)", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected argument %q: every setting is a --flag", fs.Name(), fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := EnvName(f.Name)
		v := getenv(env)
		if f.Name == "dep" && v == "" {
			env, v = "SF_DEPS", getenv("SF_DEPS")
		}
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", env, err))
		}
	})
	cfg := fs.cfg
	cfg.Deps = map[string]string{}
	for k, v := range fs.deps.kv {
		if _, err := url.Parse(v); err != nil {
			errs = append(errs, fmt.Errorf("--dep %s: bad URL %q: %w", k, v, err))
		}
		cfg.Deps[k] = v
	}
	cfg.PolicyOverrides = map[string]string{}
	for k, v := range fs.override.kv {
		if _, err := resilience.Preset(v); err != nil {
			errs = append(errs, fmt.Errorf("--policy-override %s: %w", k, err))
		}
		cfg.PolicyOverrides[k] = v
	}
	if _, err := resilience.Preset(cfg.Policy); err != nil {
		errs = append(errs, fmt.Errorf("--policy: %w", err))
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(fs.logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %q is not debug, info, warn or error", fs.logLevel))
	}
	if cfg.Listen == "" {
		errs = append(errs, errors.New("--listen must not be empty"))
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Service
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: bad configuration: %w", fs.Name(), errors.Join(errs...))
	}
	return &cfg, nil
}

// UsageText returns the flag documentation.
func (fs *FlagSet) UsageText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: storefront %s [flags]   (every --flag-name also reads env SF_FLAG_NAME)\n", fs.Name())
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

// PolicyFor returns the resilience policy of dependency name.
func (c *Config) PolicyFor(name string) (resilience.Policy, error) {
	preset := c.Policy
	if p, ok := c.PolicyOverrides[name]; ok {
		preset = p
	}
	return resilience.Preset(preset)
}
