package reports

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outagelab/outagelab/reports/result"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// synthetic is the realistic test result: 2 regions, 20 components, three
// fault phases, 10 minutes at 1 s buckets, deterministic.
func synthetic(t testing.TB, o result.SyntheticOptions) *result.Result {
	t.Helper()
	if o.Seed == 0 {
		o.Seed = 20211207
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Minute
	}
	return result.Synthetic(o)
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read golden (run `go test ./reports -run %s -update` to create it): %v", t.Name(), err)
	}
	if string(want) != string(got) {
		dump := filepath.Join(t.TempDir(), name)
		os.WriteFile(dump, got, 0o644)
		t.Errorf("%s differs from golden %s (got written to %s; rerun with -update if the change is intended)", name, p, dump)
	}
}

// outDir is where a test leaves artefacts for people to look at: $OUTAGELAB_TEST_OUT
// when set, else a temp dir.
func outDir(t *testing.T) string {
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
