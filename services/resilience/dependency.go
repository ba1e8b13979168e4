package resilience

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// MaxResponseBytes bounds how much of a dependency's HTTP answer is read.
const MaxResponseBytes = 4 << 20

// Options configures a Dependency beyond its policy. Every field is optional.
type Options struct {
	// URL is the dependency's base URL (or DSN for datastores).
	URL string
	// Metrics records the contract's metrics; nil records into a private registry.
	Metrics *Metrics
	// Client sends DoHTTP requests; nil uses a dedicated keep-alive client
	// that ignores proxy environment variables.
	Client *http.Client
	// EmptyDiscovery, when it returns true, makes every attempt fail at once
	// as if DNS answered nothing (outcome "dns"): the app-level fault hook.
	EmptyDiscovery func() bool
	// Logger receives retries and breaker transitions; nil discards.
	Logger *slog.Logger
}

// Dependency executes calls to one named dependency under a Policy. It is
// safe for concurrent use; make one per dependency name and share it.
type Dependency struct {
	name    string
	url     string
	host    string
	policy  Policy
	m       *Metrics
	client  *http.Client
	breaker *gobreaker.CircuitBreaker[struct{}]
	sem     chan struct{}
	empty   func() bool
	log     *slog.Logger
	sleep   func(ctx context.Context, d time.Duration) error

	// Series of this dependency, resolved once (label lookups cost more than a call).
	attemptsBy map[string]prometheus.Counter
	callsBy    map[string]prometheus.Counter
	durations  prometheus.Observer
	inflight   prometheus.Gauge
	fallbacks  prometheus.Counter
}

// Error is the error of a failed logical call. Outcome is the class of the
// last attempt, so Classify(err) agrees with the metrics.
type Error struct {
	Dependency string
	Outcome    string
	Attempts   int
	Err        error
}

func (e *Error) Error() string {
	return fmt.Sprintf("call %s: %s after %d attempt(s): %v", e.Dependency, e.Outcome, e.Attempts, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a Dependency named name (the `dependency` metric label).
func New(name string, policy Policy, opts Options) (*Dependency, error) {
	if name == "" {
		return nil, errors.New("new dependency: empty name")
	}
	if err := policy.Validate(); err != nil {
		return nil, fmt.Errorf("new dependency %s: %w", name, err)
	}
	d := &Dependency{name: name, url: strings.TrimRight(opts.URL, "/"), policy: policy, m: opts.Metrics,
		client: opts.Client, empty: opts.EmptyDiscovery, log: opts.Logger, sleep: sleepCtx}
	if opts.URL != "" {
		u, err := url.Parse(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("new dependency %s: parse URL: %w", name, err)
		}
		d.host = u.Hostname()
	}
	if d.host == "" {
		d.host = name
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.m == nil {
		m, err := NewMetrics(prometheus.NewRegistry(), "", "")
		if err != nil {
			return nil, err
		}
		d.m = m
	}
	if d.client == nil {
		d.client = NewHTTPClient()
	}
	if policy.MaxInFlight > 0 {
		d.sem = make(chan struct{}, policy.MaxInFlight)
	}
	if b := policy.Breaker; b != nil {
		d.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        name,
			MaxRequests: max(b.HalfOpenMaxRequests, 1),
			Interval:    b.Interval,
			Timeout:     b.OpenTimeout,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				if b.ConsecutiveFailures > 0 && c.ConsecutiveFailures >= b.ConsecutiveFailures {
					return true
				}
				return b.FailureRatio > 0 && c.Requests >= max(b.MinRequests, 1) &&
					float64(c.TotalFailures)/float64(c.Requests) >= b.FailureRatio
			},
			OnStateChange: func(_ string, from, to gobreaker.State) {
				d.log.Warn("breaker state change", "dependency", name, "from", from.String(), "to", to.String())
			},
			IsSuccessful: func(err error) bool { return !breakerFailure(Classify(err)) },
			// A bulkhead refusal or a caller that gave up says nothing about the dependency.
			IsExcluded: func(err error) bool {
				return errors.Is(err, ErrBulkheadFull) || errors.Is(err, context.Canceled)
			},
		})
	}
	d.m.register(name, d.breakerState)
	d.attemptsBy = map[string]prometheus.Counter{}
	for _, o := range Outcomes {
		d.attemptsBy[o] = d.m.requests.WithLabelValues(name, o)
	}
	d.callsBy = map[string]prometheus.Counter{}
	for _, r := range []string{ResultOK, ResultError, ResultFallback} {
		d.callsBy[r] = d.m.calls.WithLabelValues(name, r)
	}
	d.durations = d.m.duration.WithLabelValues(name)
	d.inflight = d.m.inflight.WithLabelValues(name)
	d.fallbacks = d.m.fallback.WithLabelValues(name)
	return d, nil
}

