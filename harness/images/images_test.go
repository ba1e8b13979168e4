package images

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const debianSources = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`

func TestParseDeb822(t *testing.T) {
	srcs := ParseDeb822(strings.NewReader(debianSources))
	if len(srcs) != 2 {
		t.Fatalf("got %d stanzas, want 2: %+v", len(srcs), srcs)
	}
	if got := srcs[0].Suites; len(got) != 2 || got[0] != "bookworm" {
		t.Errorf("suites %v", got)
	}
	m, ok := PickMirror(srcs, "bookworm")
	if !ok || m != "http://deb.debian.org/debian" {
		t.Errorf("mirror %q %v", m, ok)
	}
	if _, ok := PickMirror(srcs, "trixie"); ok {
		t.Error("picked a mirror for a suite no source serves")
	}
}

func TestParseDeb822Details(t *testing.T) {
	in := `Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm

Types: deb
URIs: cdrom:/media
  https://mirror.example/debian
Suites: bookworm
`
	m, ok := PickMirror(ParseDeb822(strings.NewReader(in)), "bookworm")
	if !ok || m != "https://mirror.example/debian" {
		t.Errorf("got %q %v; want the continuation line's https URI (deb-src, disabled and cdrom skipped)", m, ok)
	}
}

func TestParseSourcesList(t *testing.T) {
	in := `# comment
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib # trailing
deb http://security.example/debian-security bookworm-security main
broken
`
	srcs := ParseSourcesList(strings.NewReader(in))
	if len(srcs) != 3 {
		t.Fatalf("got %d sources: %+v", len(srcs), srcs)
	}
	m, ok := PickMirror(srcs, "bookworm")
	if !ok || m != "http://mirror.example/debian" {
		t.Errorf("got %q %v", m, ok)
	}
}

func TestMirrorFrom(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "sources.list.d", "debian.sources"), []byte(debianSources), 0o644)
	m, err := MirrorFrom(dir, "bookworm")
	if err != nil || m != "http://deb.debian.org/debian" {
		t.Errorf("got %q, %v", m, err)
	}
	_, err = MirrorFrom(t.TempDir(), "bookworm")
	if err == nil || !strings.Contains(err.Error(), MirrorEnv) {
		t.Errorf("empty apt dir: want an error naming %s, got %v", MirrorEnv, err)
	}
	t.Setenv(MirrorEnv, "http://override.example/debian")
	if m, _ := Mirror("bookworm"); m != "http://override.example/debian" {
		t.Errorf("env override ignored: %q", m)
	}
}

func TestContentHash(t *testing.T) {
	h := func(parts ...string) string {
		var readers []io.Reader
		for _, p := range parts {
			readers = append(readers, strings.NewReader(p))
		}
		out, err := ContentHash(readers...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a := h("FROM scratch\n", "binary-1")
	if len(a) != 12 {
		t.Fatalf("hash %q: want 12 hex digits", a)
	}
	if a != h("FROM scratch\n", "binary-1") {
		t.Error("hash not stable")
	}
	if a == h("FROM scratch\n", "binary-2") {
		t.Error("a changed binary kept the hash")
	}
	if h("ab", "c") == h("a", "bc") {
		t.Error("moving bytes between parts kept the hash")
	}
}

func TestDockerfile(t *testing.T) {
	df := scratchSpec{name: "toxiproxy-server", cmd: []string{"-host=0.0.0.0"}, expose: []int{8474}}.dockerfile()
	for _, want := range []string{"FROM scratch\n", "COPY toxiproxy-server /toxiproxy-server\n", "EXPOSE 8474\n", `ENTRYPOINT ["/toxiproxy-server"]`, `CMD ["-host=0.0.0.0"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if strings.Contains(df, "# syntax") {
		t.Error("a syntax line would need BuildKit")
	}
}

func TestSetGet(t *testing.T) {
	s := Set{Storefront: Image{Name: Storefront, Ref: "a"}, Postgres: Image{Name: Postgres, Ref: "b"}}
	if im, ok := s.Get(Postgres); !ok || im.Ref != "b" {
		t.Errorf("Get(postgres) = %+v %v", im, ok)
	}
	if _, ok := s.Get("nope"); ok {
		t.Error("Get(nope) found something")
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot("")
	if err != nil {
		t.Fatal(err)
	}
	if !fileExists(filepath.Join(root, "go.mod")) {
		t.Errorf("root %s has no go.mod", root)
	}
	if _, err := ModuleRoot(t.TempDir()); err == nil {
		t.Error("found a module root in an empty temp dir")
	}
}

func FuzzParseDeb822(f *testing.F) {
	f.Add(debianSources)
	f.Add("Types: deb\nURIs: \n\n \n#\n:")
	f.Fuzz(func(t *testing.T, s string) {
		for _, src := range ParseDeb822(strings.NewReader(s)) {
			PickMirror([]Source{src}, "bookworm")
		}
	})
}

func FuzzParseSourcesList(f *testing.F) {
	f.Add("deb [a=b] http://x/debian bookworm main\n")
	f.Add("deb [unterminated http://x bookworm")
	f.Fuzz(func(t *testing.T, s string) {
		for _, src := range ParseSourcesList(strings.NewReader(s)) {
			if len(src.URIs) != 1 || len(src.Suites) != 1 {
				t.Fatalf("one-line source with %d URIs, %d suites", len(src.URIs), len(src.Suites))
			}
		}
	})
}

func TestPasswdIDs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(p, []byte("root:x:0:0:root:/root:/bin/sh\npostgres:x:101:104:PostgreSQL:/var/lib/postgresql:/bin/bash\nbad:x:y:z\n"), 0o644)
	uid, gid, err := passwdIDs(p, "postgres")
	if err != nil || uid != 101 || gid != 104 {
		t.Errorf("postgres: %d %d %v", uid, gid, err)
	}
	if _, _, err := passwdIDs(p, "bad"); err == nil {
		t.Error("malformed entry accepted")
	}
	if _, _, err := passwdIDs(p, "nobody"); err == nil {
		t.Error("missing user accepted")
	}
}

func TestBuiltFrom(t *testing.T) {
	// The test binary itself is not the Toxiproxy server.
	exe, _ := os.Executable()
	if builtFrom(exe, "github.com/Shopify/toxiproxy/v2", "v0.0.0-none") {
		t.Error("test binary claimed to be built from a version that does not exist")
	}
	if builtFrom(filepath.Join(t.TempDir(), "missing"), ToxiproxyModule, "v"+ToxiproxyVersion) {
		t.Error("missing file counted as built")
	}
}
