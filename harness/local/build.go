package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ModulePath is the Go module holding cmd/storefront.
const ModulePath = "github.com/outagelab/outagelab"

var (
	findMu    sync.Mutex
	foundPath string
)

// FindStorefront returns a storefront binary, in this order:
//  1. $OUTAGELAB_STOREFRONT_BIN;
//  2. `storefront` next to the running executable (bin/outagelab → bin/storefront),
//     unless the executable is a test binary;
//  3. built with `go build` from the module source found above the working
//     directory, into the user cache dir (Go's build cache makes this fast
//     when nothing changed, and it is never stale);
//  4. `storefront` on PATH.
//
// The result is cached for the life of the process.
func FindStorefront(ctx context.Context) (string, error) {
	findMu.Lock()
	defer findMu.Unlock()
	if foundPath != "" {
		return foundPath, nil
	}
	p, err := findStorefront(ctx)
	if err != nil {
		return "", err
	}
	foundPath = p
	return p, nil
}

func findStorefront(ctx context.Context) (string, error) {
	if p := os.Getenv("OUTAGELAB_STOREFRONT_BIN"); p != "" {
		if !isExec(p) {
			return "", fmt.Errorf("OUTAGELAB_STOREFRONT_BIN=%s is not an executable file", p)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil && !strings.HasSuffix(exe, ".test") {
		if p := filepath.Join(filepath.Dir(exe), "storefront"); isExec(p) {
			return p, nil
		}
	}
	var buildErr error
	if root, ok := moduleRoot(); ok {
		p, err := BuildStorefront(ctx, root)
		if err == nil {
			return p, nil
		}
		buildErr = err
	}
	if p, err := exec.LookPath("storefront"); err == nil {
		return p, nil
	}
	if buildErr != nil {
		return "", fmt.Errorf("storefront binary: %w", buildErr)
	}
	return "", errors.New("storefront binary not found: run `make build` (bin/storefront), set OUTAGELAB_STOREFRONT_BIN, or run from the outagelab source tree")
}

// BuildStorefront builds cmd/storefront from the module at root into the
// user cache dir and returns the binary's path.
func BuildStorefront(ctx context.Context, root string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "outagelab", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build storefront: %w", err)
	}
	out := filepath.Join(dir, "storefront")
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build storefront: no go toolchain on PATH: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// Build to a temp name and rename: a concurrent run never execs a half-written file.
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.CommandContext(bctx, goBin, "build", "-trimpath", "-o", tmp, "./cmd/storefront")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("build storefront (go build ./cmd/storefront in %s): %w\n%s", root, err, strings.TrimSpace(stderr.String()))
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("build storefront: %w", err)
	}
	return out, nil
}

// moduleRoot walks up from the working directory to the go.mod of ModulePath.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+ModulePath+"\n")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
