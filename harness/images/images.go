// Package images builds or finds, without a registry, every image a docker
// run needs, and names them by symbolic name.
//
//	bin/storefront ──tar──▶ classic builder ──▶ outagelab/storefront:<hash>   FROM scratch
//	toxiproxy-server ─tar──▶ classic builder ──▶ outagelab/toxiproxy:2.12.0   FROM scratch
//	postgres:15, redis:7 when present locally (or pulled, opt-in)
//	else debootstrap ──tar──▶ docker import ──▶ outagelab/datastores:bookworm
//
// Ensure is idempotent: a Go image is rebuilt only when its binary (or its
// Dockerfile) changed, which the content hash in the image's label tells;
// the datastore image is built once and reused.
package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"
)

// Symbolic image names.
const (
	Storefront = "storefront"
	Toxiproxy  = "toxiproxy"
	Postgres   = "postgres"
	Redis      = "redis"
)

// Image references and labels.
const (
	StorefrontRepo   = "outagelab/storefront"
	ToxiproxyRepo    = "outagelab/toxiproxy"
	ToxiproxyVersion = "2.12.0"
	DatastoresRef    = "outagelab/datastores:bookworm"
	OfficialPostgres = "postgres:15"
	OfficialRedis    = "redis:7"

	// LabelContent carries the content hash an image was built from.
	LabelContent = "org.outagelab.content"
	// LabelImage marks every image this package made.
	LabelImage = "org.outagelab.image"

	// PullEnv opts in to pulling the official datastore images when a
	// registry is reachable ("1" or "true").
	PullEnv = "OUTAGELAB_PULL_IMAGES"
)

// Image is one resolved image and how to run it.
type Image struct {
	Name   string // symbolic: storefront, toxiproxy, postgres, redis
	Ref    string // image reference to run
	Source string // "built", "present", "pulled" or "imported"
	// How to run it. Entrypoint and Cmd nil mean the image's own.
	Entrypoint []string
	Cmd        []string
	User       string
	Env        map[string]string
	Port       int // the main TCP port inside the container
	// ReadyLog is a log line that means ready, seen ReadyOccurrence times.
	// Empty: the image answers HTTP readiness instead.
	ReadyLog        string
	ReadyOccurrence int
}

// Set is the resolved images for one run.
type Set struct {
	Storefront, Toxiproxy, Postgres, Redis Image
}

// All lists the images in a fixed order.
func (s Set) All() []Image { return []Image{s.Storefront, s.Toxiproxy, s.Postgres, s.Redis} }

// Get returns the image with a symbolic name.
func (s Set) Get(name string) (Image, bool) {
	for _, im := range s.All() {
		if im.Name == name {
			return im, true
		}
	}
	return Image{}, false
}

// Options configure Ensure. The zero value works from inside the repository.
type Options struct {
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// Root is the module root (the directory holding go.mod); empty: found
	// upwards from the working directory.
	Root string
	// BinDir receives the built binaries; empty: Root/bin.
	BinDir string
	// StorefrontBinary, when set, is used as is instead of building
	// ./cmd/storefront.
	StorefrontBinary string
	// ToxiproxyBinary, when set, is used instead of building the server.
	ToxiproxyBinary string
	// Pull allows pulling postgres:15 and redis:7 when they are not present
	// (also enabled by OUTAGELAB_PULL_IMAGES=1). Off by default: no registry.
	Pull bool
	// SkipDatastores leaves postgres and redis unresolved.
	SkipDatastores bool
	// SkipStorefront leaves the storefront image unresolved (a topology
	// without it).
	SkipStorefront bool
	// RepoPrefix prefixes the built Go images' repositories; empty:
	// "outagelab/". Tests use their own so they never replace real tags.
	RepoPrefix string
	// Client talks to the engine; nil: one from the environment.
	Client client.APIClient
}

