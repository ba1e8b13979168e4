// Package resilience is the storefront's per-dependency resilience toolkit:
// timeouts, retries with capped exponential backoff and full jitter, a
// circuit breaker (sony/gobreaker), a bulkhead (max in flight) and fallback
// accounting, all measured with the Prometheus metrics of services/CONTRACT.md.
//
// One Dependency exists per dependency name. Every logical call goes through
// it, and every attempt of that call is classified into one outcome class:
//
//	caller ──Do/DoHTTP──▶ ┌─────────────── Dependency "catalog" ───────────────┐
//	                      │ discovery? ─▶ breaker ─▶ bulkhead ─▶ timeout ─▶ fn  │──▶ callee
//	                      │     │            │          │           │           │
//	                      │   "dns"  "breaker_open" "bulkhead_full"  "timeout"…  │
//	                      │ ◀── retry (capped exp. backoff, full jitter) ◀──────  │
//	                      └──────────────────────────────────────────────────────┘
//	storefront_dependency_requests_total{outcome}   one per attempt
//	storefront_dependency_calls_total{result}       one per logical call
//
// The two named presets are "fragile" (long timeout, naive fixed-delay
// retries, no breaker, no bulkhead, no fallback) and "hardened" (short
// timeout, two attempts with full-jitter backoff, breaker, bulkhead,
// fallbacks allowed). See Preset.
package resilience
