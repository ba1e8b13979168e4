// Package effect carries, through a context, the moment a runtime observed
// that an action took effect (a process stopped, a container paused), so
// that the fault applier records that moment rather than the time its call
// returned.
//
//	faults.Applier ──ctx with Observer──▶ Deployment.ComponentAction ──Observed(ctx, t)──▶ TargetApplied = t
package effect

import (
	"context"
	"time"
)

type key struct{}

// WithObserver returns ctx carrying f: Observed(ctx, t) calls f(t).
func WithObserver(ctx context.Context, f func(time.Time)) context.Context {
	return context.WithValue(ctx, key{}, f)
}

// Observed reports to ctx's observer (if any) that the effect of the action
// being performed was seen at t.
func Observed(ctx context.Context, t time.Time) {
	if f, ok := ctx.Value(key{}).(func(time.Time)); ok && f != nil {
		f(t)
	}
}
