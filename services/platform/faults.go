package platform

import (
	crand "crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// FaultSettings are the app-level fault hooks (CONTRACT.md "Admin API"):
// what Toxiproxy cannot do at the TCP level. All off by default.
type FaultSettings struct {
	// ErrorRate is the fraction of inbound requests answered with ErrorStatus.
	ErrorRate float64 `json:"error_rate"`
	// ErrorStatus is the status of injected errors (default 503).
	ErrorStatus int `json:"error_status"`
	// DelayMS is added before every inbound handler.
	DelayMS int `json:"delay_ms"`
	// EmptyDiscovery names dependencies whose calls fail as if DNS answered
	// nothing (outcome "dns").
	EmptyDiscovery []string `json:"empty_discovery"`
	// Routes limits ErrorRate and DelayMS to request paths with one of these
	// prefixes; empty means every route. /healthz and /metrics are never hit.
	Routes []string `json:"routes"`
	// Seed seeds the ErrorRate draws: the n-th request that may be failed
	// gets the same decision for the same seed, whatever the wall clock.
	// Absent in a PUT that sets an error rate: a seed is drawn at random and
	// GET reports it, so the sequence can be replayed. A PUT carrying the
	// seed already in effect continues its sequence; another seed, or the
	// first PUT after DELETE, starts a new one.
	Seed *int64 `json:"seed,omitempty"`
}

// MaxFaultDelay bounds DelayMS.
const MaxFaultDelay = 10 * time.Minute

// Validate reports every problem at once. known is the set of configured
// dependency names.
func (f *FaultSettings) Validate(known map[string]string) error {
	var probs []string
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.ErrorRate != f.ErrorRate {
		probs = append(probs, fmt.Sprintf("error_rate must be in [0,1], got %g", f.ErrorRate))
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599) {
		probs = append(probs, fmt.Sprintf("error_status must be 400..599, got %d", f.ErrorStatus))
	}
	if f.DelayMS < 0 || time.Duration(f.DelayMS)*time.Millisecond > MaxFaultDelay {
		probs = append(probs, fmt.Sprintf("delay_ms must be 0..%d, got %d", MaxFaultDelay.Milliseconds(), f.DelayMS))
	}
	for _, d := range f.EmptyDiscovery {
		if _, ok := known[d]; !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			probs = append(probs, fmt.Sprintf("empty_discovery: %q is not a dependency of this service (have: %s)", d, strings.Join(names, ", ")))
		}
	}
	for _, r := range f.Routes {
		if !strings.HasPrefix(r, "/") {
			probs = append(probs, fmt.Sprintf("routes: %q must start with /", r))
		}
	}
	if len(probs) > 0 {
		return Errorf(http.StatusBadRequest, "invalid_faults", "%s", strings.Join(probs, "; "))
	}
	return nil
}

// Faults holds the current hooks; safe for concurrent use.
type Faults struct {
	mu  sync.RWMutex
	cur FaultSettings

	// draw guards rng, the seeded source of the error draws: requests take
	// their draw in the order they reach it, one at a time.
	draw sync.Mutex
	rng  *rand.Rand
}

// Get returns a copy of the current hooks.
func (f *Faults) Get() FaultSettings {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c := f.cur
	c.EmptyDiscovery = slices.Clone(c.EmptyDiscovery)
	c.Routes = slices.Clone(c.Routes)
	if c.Seed != nil {
		seed := *c.Seed
		c.Seed = &seed
	}
	return c
}

// faultStream separates the fault draws' PCG stream from other users of
// the same seed.
const faultStream = 0xfa017

