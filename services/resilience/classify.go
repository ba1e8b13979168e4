package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/sony/gobreaker/v2"
)

// Outcome classes of one attempt (the `outcome` label of
// storefront_dependency_requests_total).
const (
	OutcomeOK           = "ok"
	OutcomeTimeout      = "timeout"
	OutcomeRefused      = "refused"
	OutcomeReset        = "reset"
	Outcome5xx          = "5xx"
	Outcome4xx          = "4xx"
	OutcomeBreakerOpen  = "breaker_open"
	OutcomeBulkheadFull = "bulkhead_full"
	OutcomeDNS          = "dns"
	OutcomeOther        = "other"
)

// Outcomes lists every outcome class, in the contract's order.
var Outcomes = []string{OutcomeOK, OutcomeTimeout, OutcomeRefused, OutcomeReset, Outcome5xx, Outcome4xx,
	OutcomeBreakerOpen, OutcomeBulkheadFull, OutcomeDNS, OutcomeOther}

// Results of a logical call (the `result` label of storefront_dependency_calls_total).
const (
	ResultOK       = "ok"
	ResultError    = "error"
	ResultFallback = "fallback"
)

var (
	// ErrBreakerOpen is returned (wrapped) when the breaker refuses a call.
	ErrBreakerOpen = errors.New("circuit breaker open")
	// ErrBulkheadFull is returned (wrapped) when MaxInFlight attempts are already running.
	ErrBulkheadFull = errors.New("bulkhead full")
)

// HTTPError is the error of an attempt answered with a 4xx or 5xx status.
type HTTPError struct {
	Dependency string
	Status     int
	// Code and Message come from the storefront's JSON error body when present.
	Code    string
	Message string
	// Body is the response body (truncated to 64 KiB).
	Body []byte
}

func (e *HTTPError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s answered %d %s: %s", e.Dependency, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%s answered %d", e.Dependency, e.Status)
}

// clientError marks an application-level refusal: the dependency is healthy
// and answered, but the answer is "no" (not found, conflict, validation).
type clientError struct{ err error }

func (e *clientError) Error() string { return e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// ClientError marks err, returned from a Do function, as the dependency's
// valid "no" answer (for example pgx.ErrNoRows or a unique violation): the
// attempt is classified "4xx", counts as a success for the breaker and is not
// retried. The error is returned to the caller unchanged in its chain.
func ClientError(err error) error {
	if err == nil {
		return nil
	}
	return &clientError{err: err}
}

// Classify maps an attempt's error to its outcome class. It looks through
// wrapping (errors.Is / errors.As), so it works on *url.Error, *net.OpError
// and the errors of database drivers alike.
func Classify(err error) string {
	if err == nil {
		return OutcomeOK
	}
	var re *Error
	if errors.As(err, &re) && re.Outcome != "" {
		return re.Outcome
	}
	var ce *clientError
	if errors.As(err, &ce) {
		return Outcome4xx
	}
	if errors.Is(err, ErrBreakerOpen) || errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return OutcomeBreakerOpen
	}
	if errors.Is(err, ErrBulkheadFull) {
		return OutcomeBulkheadFull
	}
	var he *HTTPError
	if errors.As(err, &he) {
		if he.Status >= 500 {
			return Outcome5xx
		}
		return Outcome4xx
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		// A resolver that times out is still a DNS failure: DNS is the cause.
		return OutcomeDNS
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return OutcomeRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// EOF before a complete answer means the peer dropped the connection:
		// the same lesson as a reset for the caller.
		return OutcomeReset
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return OutcomeTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return OutcomeTimeout
	}
	return OutcomeOther
}

// retryable reports whether an attempt with this outcome may be retried.
// Breaker and bulkhead refusals fail fast; 4xx answers are final.
func retryable(outcome string) bool {
	switch outcome {
	case OutcomeTimeout, OutcomeRefused, OutcomeReset, Outcome5xx, OutcomeDNS, OutcomeOther:
		return true
	}
	return false
}

// breakerFailure reports whether an outcome counts against the breaker.
func breakerFailure(outcome string) bool {
	switch outcome {
	case OutcomeOK, Outcome4xx:
		return false
	}
	return true
}