// NewHTTPClient returns the keep-alive client dependencies use by default.
// It never uses HTTP_PROXY (every address is loopback or a Docker network)
// and has no overall timeout: the policy's per-attempt timeout applies.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// Name is the dependency's name.
func (d *Dependency) Name() string { return d.name }

// BaseURL is the configured URL (or DSN) without a trailing slash.
func (d *Dependency) BaseURL() string { return d.url }

// URL joins the base URL and path ("/products?limit=5").
func (d *Dependency) URL(path string) string {
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return d.url + path
}

// Policy returns the dependency's policy.
func (d *Dependency) Policy() Policy { return d.policy }

// FallbackAllowed reports whether the policy lets callers serve a fallback.
func (d *Dependency) FallbackAllowed() bool { return d.policy.Fallback }

// FallbackServed counts one degraded answer served instead of this
// dependency's (storefront_fallback_served_total). DoFallback calls it itself;
// use it directly only when the fallback decision is made outside DoFallback.
func (d *Dependency) FallbackServed() { d.fallbacks.Inc() }

// BreakerState returns "closed", "half-open", "open", or "none".
func (d *Dependency) BreakerState() string {
	if d.breaker == nil {
		return "none"
	}
	return d.breaker.State().String()
}

func (d *Dependency) breakerState() float64 {
	if d.breaker == nil {
		return 0
	}
	switch d.breaker.State() {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

// Do runs fn under the policy: each attempt gets the policy's timeout in its
// context, passes the breaker and bulkhead, is classified and recorded, and
// retryable failures are retried with backoff. fn must honour its context.
// Wrap an application-level "no" in ClientError so it is not retried.
func (d *Dependency) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	err := d.run(ctx, fn, func(string) bool { return true })
	d.recordCall(err)
	return err
}

// DoFallback is Do with a fallback: when the call fails and the policy
// allows fallbacks, fallback runs with the call's error; if it succeeds the
// call counts as result "fallback", FallbackServed is recorded and
// fellBack is true. Without fallback permission the call's error is returned.
func (d *Dependency) DoFallback(ctx context.Context, fn func(ctx context.Context) error,
	fallback func(ctx context.Context, cause error) error) (fellBack bool, err error) {
	err = d.run(ctx, fn, func(string) bool { return true })
	if err == nil || !d.policy.Fallback || fallback == nil {
		d.recordCall(err)
		return false, err
	}
	if ferr := fallback(ctx, err); ferr != nil {
		d.recordCall(err)
		return false, fmt.Errorf("%w (fallback failed: %v)", err, ferr)
	}
	d.callsBy[ResultFallback].Inc()
	d.FallbackServed()
	return true, nil
}

// DoHTTP sends the request that build makes (one fresh request per attempt,
// built with the attempt's context) under the policy.
//
// Retries: a request is retried only when it is idempotent (GET, HEAD,
// OPTIONS, PUT, DELETE) or carries an Idempotency-Key header; any other
// request is retried only when it surely never reached the callee (refused,
// dns). Answers: a status < 500 returns the response and a nil error (a 4xx
// is counted as outcome "4xx" and is not retried); a 5xx after the last
// attempt returns a nil response and an error wrapping *HTTPError. The body
// is read within the attempt's timeout and returned in memory.
func (d *Dependency) DoHTTP(ctx context.Context, build func(ctx context.Context) (*http.Request, error)) (*http.Response, error) {
	var (
		resp       *http.Response
		idempotent = true
		first      = true
	)
	fn := func(actx context.Context) error {
		resp = nil
		req, err := build(actx)
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
		if first {
			first = false
			idempotent = isIdempotent(req)
		}
		r, err := d.client.Do(req)
		if err != nil {
			return err
		}
		body, rerr := io.ReadAll(io.LimitReader(r.Body, MaxResponseBytes))
		r.Body.Close()
		if rerr != nil {
			return fmt.Errorf("read response: %w", rerr)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.StatusCode >= 400 {
			he := &HTTPError{Dependency: d.name, Status: r.StatusCode, Body: body}
			var e struct{ Error, Code string }
			if json.Unmarshal(body, &e) == nil {
				he.Code, he.Message = e.Code, e.Error
			}
			if r.StatusCode < 500 {
				resp = r
			}
			return he
		}
		resp = r
		return nil
	}
	err := d.run(ctx, fn, func(outcome string) bool {
		return idempotent || outcome == OutcomeRefused || outcome == OutcomeDNS
	})
	var he *HTTPError
	if errors.As(err, &he) && he.Status < 500 && resp != nil {
		err = nil
	}
	d.recordCall(err)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// CallJSON sends a JSON request (in may be nil) to path and decodes a 2xx
// answer into out (which may be nil). Any status ≥ 400 is returned as an
// error wrapping *HTTPError (errors.As gives Status and the callee's code).
// Headers in hdr are added to every attempt (e.g. Idempotency-Key).
func (d *Dependency) CallJSON(ctx context.Context, method, path string, hdr http.Header, in, out any) error {
	var payload []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("call %s: encode request: %w", d.name, err)
		}
		payload = b
	}
	resp, err := d.DoHTTP(ctx, func(ctx context.Context) (*http.Request, error) {
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, d.URL(path), body)
		if err != nil {
			return nil, err
		}
		for k, vs := range hdr {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		he := &HTTPError{Dependency: d.name, Status: resp.StatusCode, Body: b}
		var e struct{ Error, Code string }
		if json.Unmarshal(b, &e) == nil {
			he.Code, he.Message = e.Code, e.Error
		}
		return &Error{Dependency: d.name, Outcome: Outcome4xx, Attempts: 1, Err: he}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("call %s: decode %s %s answer: %w", d.name, method, path, err)
		}
	}
	return nil
}

func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != ""
}

