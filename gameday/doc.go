// Package gameday runs a live game-day exercise: a facilitator injects
// faults, plays library scenarios (pause, resume, skip a phase) and halts
// everything from a browser while a room watches the system degrade.
//
// It is a library first: a user's own code can bring a topology up with
// harness.Up, wrap it in a Console and serve Console.Handler on any listener.
// `outagelab gameday` is a thin CLI on top.
//
//	browser ──HTTPS/HTTP──▶ Handler ──auth (Bearer | cookie)──▶ Console
//	  ▲  (one embedded page,  │  same-origin check on POST/DELETE      │
//	  │   no CDN)              │                                       ├─▶ harness/faults Applier (apply/remove/halt)
//	  └──── SSE /api/events ◀──┘  state every second and on change     ├─▶ player: scenario phases on its own clock
//	                                                                   ├─▶ load generator + recorder (live view)
//	                                                                   └─▶ audit log (Result.Events + audit.jsonl)
//	Console.Finish: halt, stop load, fill the canonical Result (phases = every
//	fault injected, events, notes) → result.json + report.html.
//
// Every fault the console applies, by hand or from a scenario, goes through
// the harness's one fault registry, so the palette offers exactly the kinds
// the registry holds and a new kind appears in the console with no change here.
package gameday
