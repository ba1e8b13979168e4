package gateway

import (
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// staleCache keeps the last good answer per key so that, when the catalog
// fails and the policy allows a fallback, a recent answer can be served
// instead (X-Degraded: catalog-cache). It is never consulted while the
// catalog answers: it is a fallback, not a read cache.
type staleCache struct {
	mu      sync.Mutex
	maxAge  time.Duration
	max     int
	entries map[string]cacheEntry
	now     func() time.Time
}

type cacheEntry struct {
	v  any
	at time.Time
}

func newStaleCache(maxAge time.Duration, max int) *staleCache {
	return &staleCache{maxAge: maxAge, max: max, entries: map[string]cacheEntry{}, now: time.Now}
}

// put remembers v under key. When full, entries older than maxAge go first,
// then an arbitrary one (map order): the cache stays bounded.
func (c *staleCache) put(key string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if now.Sub(e.at) > c.maxAge {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cacheEntry{v: v, at: now}
}

// get returns the entry under key if it is younger than maxAge.
func (c *staleCache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || c.now().Sub(e.at) > c.maxAge {
		return nil, false
	}
	return e.v, true
}

// snapshot encodes v for the cache (a private copy: later changes by the
// caller cannot reach the cached answer).
func snapshot(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// copyCached decodes a cached snapshot into out.
func copyCached(cached any, out any) error {
	b, ok := cached.([]byte)
	if !ok || b == nil {
		return errors.New("cached answer unusable")
	}
	return json.Unmarshal(b, out)
}