// run is the retry loop; mayRetry further restricts retries by outcome.
func (d *Dependency) run(ctx context.Context, fn func(context.Context) error, mayRetry func(outcome string) bool) error {
	bo := d.policy.NewBackoff()
	for attempt := 1; ; attempt++ {
		err := d.attempt(ctx, fn)
		if err == nil {
			return nil
		}
		outcome := Classify(err)
		e := &Error{Dependency: d.name, Outcome: outcome, Attempts: attempt, Err: err}
		if attempt >= d.policy.MaxAttempts || !retryable(outcome) || !mayRetry(outcome) || ctx.Err() != nil {
			return e
		}
		wait := bo.NextBackOff()
		d.log.Debug("retrying dependency call", "dependency", d.name, "attempt", attempt, "outcome", outcome,
			"wait_ms", wait.Milliseconds(), "error", err.Error())
		if serr := d.sleep(ctx, wait); serr != nil {
			return e
		}
	}
}

// DiscoveryErr returns the *net.DNSError every attempt fails with while the
// empty-discovery hook is on, else nil. Readiness checks that bypass the
// policy use it so that they see what calls see.
func (d *Dependency) DiscoveryErr() error {
	if d.empty != nil && d.empty() {
		return &net.DNSError{Err: "no such host (empty discovery answer)", Name: d.host, IsNotFound: true}
	}
	return nil
}

// attempt runs one attempt and records its outcome.
func (d *Dependency) attempt(ctx context.Context, fn func(context.Context) error) error {
	if err := d.DiscoveryErr(); err != nil {
		d.attemptsBy[OutcomeDNS].Inc()
		return err
	}
	var outcome string
	guarded := func() (struct{}, error) {
		if d.sem != nil {
			select {
			case d.sem <- struct{}{}:
				defer func() { <-d.sem }()
			default:
				outcome = OutcomeBulkheadFull
				return struct{}{}, ErrBulkheadFull
			}
		}
		d.inflight.Inc()
		defer d.inflight.Dec()
		actx, cancel := context.WithTimeout(ctx, d.policy.Timeout)
		defer cancel()
		start := time.Now()
		err := fn(actx)
		d.durations.Observe(time.Since(start).Seconds())
		outcome = Classify(err)
		if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) &&
			outcome != Outcome4xx && outcome != Outcome5xx && outcome != OutcomeTimeout {
			// The attempt's deadline passed and the call failed: whatever the
			// driver made of it (EOF, "other"), the cause is the timeout.
			outcome = OutcomeTimeout
			err = &Error{Dependency: d.name, Outcome: OutcomeTimeout, Attempts: 1,
				Err: fmt.Errorf("attempt timeout %s: %w", d.policy.Timeout, err)}
		}
		return struct{}{}, err
	}
	var err error
	if d.breaker != nil {
		_, err = d.breaker.Execute(guarded)
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			outcome = OutcomeBreakerOpen
			err = fmt.Errorf("%w: %w", ErrBreakerOpen, err)
		}
	} else {
		_, err = guarded()
	}
	if outcome == "" {
		outcome = Classify(err)
	}
	c, ok := d.attemptsBy[outcome]
	if !ok { // an *Error with a made-up outcome from fn
		c = d.attemptsBy[OutcomeOther]
	}
	c.Inc()
	return err
}

func (d *Dependency) recordCall(err error) {
	result := ResultOK
	if err != nil && Classify(err) != Outcome4xx {
		result = ResultError
	}
	d.callsBy[result].Inc()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
