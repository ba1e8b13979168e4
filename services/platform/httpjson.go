package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBodyBytes limits every request body (413 beyond).
const MaxBodyBytes = 64 << 10

// APIError is an error with the HTTP status and snake_case code it is
// answered with: {"error":"message","code":"snake_case_code"}.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf returns an *APIError.
func Errorf(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"could not encode the response","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteError writes {"error":msg,"code":code} with status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, APIError{Code: code, Message: msg})
}

// WriteErr writes err: an *APIError (anywhere in its chain) with its own
// status, anything else as a 500 "internal" whose text is not leaked.
func WriteErr(w http.ResponseWriter, err error) {
	var ae *APIError
	if errors.As(err, &ae) {
		WriteError(w, ae.Status, ae.Code, ae.Message)
		return
	}
	WriteError(w, http.StatusInternalServerError, "internal", "internal error")
}

// ParseJSON strictly decodes one JSON value from body into dst: unknown
// fields, trailing data, wrong types and an empty body are 400s, a body over
// MaxBodyBytes is a 413. The error is always an *APIError.
func ParseJSON(body io.Reader, dst any) error {
	dec := json.NewDecoder(&limitBody{r: body, left: MaxBodyBytes})
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		var extra json.RawMessage
		if derr := dec.Decode(&extra); derr != io.EOF {
			if tooLarge(derr) {
				return tooLargeErr()
			}
			return Errorf(http.StatusBadRequest, "bad_json", "request body must hold exactly one JSON value")
		}
		return nil
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case tooLarge(err):
		return tooLargeErr()
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, "empty_body", "request body is empty: send a JSON object")
	case errors.As(err, &syn):
		return Errorf(http.StatusBadRequest, "bad_json", "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return Errorf(http.StatusBadRequest, "bad_json", "field %s: want %s, got JSON %s", field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, "bad_json", "malformed JSON: unexpected end of body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Errorf(http.StatusBadRequest, "unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return Errorf(http.StatusBadRequest, "bad_json", "malformed JSON: %v", err)
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe) || errors.Is(err, errBodyLimit)
}

var errBodyLimit = errors.New("body over limit")

func tooLargeErr() *APIError {
	return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body is over %d bytes", MaxBodyBytes)
}

// DecodeJSON decodes r's body into dst with ParseJSON rules, also refusing
// a Content-Type that cannot carry JSON (415; application/json, */*+json,
// text/plain and curl's default form-urlencoded are accepted). On failure it writes the JSON error and
// returns false; the handler just returns.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if err := decodeRequest(r, dst); err != nil {
		WriteErr(w, err)
		return false
	}
	return true
}

func decodeRequest(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		// curl -d sends form-urlencoded and many scripts send text/plain: the
		// body must still be strict JSON, so accept those; refuse the rest.
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json") &&
			mt != "application/x-www-form-urlencoded" && mt != "text/plain") {
			return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q is not application/json", ct)
		}
	}
	if r.ContentLength > MaxBodyBytes {
		return tooLargeErr()
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	return ParseJSON(body, dst)
}

// limitBody turns reading past MaxBodyBytes into errBodyLimit, also when no
// MaxBytesReader wraps the body (handlers tested without the server).
type limitBody struct {
	r    io.Reader
	left int64
}

func (l *limitBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errBodyLimit
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errBodyLimit
	}
	return n, err
}
