package orders

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/outagelab/outagelab/services/platform"
)

func FuzzDecodeReservation(f *testing.F) {
	f.Add(`{"idempotency_key":"k","user_id":"u","items":[{"product_id":"p0001","qty":2}]}`, "")
	f.Add(`{"user_id":"u","items":[{"product_id":"p0001","qty":1},{"product_id":"p0001","qty":999}]}`, "hdr-key")
	f.Add(`{"items":[]}`, "")
	f.Add(`{"user_id":"u","items":[{"product_id":"","qty":-1}]}`, "k")
	f.Add(`[1,2,3]`, "k")
	f.Add(`{"user_id":"u","items":null} {}`, "k")
	f.Fuzz(func(t *testing.T, body, key string) {
		req, err := DecodeReservation(strings.NewReader(body), key)
		if err != nil {
			var ae *platform.APIError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
				t.Fatalf("error is not a 4xx APIError: %v", err)
			}
			return
		}
		if ValidKey(req.IdempotencyKey) != nil || req.UserID == "" || len(req.Items) == 0 || len(req.Items) > MaxItems {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
		for i, it := range req.Items {
			if it.Qty < 1 || it.Qty > MaxQty || it.ProductID == "" {
				t.Fatalf("accepted a bad item: %+v", it)
			}
			if i > 0 && req.Items[i-1].ProductID >= it.ProductID {
				t.Fatalf("items not merged and sorted: %+v", req.Items)
			}
		}
	})
}

func FuzzDecodeConfirm(f *testing.F) {
	f.Add(``)
	f.Add(`{"payment_id":"ch_1"}`)
	f.Add(`{"payment_id":1}`)
	f.Add(`{"other":true}`)
	f.Fuzz(func(t *testing.T, body string) {
		_, err := DecodeConfirm(strings.NewReader(body))
		var ae *platform.APIError
		if err != nil && (!errors.As(err, &ae) || ae.Status != http.StatusBadRequest && ae.Status != http.StatusRequestEntityTooLarge) {
			t.Fatalf("error is not a 400/413 APIError: %v", err)
		}
	})
}

func TestDecodeReservation(t *testing.T) {
	big := `{"user_id":"u","items":[{"product_id":"` + strings.Repeat("x", platform.MaxBodyBytes) + `","qty":1}]}`
	cases := []struct {
		name, body, key, code string
	}{
		{"ok", `{"user_id":"u","items":[{"product_id":"p0001","qty":1}]}`, "k", ""},
		{"key in body", `{"idempotency_key":"b","user_id":"u","items":[{"product_id":"p0001","qty":1}]}`, "", ""},
		{"no key", `{"user_id":"u","items":[{"product_id":"p0001","qty":1}]}`, "", "missing_idempotency_key"},
		{"spaces in key", `{"user_id":"u","items":[{"product_id":"p0001","qty":1}]}`, "a b", "invalid_idempotency_key"},
		{"malformed", `{"user_id":`, "k", "bad_json"},
		{"unknown field", `{"user":"u"}`, "k", "unknown_field"},
		{"no items", `{"user_id":"u","items":[]}`, "k", "invalid_request"},
		{"zero qty", `{"user_id":"u","items":[{"product_id":"p","qty":0}]}`, "k", "invalid_request"},
		{"merged over max", `{"user_id":"u","items":[{"product_id":"p","qty":600},{"product_id":"p","qty":600}]}`, "k", "invalid_request"},
		{"oversized", big, "k", "body_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := DecodeReservation(strings.NewReader(c.body), c.key)
			if c.code == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if req.IdempotencyKey == "" {
					t.Fatal("key not set")
				}
				return
			}
			var ae *platform.APIError
			if !errors.As(err, &ae) || ae.Code != c.code {
				t.Fatalf("err = %v, want code %s", err, c.code)
			}
		})
	}
}
