package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/services/platform"
)

func FuzzParseToken(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(testSeed)
	pub := priv.Public().(ed25519.PublicKey)
	keys := map[string]ed25519.PublicKey{KeyID(pub): pub}
	good, _ := Sign(priv, Claims{Sub: "user0001", Region: "us-east-1", Expires: 4102444800})
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add("eyJzdWIiOiJ4In0.AAAA")
	f.Add(good[:len(good)-3] + "AAA")
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := Parse(tok)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		c, err := p.VerifyWith(keys, time.Unix(0, 0))
		if err == nil && tok != good && c.Sub != "user0001" {
			// Only a token our key signed can verify.
			t.Fatalf("verified a token we did not sign: %q", tok)
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("verify error does not wrap ErrInvalidToken: %v", err)
		}
	})
}

func FuzzDecodeLogin(f *testing.F) {
	f.Add(`{"username":"user0001","password":"pw-user0001"}`)
	f.Add(`{"username":1}`)
	f.Add(`{`)
	f.Add(`null`)
	f.Add(`{"username":"a","password":"b"} {}`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/login", strings.NewReader(body))
		req, err := DecodeLogin(r)
		if err != nil {
			var ae *platform.APIError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 {
				t.Fatalf("DecodeLogin error is not a 4xx APIError: %v", err)
			}
			return
		}
		if req.Username == "" || req.Password == "" {
			t.Fatalf("accepted a login without credentials: %q", body)
		}
	})
}

func FuzzDecodeVerify(f *testing.F) {
	f.Add(`{"token":"a.b"}`, "")
	f.Add(``, "Bearer a.b")
	f.Add(``, "Basic x")
	f.Add(`{"token":""}`, "")
	f.Fuzz(func(t *testing.T, body, auth string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/verify", bytes.NewReader([]byte(body)))
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		req, err := DecodeVerify(r)
		if err != nil {
			var ae *platform.APIError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 {
				t.Fatalf("DecodeVerify error is not a 4xx APIError: %v", err)
			}
			return
		}
		if req.Token == "" {
			t.Fatal("accepted an empty token")
		}
	})
}
