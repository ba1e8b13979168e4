package load

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
)

// Outcome classifies one request (a step) or one journey.
type Outcome uint8

// Outcomes, in the order they are stored.
const (
	OK        Outcome = iota // 2xx without X-Degraded
	Fallback                 // 2xx with X-Degraded: served, degraded
	Timeout                  // no answer within the timeout
	Refused                  // connection refused
	Reset                    // connection reset or closed before a full answer
	Status4xx                // 4xx answer
	Status5xx                // 5xx answer
	Other                    // anything else (1xx/3xx, DNS, TLS, ...)
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "fallback", "timeout", "refused", "reset", "4xx", "5xx", "other"}

// String returns the outcome's name as used in the result document.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "other"
}

// Success reports whether the user was served (ok or fallback).
func (o Outcome) Success() bool { return o == OK || o == Fallback }

// Outcomes lists every outcome in storage order.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// DegradedHeader is the header the storefront sets when it served a fallback.
const DegradedHeader = "X-Degraded"

// Classify turns a response or a transport error into an Outcome. resp may be
// nil when err is not nil. A non-nil err wins over resp (an error while
// reading the body is passed with the response that carried it).
func Classify(resp *http.Response, err error) Outcome {
	if err != nil {
		return ClassifyError(err)
	}
	if resp == nil {
		return Other
	}
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		if resp.Header.Get(DegradedHeader) != "" {
			return Fallback
		}
		return OK
	case c >= 400 && c < 500:
		return Status4xx
	case c >= 500 && c < 600:
		return Status5xx
	}
	return Other
}

// ClassifyError classifies a transport error.
func ClassifyError(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF):
		return Reset
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return Other
}
