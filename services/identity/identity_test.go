package identity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

var testSeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

func newTestService(t testing.TB) *Service {
	t.Helper()
	s, err := NewService(testSeed, "us-east-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestServer serves the identity API through the platform skeleton
// (middlewares, body limit, JSON errors) on a loopback httptest server.
func newTestServer(t testing.TB, svc *Service) *httptest.Server {
	t.Helper()
	cfg, err := platform.NewFlagSet("identity").Parse([]string{"--admin-listen", ""}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := platform.NewWithLogger(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc.Routes(srv.Mux)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestUsers(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"user0001", true}, {"user1000", true}, {"user0500", true},
		{"user0000", false}, {"user1001", false}, {"user+001", false}, {"user-001", false},
		{"User0001", false}, {"user001", false}, {"user00001", false}, {"", false},
	} {
		if got := ValidUser(tc.name); got != tc.ok {
			t.Errorf("ValidUser(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
	if !CheckPassword("user0042", "pw-user0042") {
		t.Error("right password refused")
	}
	if CheckPassword("user0042", "pw-user0043") || CheckPassword("user0042", "") || CheckPassword("nobody", "pw-nobody") {
		t.Error("wrong credentials accepted")
	}
	if UserName(7) != "user0007" || Password("user0007") != "pw-user0007" {
		t.Error("generated names")
	}
}

func TestTokenRoundTripExpiryTamper(t *testing.T) {
	svc := newTestService(t)
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	svc.now = func() time.Time { return base }
	tok, c, err := svc.Login("user0042", "pw-user0042")
	if err != nil {
		t.Fatal(err)
	}
	if c.Sub != "user0042" || c.Region != "us-east-1" || c.Kid != svc.KeyID() || c.Expires != base.Add(time.Hour).Unix() {
		t.Fatalf("claims %+v", c)
	}
	keys := map[string]ed25519.PublicKey{svc.KeyID(): svc.pub}
	got, err := Verify(tok, keys, base.Add(59*time.Minute))
	if err != nil || got != c {
		t.Fatalf("verify: %+v, %v", got, err)
	}
	if _, err := Verify(tok, keys, base.Add(time.Hour)); !errors.Is(err, ErrExpired) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("at expiry: want ErrExpired, got %v", err)
	}

	// Tamper with the payload: claim another user, keep the signature.
	head, sig, _ := strings.Cut(tok, ".")
	payload, _ := b64.DecodeString(head)
	forged := bytes.Replace(payload, []byte("user0042"), []byte("user0001"), 1)
	if _, err := Verify(b64.EncodeToString(forged)+"."+sig, keys, base); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged payload: want ErrBadSignature, got %v", err)
	}
	// Flip one signature bit.
	sb, _ := b64.DecodeString(sig)
	sb[0] ^= 1
	if _, err := Verify(head+"."+b64.EncodeToString(sb), keys, base); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("flipped signature: want ErrBadSignature, got %v", err)
	}
	// Signed by another key, claiming ours.
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	otherTok, _ := Sign(other, Claims{Sub: "user0001", Expires: base.Add(time.Hour).Unix()})
	if _, err := Verify(otherTok, keys, base); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other key: want ErrUnknownKey, got %v", err)
	}
	if _, _, err := svc.Login("user0042", "nope"); err == nil {
		t.Fatal("bad password logged in")
	}
}

func TestDeterministicSeed(t *testing.T) {
	a := newTestService(t)
	b := newTestService(t)
	if a.KeyID() != b.KeyID() {
		t.Fatal("same seed, different keys")
	}
	r1, _ := NewService(nil, "us-east-1", time.Hour)
	r2, _ := NewService(nil, "us-east-1", time.Hour)
	if r1.KeyID() == r2.KeyID() {
		t.Fatal("random keys collided")
	}
	if _, err := ParseSeed("abc"); err == nil {
		t.Fatal("short seed accepted")
	}
	if s, err := ParseSeed(strings.Repeat("07", 32)); err != nil || !bytes.Equal(s, testSeed) {
		t.Fatalf("ParseSeed: %x %v", s, err)
	}
}

func TestParseMalformed(t *testing.T) {
	valid, _ := Sign(ed25519.NewKeyFromSeed(testSeed), Claims{Sub: "u", Expires: 1})
	head, sig, _ := strings.Cut(valid, ".")
	for _, tok := range []string{
		"", ".", "a.b.c", head, head + ".", "." + sig, "!!!." + sig, head + ".!!!",
		b64.EncodeToString([]byte(`{"sub":"u","kid":"k","exp":1,"extra":1}`)) + "." + sig,
		b64.EncodeToString([]byte(`{"sub":"u","kid":"k"}`)) + "." + sig,
		b64.EncodeToString([]byte(`{"sub":"u","kid":"k","exp":1}{}`)) + "." + sig,
		b64.EncodeToString([]byte(`[]`)) + "." + sig,
		strings.Repeat("a", MaxTokenBytes+1),
	} {
		if _, err := Parse(tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%.40q) = %v, want ErrMalformed", tok, err)
		}
	}
}

func TestKeySetMapRejectsMismatch(t *testing.T) {
	svc := newTestService(t)
	ks := svc.Keys()
	if _, err := ks.Map(); err != nil {
		t.Fatal(err)
	}
	bad := ks
	bad.Keys = []Key{ks.Keys[0]}
	bad.Keys[0].Kid = "0000000000000000"
	if _, err := bad.Map(); err == nil {
		t.Fatal("kid mismatch accepted")
	}
	if _, err := (KeySet{}).Map(); err == nil {
		t.Fatal("empty key set accepted")
	}
}

type apiErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func post(t *testing.T, url, ctype, body string, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestHTTPLoginVerifyKeys(t *testing.T) {
	svc := newTestService(t)
	ts := newTestServer(t, svc)

	code, body := post(t, ts.URL+"/v1/login", "application/json", `{"username":"user0007","password":"pw-user0007"}`)
	if code != 200 {
		t.Fatalf("login %d %s", code, body)
	}
	var lr LoginResponse
	if err := json.Unmarshal(body, &lr); err != nil || lr.Token == "" || lr.User != "user0007" || time.Until(lr.ExpiresAt) < 59*time.Minute {
		t.Fatalf("login answer %s (%v)", body, err)
	}

	code, body = post(t, ts.URL+"/v1/verify", "application/json", `{"token":"`+lr.Token+`"}`)
	var vr VerifyResponse
	if code != 200 || json.Unmarshal(body, &vr) != nil || !vr.Valid || vr.Sub != "user0007" {
		t.Fatalf("verify %d %s", code, body)
	}
	code, body = post(t, ts.URL+"/v1/verify", "", "", "Authorization", "Bearer "+lr.Token)
	if code != 200 {
		t.Fatalf("verify by header %d %s", code, body)
	}

	resp, err := http.Get(ts.URL + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	var ks KeySet
	json.NewDecoder(resp.Body).Decode(&ks)
	resp.Body.Close()
	keys, err := ks.Map()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(lr.Token, keys, time.Now()); err != nil {
		t.Fatalf("published key does not verify the token: %v", err)
	}
}

func TestHTTPBadInputIs4xxJSON(t *testing.T) {
	svc := newTestService(t)
	ts := newTestServer(t, svc)
	expired, _ := Sign(svc.priv, Claims{Sub: "user0001", Expires: time.Now().Add(-time.Minute).Unix()})
	for _, tc := range []struct {
		name, path, ctype, body string
		hdr                     []string
		status                  int
		code                    string
	}{
		{"malformed json", "/v1/login", "application/json", `{"username":`, nil, 400, "bad_json"},
		{"unknown field", "/v1/login", "application/json", `{"username":"a","password":"b","x":1}`, nil, 400, "unknown_field"},
		{"wrong type", "/v1/login", "application/json", `{"username":1,"password":"b"}`, nil, 400, "bad_json"},
		{"missing password", "/v1/login", "application/json", `{"username":"user0001"}`, nil, 400, "missing_field"},
		{"empty body", "/v1/login", "application/json", ``, nil, 400, "empty_body"},
		{"bad credentials", "/v1/login", "application/json", `{"username":"user0001","password":"x"}`, nil, 401, "bad_credentials"},
		{"unknown user", "/v1/login", "application/json", `{"username":"root","password":"pw-root"}`, nil, 401, "bad_credentials"},
		{"wrong content type", "/v1/login", "text/plain", `{}`, nil, 415, "unsupported_media_type"},
		{"oversized", "/v1/login", "application/json", `{"username":"` + strings.Repeat("a", 70<<10) + `","password":"x"}`, nil, 413, "body_too_large"},
		{"garbage token", "/v1/verify", "application/json", `{"token":"garbage"}`, nil, 401, "invalid_token"},
		{"expired token", "/v1/verify", "application/json", `{"token":"` + expired + `"}`, nil, 401, "token_expired"},
		{"no token", "/v1/verify", "application/json", `{}`, nil, 400, "missing_field"},
		{"basic auth", "/v1/verify", "", ``, []string{"Authorization", "Basic Zm9vOmJhcg=="}, 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, ts.URL+tc.path, tc.ctype, tc.body, tc.hdr...)
			var e apiErr
			if code != tc.status || json.Unmarshal(body, &e) != nil || e.Code != tc.code || e.Error == "" {
				t.Fatalf("got %d %s, want %d code %q", code, body, tc.status, tc.code)
			}
		})
	}
}

// newDep is a resilience dependency on identity at url with the given preset.
func newDep(t testing.TB, url, preset string) *resilience.Dependency {
	t.Helper()
	p, err := resilience.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	p.Timeout = 2 * time.Second
	p.BackoffInitial, p.BackoffMax = time.Millisecond, time.Millisecond
	d, err := resilience.New("identity", p, resilience.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestVerifierModes(t *testing.T) {
	svc := newTestService(t)
	ts := newTestServer(t, svc)
	tok, _, _ := svc.Login("user0009", "pw-user0009")
	ctx := context.Background()

	for _, preset := range []string{resilience.PresetFragile, resilience.PresetHardened} {
		v, err := NewVerifier(newDep(t, ts.URL, preset), VerifierOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{resilience.PresetFragile: ModeRemote, resilience.PresetHardened: ModeLocal}[preset]
		if v.Mode() != want {
			t.Fatalf("%s: mode %s, want %s", preset, v.Mode(), want)
		}
		s, err := v.Verify(ctx, tok)
		if err != nil || s.Sub != "user0009" || s.Degraded {
			t.Fatalf("%s: %+v %v", preset, s, err)
		}
		if _, err := v.Verify(ctx, "garbage"); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("%s: garbage: %v", preset, err)
		}
		forged, _ := Sign(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), Claims{Sub: "user0001", Expires: time.Now().Add(time.Hour).Unix()})
		if _, err := v.Verify(ctx, forged); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("%s: forged: %v", preset, err)
		}
	}
	if _, err := NewVerifier(newDep(t, ts.URL, "fragile"), VerifierOptions{Mode: "psychic"}); err == nil {
		t.Fatal("bad mode accepted")
	}
}

// TestVerifierStaticStability: identity goes down. The hardened (local)
// verifier keeps serving logged-in users from its cached key, also after the
// key went stale (marked Degraded); the fragile (remote) one cannot.
func TestVerifierStaticStability(t *testing.T) {
	svc := newTestService(t)
	ts := newTestServer(t, svc)
	tok, _, _ := svc.Login("user0011", "pw-user0011")
	ctx := context.Background()

	now := time.Now()
	clock := func() time.Time { return now }
	local, _ := NewVerifier(newDep(t, ts.URL, resilience.PresetHardened), VerifierOptions{Now: clock, KeyTTL: time.Minute})
	remote, _ := NewVerifier(newDep(t, ts.URL, resilience.PresetFragile), VerifierOptions{})
	if err := local.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	ts.Close() // identity is down: connections refused

	if s, err := local.Verify(ctx, tok); err != nil || s.Degraded || s.Sub != "user0011" {
		t.Fatalf("local with fresh key while identity down: %+v %v", s, err)
	}
	now = now.Add(2 * time.Minute) // the cached key is stale now
	s, err := local.Verify(ctx, tok)
	if err != nil || !s.Degraded {
		t.Fatalf("local with stale key while identity down: want degraded success, got %+v %v", s, err)
	}
	// Within MinRefresh no new refresh is attempted; still served.
	if s, err := local.Verify(ctx, tok); err != nil || !s.Degraded {
		t.Fatalf("second stale verify: %+v %v", s, err)
	}
	if _, err := remote.Verify(ctx, tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("remote while identity down: want ErrUnavailable, got %v", err)
	}
	// A never-warmed local verifier has no key to fall back on.
	cold, _ := NewVerifier(newDep(t, ts.URL, resilience.PresetHardened), VerifierOptions{})
	if _, err := cold.Verify(ctx, tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("cold local while identity down: want ErrUnavailable, got %v", err)
	}
}

func TestMainServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr := freeAddr(t)
	errc := make(chan error, 1)
	go func() {
		errc <- Main(ctx, []string{"--listen", addr, "--admin-listen", "", "--log-level", "error",
			"--signing-seed", strings.Repeat("07", 32), "--token-ttl", "2m"})
	}()
	url := "http://" + addr
	var code int
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/login", strings.NewReader(`{"username":"user0001","password":"pw-user0001"}`))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			code = resp.StatusCode
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var lr LoginResponse
	if code != 200 || json.Unmarshal(body, &lr) != nil {
		t.Fatalf("login %d %s", code, body)
	}
	if d := time.Until(lr.ExpiresAt); d > 2*time.Minute+time.Second || d < time.Minute {
		t.Fatalf("--token-ttl 2m gave expiry in %s", d)
	}
	p, err := Parse(lr.Token)
	if err != nil || p.Claims.Kid != newTestService(t).KeyID() {
		t.Fatalf("--signing-seed not used: %+v %v", p, err)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Main returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Main did not stop after cancel")
	}
	if err := Main(context.Background(), []string{"--signing-seed", "zz"}); err == nil {
		t.Fatal("bad seed accepted")
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