func (o *Options) repo(name string) string {
	if o.RepoPrefix == "" {
		return "outagelab/" + name
	}
	return o.RepoPrefix + name
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// NewClient returns a Docker API client from the environment (DOCKER_HOST
// and friends) that negotiates the API version with the engine.
func NewClient() (*client.Client, error) {
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// ensureMu serialises Ensure within a process; lockFile across processes.
var ensureMu sync.Mutex

// Ensure builds or finds every image and returns them. It never pulls unless
// asked to. ctx should carry a deadline: a first datastore build takes about
// a minute.
func Ensure(ctx context.Context, opts Options) (Set, error) {
	done, err := opts.begin(ctx)
	if err != nil {
		return Set{}, err
	}
	defer done()
	if opts.Root == "" && ((opts.StorefrontBinary == "" && !opts.SkipStorefront) || opts.ToxiproxyBinary == "") {
		root, err := ModuleRoot("")
		if err != nil {
			return Set{}, err
		}
		opts.Root = root
	}
	if opts.BinDir == "" {
		opts.BinDir = filepath.Join(opts.Root, "bin")
	}
	if v := strings.ToLower(os.Getenv(PullEnv)); v == "1" || v == "true" {
		opts.Pull = true
	}

	var set Set
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// The two Go builds share the CPU; one after the other is as fast.
		if !opts.SkipStorefront {
			sf, err := ensureStorefront(gctx, &opts)
			if err != nil {
				return err
			}
			set.Storefront = sf
		}
		tp, err := ensureToxiproxy(gctx, &opts)
		if err != nil {
			return err
		}
		set.Toxiproxy = tp
		return nil
	})
	if !opts.SkipDatastores {
		g.Go(func() error {
			pg, rd, err := ensureDatastores(gctx, &opts)
			set.Postgres, set.Redis = pg, rd
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Set{}, err
	}
	return set, nil
}

// EnsureDatastores resolves only the postgres and redis images.
func EnsureDatastores(ctx context.Context, opts Options) (pg, rd Image, err error) {
	done, err := opts.begin(ctx)
	if err != nil {
		return pg, rd, err
	}
	defer done()
	if v := strings.ToLower(os.Getenv(PullEnv)); v == "1" || v == "true" {
		opts.Pull = true
	}
	return ensureDatastores(ctx, &opts)
}

// begin takes the image locks and fills in the client.
func (o *Options) begin(ctx context.Context) (func(), error) {
	ensureMu.Lock()
	unlock, err := lockFile(ctx, filepath.Join(os.TempDir(), "outagelab-images.lock"))
	if err != nil {
		ensureMu.Unlock()
		return nil, err
	}
	closeClient := func() {}
	if o.Client == nil {
		c, err := NewClient()
		if err != nil {
			unlock()
			ensureMu.Unlock()
			return nil, err
		}
		o.Client = c
		closeClient = func() { c.Close() }
	}
	return func() { closeClient(); unlock(); ensureMu.Unlock() }, nil
}

func ensureStorefront(ctx context.Context, o *Options) (Image, error) {
	bin := o.StorefrontBinary
	if bin == "" {
		bin = filepath.Join(o.BinDir, "storefront")
		if err := goBuild(ctx, o.Root, bin, "./cmd/storefront"); err != nil {
			return Image{}, fmt.Errorf("build storefront: %w (fix cmd/storefront or pass a prebuilt binary)", err)
		}
	}
	ref, src, err := ensureScratch(ctx, o, scratchSpec{
		repo:   o.repo("storefront"),
		binary: bin,
		name:   "storefront",
		expose: []int{8080, 9090},
	})
	if err != nil {
		return Image{}, fmt.Errorf("storefront image: %w", err)
	}
	return Image{Name: Storefront, Ref: ref, Source: src, Port: 8080}, nil
}

func ensureToxiproxy(ctx context.Context, o *Options) (Image, error) {
	bin := o.ToxiproxyBinary
	if bin == "" {
		bin = filepath.Join(o.BinDir, "toxiproxy-server")
		// The server only changes with the module version: reuse a binary
		// whose embedded build info names the same version.
		if !builtFrom(bin, ToxiproxyModule, "v"+ToxiproxyVersion) {
			if err := goBuild(ctx, o.Root, bin, ToxiproxyServerPkg, "-ldflags="+toxiproxyLdflags); err != nil {
				return Image{}, fmt.Errorf("build toxiproxy-server: %w", err)
			}
		}
	}
	ref, src, err := ensureScratch(ctx, o, scratchSpec{
		repo:   o.repo("toxiproxy"),
		tag:    ToxiproxyVersion,
		binary: bin,
		name:   "toxiproxy-server",
		cmd:    []string{"-host=0.0.0.0", "-port=8474"},
		expose: []int{8474},
	})
	if err != nil {
		return Image{}, fmt.Errorf("toxiproxy image: %w", err)
	}
	return Image{Name: Toxiproxy, Ref: ref, Source: src, Port: 8474}, nil
}

// imageLabels returns the labels of a local image, or found=false.
func imageLabels(ctx context.Context, c client.APIClient, ref string) (map[string]string, bool, error) {
	res, err := c.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if res.Config == nil {
		return map[string]string{}, true, nil
	}
	return res.Config.Labels, true, nil
}

// present reports whether ref is in the engine's image store.
func present(ctx context.Context, c client.APIClient, ref string) (bool, error) {
	_, ok, err := imageLabels(ctx, c, ref)
	return ok, err
}

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

var errNoRoot = errors.New("no go.mod of github.com/outagelab/outagelab found upwards from the working directory")
