package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/outagelab/outagelab/internal/procs"
)

// initdb dominates a local start (seconds on a busy 2-core machine), so the
// first run keeps a freshly initialised, cleanly shut down cluster as a
// template under the temp dir and every later postgres component starts from
// a copy (cp -a keeps the postgres user's ownership and modes).

var templateMu sync.Mutex

// pgTemplate returns the pgdata directory of the template cluster, creating
// it on first use. An error means "initdb as usual".
func pgTemplate(ctx context.Context) (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()
	binDir, err := procs.LookPostgres()
	if err != nil {
		return "", err
	}
	st, err := os.Stat(filepath.Join(binDir, "postgres"))
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(binDir + "|" + st.ModTime().String() + "|" + strconv.Itoa(os.Geteuid())))
	root := filepath.Join(os.TempDir(), "outagelab-pgtemplate-"+hex.EncodeToString(h[:6]))
	pgdata := filepath.Join(root, "pgdata")
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); err == nil {
		return pgdata, nil
	}
	build, err := os.MkdirTemp(os.TempDir(), "outagelab-pgtemplate-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(build) // gone after a successful rename; cleans up otherwise
	if err := os.Chmod(build, 0o755); err != nil {
		return "", err
	}
	pg, err := procs.StartPostgres(ctx, build, procs.WithFsync(false))
	if err != nil {
		return "", fmt.Errorf("build postgres template: %w", err)
	}
	if err := pg.Stop(); err != nil {
		return "", fmt.Errorf("build postgres template: %w", err)
	}
	if _, err := os.Stat(filepath.Join(build, "pgdata", "PG_VERSION")); err != nil {
		return "", fmt.Errorf("build postgres template: cluster not kept in %s", build)
	}
	if err := os.Rename(build, root); err != nil {
		// Another process won the race: use theirs.
		if _, serr := os.Stat(filepath.Join(pgdata, "PG_VERSION")); serr == nil {
			return pgdata, nil
		}
		return "", fmt.Errorf("build postgres template: %w", err)
	}
	return pgdata, nil
}

// seedPostgres copies the template cluster into dir/pgdata when dir has none.
func seedPostgres(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "pgdata", "PG_VERSION")); err == nil {
		return nil
	}
	tmpl, err := pgTemplate(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "cp", "-a", tmpl, filepath.Join(dir, "pgdata")).CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(filepath.Join(dir, "pgdata"))
		return fmt.Errorf("copy postgres template: %v: %s", err, out)
	}
	return nil
}