// Set replaces the hooks (not a merge). The caller validated s. The error
// draws come from s.Seed (see FaultSettings.Seed).
func (f *Faults) Set(s FaultSettings) {
	if s.ErrorRate > 0 && s.ErrorStatus == 0 {
		s.ErrorStatus = http.StatusServiceUnavailable
	}
	s.EmptyDiscovery = slices.Clone(s.EmptyDiscovery)
	s.Routes = slices.Clone(s.Routes)
	if s.Seed != nil {
		seed := *s.Seed
		s.Seed = &seed
	} else if s.ErrorRate > 0 {
		seed := randomSeed()
		s.Seed = &seed
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.draw.Lock()
	defer f.draw.Unlock()
	switch {
	case s.Seed == nil:
		f.rng = nil
	case f.rng != nil && f.cur.Seed != nil && *f.cur.Seed == *s.Seed:
		// Same seed: the sequence continues (a merged re-push of the hooks).
	default:
		f.rng = rand.New(rand.NewPCG(uint64(*s.Seed), faultStream))
	}
	f.cur = s
}

// randomSeed is the seed of a PUT that gives none: random, but reported by
// GET so that the draws can be replayed. It fits in 53 bits so that JSON
// readers with float64 numbers keep it exact.
func randomSeed() int64 {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) & (1<<53 - 1))
}

// Clear turns every hook off.
func (f *Faults) Clear() { f.Set(FaultSettings{}) }

// EmptyDiscovery reports whether dependency dep currently resolves to nothing.
func (f *Faults) EmptyDiscovery(dep string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Contains(f.cur.EmptyDiscovery, dep)
}

// exempt paths are never delayed or failed: liveness and scraping must keep
// telling the truth about the process.
func exempt(path string) bool { return path == "/healthz" || path == "/metrics" }

// inbound decides the fault for one request: the delay and, when non-zero,
// the injected status.
func (f *Faults) inbound(path string) (time.Duration, int) {
	if exempt(path) {
		return 0, 0
	}
	f.mu.RLock()
	s := f.cur
	f.mu.RUnlock()
	if s.ErrorRate == 0 && s.DelayMS == 0 {
		return 0, 0
	}
	if len(s.Routes) > 0 && !slices.ContainsFunc(s.Routes, func(r string) bool { return strings.HasPrefix(path, r) }) {
		return 0, 0
	}
	status := 0
	if s.ErrorRate > 0 && f.drawFloat() < s.ErrorRate {
		status = s.ErrorStatus
	}
	return time.Duration(s.DelayMS) * time.Millisecond, status
}

// drawFloat is the next error draw of the seeded sequence.
func (f *Faults) drawFloat() float64 {
	f.draw.Lock()
	defer f.draw.Unlock()
	if f.rng == nil { // unreachable through Set: an error rate always has a seed
		f.rng = rand.New(rand.NewPCG(uint64(randomSeed()), faultStream))
	}
	return f.rng.Float64()
}

// middleware applies the inbound hooks.
func (f *Faults) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delay, status := f.inbound(r.URL.Path)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if status != 0 {
			WriteError(w, status, "injected_fault", "fault injected by the admin API")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func seedText(p *int64) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

// adminHandler serves /admin/faults behind the bearer token. An empty token
// refuses every call: the admin API is off unless a token is configured.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, s.Faults.Get())
	})
	mux.HandleFunc("PUT /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var fs FaultSettings
		if !DecodeJSON(w, r, &fs) {
			return
		}
		if err := fs.Validate(s.Config.Deps); err != nil {
			WriteErr(w, err)
			return
		}
		s.Faults.Set(fs)
		cur := s.Faults.Get()
		s.Log.Warn("app-level faults set", "error_rate", cur.ErrorRate, "error_status", cur.ErrorStatus,
			"delay_ms", cur.DelayMS, "empty_discovery", cur.EmptyDiscovery, "routes", cur.Routes, "seed", seedText(cur.Seed))
		WriteJSON(w, http.StatusOK, cur)
	})
	mux.HandleFunc("DELETE /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		s.Faults.Clear()
		s.Log.Warn("app-level faults cleared")
		WriteJSON(w, http.StatusOK, s.Faults.Get())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "not_found", "admin API: GET, PUT or DELETE /admin/faults")
	})
	token := []byte(s.Config.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(token) == 0 {
			WriteError(w, http.StatusForbidden, "admin_disabled", "admin API disabled: start the service with --admin-token")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="storefront-admin"`)
			WriteError(w, http.StatusUnauthorized, "unauthorized", "admin API needs Authorization: Bearer <admin-token>")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		mux.ServeHTTP(w, r)
	})
}
