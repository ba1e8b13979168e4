package reports

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/outagelab/outagelab/internal/testenv"
	"github.com/outagelab/outagelab/reports/result"
)

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	testenv.Need(t, "chromium (Debian package `chromium`)", errors.New("not in $CHROMIUM, the usual paths or PATH"))
	return ""
}

// TestHTMLInBrowser opens the HTML report in headless Chromium at desktop and
// phone widths, fails on any console error or exception, checks the page laid
// out its charts, and saves screenshots.
func TestHTMLInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	exe := chromiumPath(t)
	dir := outDir(t)
	for _, tc := range []struct {
		name string
		r    *result.Result
	}{
		{"fragile", synthetic(t, result.SyntheticOptions{})},
		{"hardened-partial", partial(synthetic(t, result.SyntheticOptions{Policy: "hardened", FailInvariant: true}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths, err := Render(tc.r, []string{"html"}, filepath.Join(dir, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			for _, vp := range []struct {
				name   string
				w, h   int64
				mobile bool
				dark   bool
			}{
				{"desktop", 1280, 900, false, false},
				{"desktop-dark", 1280, 900, false, true},
				{"phone", 390, 844, true, false},
			} {
				shot := filepath.Join(dir, tc.name, "report-"+vp.name+".png")
				browse(t, exe, paths[0], shot, vp.w, vp.h, vp.mobile, vp.dark)
				t.Logf("screenshot: %s", shot)
			}
		})
	}
}

func browse(t *testing.T, exe, htmlPath, shot string, w, h int64, mobile, dark bool) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		// The report must not need the network: no host resolves.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
		chromedp.WindowSize(int(w), int(h)),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // start the browser and the tab
		t.Fatalf("start chromium: %v", err)
	}

	// Collect every console message, exception and browser log entry.
	cctx, stopConsole := context.WithCancel(ctx)
	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	messages := chromedp.Console(cctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()

	scheme := "light"
	if dark {
		scheme = "dark"
	}
	viewport := []chromedp.EmulateViewportOption{}
	if mobile {
		viewport = append(viewport, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(w, h, viewport...),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
			return err
		}),
		chromedp.Navigate("file://"+htmlPath),
	)
	if err != nil {
		t.Fatalf("open report: %v", err)
	}
	eval := func(js string) int {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	svgs := eval(`document.querySelectorAll("svg.chart").length`)
	// Charts that laid out with no size would be blank.
	narrow := eval(`[...document.querySelectorAll("svg.chart")].filter(s => s.getBoundingClientRect().width < 50).length`)
	scrollW := eval(`document.documentElement.scrollWidth`)
	darkOn := eval(`matchMedia("(prefers-color-scheme: dark)").matches ? 1 : 0`)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	stopConsole()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("%dx%d: console: %s", w, h, p)
	}
	if svgs < 5 {
		t.Errorf("%dx%d: %d SVG charts on the page, want the heatmap, journey, region and graph charts", w, h, svgs)
	}
	if narrow > 0 {
		t.Errorf("%dx%d: %d charts laid out narrower than 50 px", w, h, narrow)
	}
	// The page itself must not scroll sideways (wide parts scroll in their own box).
	if scrollW > int(w)+1 {
		t.Errorf("%dx%d: page is %d px wide: it scrolls sideways", w, h, scrollW)
	}
	if (darkOn == 1) != dark {
		t.Errorf("prefers-color-scheme emulation did not take: dark=%v", darkOn == 1)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 {
		t.Errorf("screenshot is only %d bytes", len(png))
	}
}
