package gameday_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/outagelab/outagelab/internal/testenv"
)

func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
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

// screenshotDir is $OUTAGELAB_TEST_OUT/<test> when set (to keep the
// screenshot), else a temp dir.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("OUTAGELAB_TEST_OUT"); d != "" {
		d = filepath.Join(d, t.Name())
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestConsoleInBrowser drives the console page in headless Chromium: open
// it with the token, inject a latency fault from the palette, see it in
// Toxiproxy's API and in the live view, press HALT, see no toxic left.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	exe := chromium(t)
	f := start(t)

	// Without the token the page and the API refuse.
	for _, p := range []string{"/", "/api/state"} {
		resp, err := http.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", p, resp.StatusCode)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"), // the page needs no network but the console
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
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

	// The token once in the URL; the page redirects to / with a cookie.
	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/?token="+f.con.Token())); err != nil {
		t.Fatalf("open console: %v", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)), chromedp.WaitVisible(chromedp.CSS(`#conn.live`)))
	wcancel()
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " ready=" + document.body.dataset.ready + " conn=" + document.getElementById("conn").textContent + " toast=" + document.getElementById("toast").textContent`))
		mu.Lock()
		t.Fatalf("console did not come up: %v; page: %s; console: %v", err, page, problems)
	}
	loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil || strings.Contains(loc, "token") {
		t.Errorf("address bar after login: %q %v (the token must not stay in it)", loc, err)
	}
	kinds, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#kind option").length`))
	if err != nil || kinds < 10 {
		t.Errorf("palette lists %d kinds (%v), want the whole registry", kinds, err)
	}

	// Inject: latency (the default kind) on one picked edge, 300 ms.
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#who`), "browser-facilitator"),
		chromedp.SetValue(chromedp.CSS(`#edges`), "front__store"),
		chromedp.SetValue(chromedp.CSS(`#param-latency`), "300ms"),
		chromedp.Click(chromedp.CSS(`#apply`)),
		chromedp.WaitVisible(chromedp.CSS(`#faults tr[data-kind="latency"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#health [data-component="store"] .f`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-kind="fault_applied"]`)),
	)
	if err != nil {
		t.Fatalf("inject from the palette: %v", err)
	}
	px, err := f.env.Proxy.Proxy(context.Background(), "front__store")
	if err != nil {
		t.Fatal(err)
	}
	if len(px.ActiveToxics) != 1 || px.ActiveToxics[0].Type != "latency" || px.ActiveToxics[0].Attributes["latency"] != float64(300) {
		t.Fatalf("Toxiproxy after injecting from the UI: %+v", px.ActiveToxics)
	}
	if a := f.env.Faults.Active(); len(a) != 1 || a[0].Labels["by"] != "browser-facilitator" {
		t.Errorf("active faults %+v: want one, by browser-facilitator", a)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#note`), "latency on store injected from the browser"),
		chromedp.Click(chromedp.CSS(`#addnote`)), chromedp.WaitVisible(chromedp.CSS(`#notes li`))); err != nil {
		t.Fatalf("note: %v", err)
	}
	time.Sleep(1200 * time.Millisecond) // a few live updates with the fault on, for the screenshot
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0), true`)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(screenshotDir(t), "console.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// HALT from the page.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#halt`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline li[data-kind="halt"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#faults tr`)),
	)
	if err != nil {
		t.Fatalf("HALT from the page: %v", err)
	}
	left := f.toxics(t)
	if len(left) != 0 {
		t.Errorf("toxics after HALT from the page: %v", left)
	}
	stopConsole()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser console: %s", p)
	}
}
