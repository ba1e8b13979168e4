package platform

import (
	"log/slog"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseDefaults(t *testing.T) {
	cfg, err := NewFlagSet("catalog").Parse(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8080" || cfg.AdminListen != ":9090" || cfg.AdminToken != "" || cfg.Region != "us-east-1" ||
		cfg.Name != "catalog" || cfg.Policy != "fragile" || cfg.LogLevel != slog.LevelInfo || len(cfg.Deps) != 0 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestParseFlagsEnvAndPrecedence(t *testing.T) {
	fs := NewFlagSet("checkout")
	extra := fs.String("signing-seed", "", "service flag")
	cfg, err := fs.Parse([]string{
		"--listen", "127.0.0.1:1", "-region=eu-west-1", "--dep", "orders=http://127.0.0.1:2",
		"--dep", "payment=http://127.0.0.1:3", "--policy-override", "payment=hardened",
	}, env(map[string]string{
		"SF_LISTEN":       "127.0.0.1:9", // flag wins
		"SF_ADMIN_TOKEN":  "s3cret",
		"SF_DEPS":         "identity=http://127.0.0.1:4", // ignored: --dep given
		"SF_LOG_LEVEL":    "debug",
		"SF_SIGNING_SEED": "ab",
		"SF_NAME":         "checkout-us",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1" || cfg.Region != "eu-west-1" || cfg.AdminToken != "s3cret" || cfg.Name != "checkout-us" ||
		cfg.LogLevel != slog.LevelDebug || *extra != "ab" {
		t.Fatalf("cfg %+v extra %q", cfg, *extra)
	}
	if len(cfg.Deps) != 2 || cfg.Deps["payment"] != "http://127.0.0.1:3" {
		t.Fatalf("deps %v", cfg.Deps)
	}
	pp, _ := cfg.PolicyFor("payment")
	po, _ := cfg.PolicyFor("orders")
	if pp.Name != "hardened" || po.Name != "fragile" {
		t.Fatalf("policies payment=%s orders=%s", pp.Name, po.Name)
	}
}

func TestParseDepsFromEnv(t *testing.T) {
	cfg, err := NewFlagSet("gateway").Parse(nil, env(map[string]string{
		"SF_DEPS": "catalog=http://127.0.0.1:1, cart=http://127.0.0.1:2", "SF_POLICY": "hardened",
		"SF_POLICY_OVERRIDE": "cart=fragile,catalog=fragile",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Deps["catalog"] != "http://127.0.0.1:1" || cfg.Deps["cart"] != "http://127.0.0.1:2" || cfg.Policy != "hardened" ||
		cfg.PolicyOverrides["cart"] != "fragile" {
		t.Fatalf("cfg %+v", cfg)
	}
}

func TestParseReportsEveryError(t *testing.T) {
	_, err := NewFlagSet("cart").Parse([]string{"--policy", "sturdy", "--policy-override", "redis=soft", "--log-level", "loud"}, env(nil))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"--policy:", "--policy-override redis", "--log-level", "fragile"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, args := range [][]string{{"--dep", "catalog"}, {"--dep", "=x"}, {"--nope"}, {"stray"}, {"--listen", ""}} {
		if _, err := NewFlagSet("x").Parse(args, env(nil)); err == nil {
			t.Errorf("Parse(%q) accepted", args)
		}
	}
	if _, err := NewFlagSet("x").Parse(nil, env(map[string]string{"SF_DEPS": "broken"})); err == nil || !strings.Contains(err.Error(), "SF_DEPS") {
		t.Errorf("bad SF_DEPS: %v", err)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("admin-token"); got != "SF_ADMIN_TOKEN" {
		t.Fatal(got)
	}
}

func FuzzParseFlags(f *testing.F) {
	f.Add("--dep", "catalog=http://127.0.0.1:1", "hardened")
	f.Add("--policy-override", "a=fragile,b=", "x")
	f.Fuzz(func(t *testing.T, flag, value, policy string) {
		fs := NewFlagSet("fuzz")
		cfg, err := fs.Parse([]string{flag, value, "--policy", policy}, env(nil))
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
	})
}
