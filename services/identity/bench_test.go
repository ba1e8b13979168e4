package identity

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/outagelab/outagelab/services/resilience"
)

func BenchmarkSignToken(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(testSeed)
	c := Claims{Sub: "user0001", Region: "us-east-1", Expires: time.Now().Add(time.Hour).Unix()}
	for b.Loop() {
		if _, err := Sign(priv, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyLocal is the hardened caller's per-request cost.
func BenchmarkVerifyLocal(b *testing.B) {
	svc := newTestService(b)
	ts := newTestServer(b, svc)
	tok, _, _ := svc.Login("user0001", "pw-user0001")
	v, _ := NewVerifier(newDep(b, ts.URL, resilience.PresetHardened), VerifierOptions{})
	ctx := context.Background()
	if err := v.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRemote is the fragile caller's per-request cost: one
// POST /v1/verify over loopback.
func BenchmarkVerifyRemote(b *testing.B) {
	svc := newTestService(b)
	ts := newTestServer(b, svc)
	tok, _, _ := svc.Login("user0001", "pw-user0001")
	v, _ := NewVerifier(newDep(b, ts.URL, resilience.PresetFragile), VerifierOptions{})
	ctx := context.Background()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
