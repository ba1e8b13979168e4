package catalog

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/outagelab/outagelab/services/platform"
)

func is4xx(err error) bool {
	var ae *platform.APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500
}

func FuzzDecodeListQuery(f *testing.F) {
	for _, s := range []string{"", "limit=5", "limit=0", "offset=-1", "category=audio", "category=%27", "limit=1e9", "limit=5&limit=6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/products", nil)
		r.URL.RawQuery = raw
		q, err := DecodeListQuery(r)
		if err != nil {
			if !is4xx(err) {
				t.Fatalf("not a 4xx APIError: %v", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxLimit || q.Offset < 0 || q.Offset > MaxOffset || !isSlug(q.Category) {
			t.Fatalf("accepted out-of-range query %+v from %q", q, raw)
		}
	})
}

func FuzzDecodeSearchQuery(f *testing.F) {
	for _, s := range []string{"lamp", "", " ", "%", "\x00", "\xff", "a_b"} {
		f.Add(s, "")
	}
	f.Add("x", "7")
	f.Fuzz(func(t *testing.T, q, limit string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/search", nil)
		r.URL.RawQuery = url.Values{"q": {q}, "limit": {limit}}.Encode()
		got, n, err := DecodeSearchQuery(r)
		if err != nil {
			if !is4xx(err) {
				t.Fatalf("not a 4xx APIError: %v", err)
			}
			return
		}
		if got == "" || !utf8.ValidString(got) || utf8.RuneCountInString(got) > MaxQueryLen || n < 1 || n > MaxLimit {
			t.Fatalf("accepted q=%q limit=%d", got, n)
		}
	})
}

func FuzzValidProductID(f *testing.F) {
	for _, s := range []string{"p0001", "", "a/b", "../x", "p 1", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidProductID(id)
		if err != nil && !is4xx(err) {
			t.Fatalf("not a 4xx APIError: %v", err)
		}
		if err == nil && (id == "" || len(id) > MaxProductID || !utf8.ValidString(id)) {
			t.Fatalf("accepted %q", id)
		}
	})
}
