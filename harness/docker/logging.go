package docker

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	tc "github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// testcontainers-go prints its own progress ("🐳 Creating container…",
// "✅ Container started…") and, once per process, a banner describing the
// Docker host, to stderr through its package logger. Those lines belong in
// the run's log, not on the user's terminal:
//
//   - containers get the run's logger through tc.WithLogger (containerLogger);
//   - everything that uses the package default (the banner printed by the
//     first Docker client, networks) goes to the loggers of the runs
//     starting or tearing down at that moment (tcDefault), or, when none
//     is, to slog.Default() at debug level (hidden by default).
func init() { tclog.SetDefault(tcDefault) }

// tcLogger adapts a *slog.Logger to testcontainers-go's log.Logger.
type tcLogger struct{ l *slog.Logger }

func (t tcLogger) Printf(format string, v ...any) {
	t.l.Info(strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "testcontainers")
}

// containerLogger is the customizer giving a container the run's logger.
func containerLogger(l *slog.Logger) tc.ContainerCustomizer { return tc.WithLogger(tcLogger{l}) }

// forwarder is testcontainers-go's package default logger.
type forwarder struct {
	mu   sync.Mutex
	runs map[*slog.Logger]int
}

var tcDefault = &forwarder{runs: map[*slog.Logger]int{}}

func (f *forwarder) Printf(format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	f.mu.Lock()
	ls := make([]*slog.Logger, 0, len(f.runs))
	for l := range f.runs {
		ls = append(ls, l)
	}
	f.mu.Unlock()
	if len(ls) == 0 {
		slog.Default().Debug(msg, "source", "testcontainers")
		return
	}
	for _, l := range ls {
		l.Info(msg, "source", "testcontainers")
	}
}

// capture sends the package default logger's lines to l until release is
// called (a run's start or teardown).
func (f *forwarder) capture(l *slog.Logger) (release func()) {
	f.mu.Lock()
	f.runs[l]++
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.runs[l]--; f.runs[l] <= 0 {
			delete(f.runs, l)
		}
	}
}
