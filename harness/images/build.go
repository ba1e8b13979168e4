package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// Go packages built into images and tools.
const (
	ToxiproxyModule    = "github.com/Shopify/toxiproxy/v2"
	ToxiproxyServerPkg = ToxiproxyModule + "/cmd/server"
	ToxiproxyCLIPkg    = ToxiproxyModule + "/cmd/cli"
	// toxiproxyLdflags stamps the version, as Toxiproxy's own release does
	// (without it /version answers "git").
	toxiproxyLdflags = "-X " + ToxiproxyModule + ".Version=" + ToxiproxyVersion
)

type scratchSpec struct {
	repo   string // image repository
	tag    string // fixed tag; empty: the content hash
	binary string // file copied to /<name>
	name   string
	cmd    []string
	expose []int
}

// dockerfile is the build recipe; it is part of the content hash.
func (s scratchSpec) dockerfile() string {
	var b strings.Builder
	b.WriteString("FROM scratch\n")
	fmt.Fprintf(&b, "COPY %s /%s\n", s.name, s.name)
	for _, p := range s.expose {
		fmt.Fprintf(&b, "EXPOSE %d\n", p)
	}
	ep, _ := json.Marshal([]string{"/" + s.name})
	fmt.Fprintf(&b, "ENTRYPOINT %s\n", ep)
	if len(s.cmd) > 0 {
		cmd, _ := json.Marshal(s.cmd)
		fmt.Fprintf(&b, "CMD %s\n", cmd)
	}
	return b.String()
}

// ContentHash is the short hex SHA-256 over each part's length and own
// SHA-256, so that moving bytes between parts changes the hash. Parts are
// streamed: a 40 MB binary is hashed without being held in memory.
func ContentHash(parts ...io.Reader) (string, error) {
	h := sha256.New()
	for _, p := range parts {
		ph := sha256.New()
		n, err := io.Copy(ph, p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d:%x;", n, ph.Sum(nil))
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// ensureScratch builds a FROM scratch image holding one binary unless an
// image with the same content hash already carries the tag.
func ensureScratch(ctx context.Context, o *Options, s scratchSpec) (ref, source string, err error) {
	f, err := os.Open(s.binary)
	if err != nil {
		return "", "", fmt.Errorf("read binary: %w", err)
	}
	df := s.dockerfile()
	hash, err := ContentHash(strings.NewReader(df), f)
	f.Close()
	if err != nil {
		return "", "", fmt.Errorf("hash %s: %w", s.binary, err)
	}
	tag := s.tag
	if tag == "" {
		tag = hash
	}
	ref = s.repo + ":" + tag
	labels, ok, err := imageLabels(ctx, o.Client, ref)
	if err != nil {
		return "", "", err
	}
	if ok && labels[LabelContent] == hash {
		o.logf("image %s up to date", ref)
		return ref, "present", nil
	}
	start := time.Now()
	bin, err := os.ReadFile(s.binary) // only when a build is needed
	if err != nil {
		return "", "", fmt.Errorf("read binary: %w", err)
	}
	buildCtx, err := tarContext(map[string][]byte{"Dockerfile": []byte(df), s.name: bin})
	if err != nil {
		return "", "", err
	}
	res, err := o.Client.ImageBuild(ctx, buildCtx, client.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{LabelContent: hash, LabelImage: s.repo},
		Version:     build.BuilderV1, // classic builder: FROM scratch needs no registry
	})
	if err != nil {
		return "", "", fmt.Errorf("build %s: %w", ref, err)
	}
	defer res.Body.Close()
	if err := readJSONStream(res.Body, nil); err != nil {
		return "", "", fmt.Errorf("build %s: %w", ref, err)
	}
	o.logf("image %s built in %s", ref, since(start))
	return ref, "built", nil
}

// tarContext packs files into an in-memory build context.
func tarContext(files map[string][]byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		mode := int64(0o644)
		if name != "Dockerfile" {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// readJSONStream drains an engine progress stream and returns its first
// error message. Lines are copied to log when it is not nil.
func readJSONStream(r io.Reader, log io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read engine stream: %w", err)
		}
		if m.Error != nil {
			return errors.New(strings.TrimSpace(m.Error.Message))
		}
		if log != nil && m.Stream != "" {
			io.WriteString(log, m.Stream)
		}
	}
}

// builtFrom reports whether bin is a static Go binary of module at version
// (its embedded build info says so, as `go version -m` shows).
func builtFrom(bin, module, version string) bool { // and stamped with toxiproxyLdflags
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return false
	}
	cgoOff, stamped := false, false
	for _, s := range info.Settings {
		switch {
		case s.Key == "CGO_ENABLED" && s.Value == "0":
			cgoOff = true
		case s.Key == "-ldflags" && strings.Contains(s.Value, toxiproxyLdflags):
			stamped = true
		}
	}
	if !cgoOff || !stamped {
		return false
	}
	if info.Main.Path == module && info.Main.Version == version {
		return true
	}
	for _, d := range info.Deps {
		if d.Path == module {
			return d.Version == version && d.Replace == nil
		}
	}
	return false
}

// goBuild builds a static binary of pkg from the module at root.
func goBuild(ctx context.Context, root, out, pkg string, extra ...string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	args := append([]string{"build", "-trimpath"}, extra...)
	cmd := exec.CommandContext(ctx, goTool(), append(args, "-o", out, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if p := "/usr/local/go/bin/go"; fileExists(p) {
		return p
	}
	return "go"
}

// BuildToxiproxyCLI builds the official toxiproxy-cli at the Toxiproxy
// version this module uses into dir/toxiproxy-cli and returns its path. The
// CLI needs modules our go.mod does not list, so it is built outside the
// module with `go install pkg@version` (fetched through the Go proxy once,
// then from the module cache).
func BuildToxiproxyCLI(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "toxiproxy-cli")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	gobin, err := os.MkdirTemp("", "outagelab-gobin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(gobin)
	cmd := exec.CommandContext(ctx, goTool(), "install", "-trimpath", "-ldflags="+toxiproxyLdflags, ToxiproxyCLIPkg+"@v"+ToxiproxyVersion)
	cmd.Dir = os.TempDir() // outside any module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOBIN="+gobin, "GOFLAGS=-buildvcs=false", "GO111MODULE=on")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install toxiproxy-cli: %w\n%s", err, strings.TrimSpace(string(b)))
	}
	if err := os.Rename(filepath.Join(gobin, "cli"), out); err != nil {
		// Across file systems: copy.
		b, rerr := os.ReadFile(filepath.Join(gobin, "cli"))
		if rerr != nil {
			return "", fmt.Errorf("install toxiproxy-cli: %w", err)
		}
		if werr := os.WriteFile(out, b, 0o755); werr != nil {
			return "", fmt.Errorf("install toxiproxy-cli: %w", werr)
		}
	}
	return out, nil
}

// ModuleRoot finds the directory of this repository's go.mod, upwards from
// dir (empty: the working directory).
func ModuleRoot(dir string) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		dir = wd
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/outagelab/outagelab\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errNoRoot
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// lockFile takes an exclusive flock on path, polling until ctx ends, so two
// processes never build the same image at once.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("image lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			f.Truncate(0)
			f.WriteString(strconv.Itoa(os.Getpid()))
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("image lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for image lock %s (another outagelab builds images): %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
