// Package load is Outage Lab's open-model load generator: shoppers arrive in
// each region at a fixed rate and run journeys against that region's gateway.
//
//	Pacer ──intended start──► dispatcher ──goroutine per arrival──► journey steps ──► gateway
//	                               │ (cap reached: dropped, counted)        │
//	                               ▼                                        ▼
//	                        schedule error                      StepResult (data, not errors)
//	                                                                        │
//	                                 per journey × region × bucket: outcome counts + HDR latency
//
// Open model: an arrival never waits for an earlier request. The pacer fixes
// every arrival's intended start in advance, and latency is measured from that
// intended start, so a stalled generator or a stalled system cannot hide
// behind coordinated omission. When the number of arrivals in flight reaches
// the cap, further arrivals are dropped and counted (never silently).
//
// Randomness (journey mix, user, product, quantity, search term) comes only
// from the seed, decided in the pacer goroutine in arrival order, so the same
// seed gives the same sequence of decisions.
package load
