package scenarios

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// progress shows the run on a terminal as one rewritten status line, or as
// plain timestamped lines (every 5 s at most) when not a TTY.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	lastLen  int
	lastLine time.Time
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = isatty.IsTerminal(f.Fd())
	}
	return p
}

// line prints an event on its own line.
func (p *progress) line(s string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, "%s %s\n", time.Now().Format("15:04:05"), s)
}

// status updates the live status.
func (p *progress) status(s string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		if time.Since(p.lastLine) < 5*time.Second {
			return
		}
		p.lastLine = time.Now()
		fmt.Fprintf(p.w, "%s %s\n", time.Now().Format("15:04:05"), s)
		return
	}
	p.clear()
	fmt.Fprint(p.w, s)
	p.lastLen = len(s)
}

func (p *progress) clear() {
	if p.tty && p.lastLen > 0 {
		fmt.Fprintf(p.w, "\r%*s\r", p.lastLen, "")
		p.lastLen = 0
	}
}

func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}
