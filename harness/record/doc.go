// Package record samples every component of a running topology into fixed
// time buckets and derives how each one degraded.
//
//	each bucket (1 s):  component /metrics ──expfmt──► counter deltas ─┐
//	                    component /healthz, /readyz, TCP ──► probe ─────┤
//	                    Toxiproxy /metrics ──► bytes per proxy ─────────┼─► compact per-bucket structs
//	                    monitoring GET /status ──► what it saw ─────────┤
//	                    load.Stats ──► journey outcomes, HDR latency ───┘
//	after the run:      Fill(result) ──► states, detection lag, recovery, cascade,
//	                                     blast radius, retry amplification, monitoring vs truth
//
// Memory is bounded by buckets × components: a bucket is a fixed-size struct
// (about 80 bytes per component, 20 per edge); no raw scrape is retained.
//
// The state rule (also written into every component's state_rule) is
// StateRule; its thresholds are Rules.
//
// Missing samples are not outages. The baseline is taken at the epoch (the
// recorder waits for a future one). Samples run on a context Stop does not
// cancel, and a request cut short by cancellation observes nothing. A bucket
// whose scrape failed or came after the probe timeout, that has no earlier
// scrape to subtract, or that is the last partial bucket covering less than
// MinCovered of a bucket, is unknown unless a probe failed; the next answered
// scrape's deltas are spread over the buckets it covers by width, so no
// bucket shows double traffic. Unknown buckets do not detect a fault, break
// or count toward recovery, or start a cascade step. Retry amplification per edge is
// attempts that reached the callee (the caller's
// storefront_dependency_requests_total for that dependency) ÷ logical calls
// (storefront_dependency_calls_total), or ÷ requests the caller received when
// the caller does not export logical calls.
package record
