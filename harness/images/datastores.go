package images

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Debian suite and packages of the datastore image.
const (
	DebianSuite        = "bookworm"
	DatastorePackages  = "redis-server,postgresql-15"
	postgresBin        = "/usr/lib/postgresql/15/bin"
	postgresReadyLine  = "database system is ready to accept connections"
	redisReadyLine     = "Ready to accept connections"
	datastoreImagePath = postgresBin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// postgresScript initialises a trust-auth cluster on first start (kept
// across container restarts), lets other containers in, and runs postgres
// in the foreground as the container's user (postgres).
const postgresScript = `set -e
D=` + pgdataDir + `
if [ ! -s "$D/PG_VERSION" ]; then
  ` + postgresBin + `/initdb -D "$D" -A trust -U postgres -N >/dev/null
  echo 'host all all 0.0.0.0/0 trust' >> "$D/pg_hba.conf"
fi
exec ` + postgresBin + `/postgres -D "$D" -c 'listen_addresses=*' -c unix_socket_directories=/tmp`

// pgdataDir holds a cluster initialised when the image is built, so a
// container starts postgres at once instead of running initdb (seconds on a
// busy machine). Each container gets its own copy (copy-on-write layer).
const pgdataDir = "/var/lib/outagelab/pgdata"

var redisCmd = []string{"redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"}

func officialPostgres(src string) Image {
	return Image{
		Name: Postgres, Ref: OfficialPostgres, Source: src, Port: 5432,
		Env:      map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust"},
		ReadyLog: postgresReadyLine, ReadyOccurrence: 2, // the entrypoint's init server logs it first
	}
}

func officialRedis(src string) Image {
	return Image{Name: Redis, Ref: OfficialRedis, Source: src, Port: 6379, Cmd: redisCmd, ReadyLog: redisReadyLine, ReadyOccurrence: 1}
}

func debianPostgres(src string) Image {
	return Image{
		Name: Postgres, Ref: DatastoresRef, Source: src, Port: 5432,
		User:       "postgres",
		Entrypoint: []string{"sh", "-c", postgresScript},
		ReadyLog:   postgresReadyLine, ReadyOccurrence: 1,
	}
}

func debianRedis(src string) Image {
	return Image{Name: Redis, Ref: DatastoresRef, Source: src, Port: 6379, Cmd: redisCmd, ReadyLog: redisReadyLine, ReadyOccurrence: 1}
}

// ensureDatastores prefers the official images when they are present (or
// pulled, when allowed) and otherwise builds one Debian image for both.
func ensureDatastores(ctx context.Context, o *Options) (pg, rd Image, err error) {
	pgOK, err := present(ctx, o.Client, OfficialPostgres)
	if err != nil {
		return pg, rd, err
	}
	rdOK, err := present(ctx, o.Client, OfficialRedis)
	if err != nil {
		return pg, rd, err
	}
	pgSrc, rdSrc := "present", "present"
	if o.Pull {
		if !pgOK {
			pgOK = pull(ctx, o, OfficialPostgres)
			pgSrc = "pulled"
		}
		if !rdOK {
			rdOK = pull(ctx, o, OfficialRedis)
			rdSrc = "pulled"
		}
	}
	if pgOK && rdOK {
		o.logf("images %s and %s %s/%s", OfficialPostgres, OfficialRedis, pgSrc, rdSrc)
		return officialPostgres(pgSrc), officialRedis(rdSrc), nil
	}
	src := "present"
	ok, err := datastoresCurrent(ctx, o.Client)
	if err != nil {
		return pg, rd, err
	}
	if ok {
		o.logf("image %s present", DatastoresRef)
	} else {
		if err := BuildDatastores(ctx, o.Client, o.Log); err != nil {
			return pg, rd, err
		}
		src = "imported"
	}
	pg, rd = debianPostgres(src), debianRedis(src)
	if pgOK {
		pg = officialPostgres(pgSrc)
	}
	if rdOK {
		rd = officialRedis(rdSrc)
	}
	return pg, rd, nil
}

// recipeEnv marks the datastore image with the version of this recipe; an
// image from an older recipe is rebuilt.
const recipeEnv = "OUTAGELAB_DATASTORES_RECIPE=2"

func datastoresCurrent(ctx context.Context, c client.APIClient) (bool, error) {
	res, err := c.ImageInspect(ctx, DatastoresRef)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspect image %s: %w", DatastoresRef, err)
	}
	return res.Config != nil && slices.Contains(res.Config.Env, recipeEnv), nil
}

// pull tries to pull ref, bounded to three minutes; false when it failed.
func pull(ctx context.Context, o *Options, ref string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	o.logf("pulling %s (%s set)", ref, PullEnv)
	res, err := o.Client.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err == nil {
		err = res.Wait(ctx)
	}
	if err != nil {
		o.logf("pull %s failed, building from Debian packages instead: %v", ref, err)
		return false
	}
	return true
}

// BuildDatastores makes outagelab/datastores:bookworm from Debian packages:
// debootstrap a minimal bookworm with redis-server and postgresql-15 from
// the machine's own mirror, prune docs/man/locales/apt caches, and import
// the tree as an image. Needs root and debootstrap.
func BuildDatastores(ctx context.Context, c client.APIClient, logw io.Writer) error {
	log := &Options{Log: logw}
	if os.Geteuid() != 0 {
		return fmt.Errorf("build %s: debootstrap needs root; run `sudo outagelab images` once, or set %s=1 where a registry can serve %s and %s", DatastoresRef, PullEnv, OfficialPostgres, OfficialRedis)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("build %s: debootstrap not found (apt-get install debootstrap): %w", DatastoresRef, err)
	}
	if _, err := exec.LookPath("tar"); err != nil {
		return fmt.Errorf("build %s: tar not found: %w", DatastoresRef, err)
	}
	mirror, err := Mirror(DebianSuite)
	if err != nil {
		return fmt.Errorf("build %s: %w", DatastoresRef, err)
	}
	dir, err := os.MkdirTemp("", "outagelab-rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // the image's "/": every user traverses it
		return err
	}

	start := time.Now()
	log.logf("building %s from Debian %s packages (%s) via %s; the first build takes one to a few minutes", DatastoresRef, DebianSuite, DatastorePackages, mirror)
	if err := Debootstrap(ctx, dir, DebianSuite, mirror, strings.Split(DatastorePackages, ",")...); err != nil {
		return fmt.Errorf("build %s: %w", DatastoresRef, err)
	}
	booted := time.Now()
	if err := initCluster(ctx, dir); err != nil {
		return fmt.Errorf("build %s: %w", DatastoresRef, err)
	}
	if err := pruneRootfs(dir); err != nil {
		return fmt.Errorf("build %s: prune: %w", DatastoresRef, err)
	}
	if err := importRootfs(ctx, c, dir, DatastoresRef); err != nil {
		return fmt.Errorf("build %s: %w", DatastoresRef, err)
	}
	log.logf("image %s built in %s (debootstrap %s, prune+import %s)", DatastoresRef, since(start),
		booted.Sub(start).Round(10*time.Millisecond), since(booted))
	return nil
}

// Debootstrap makes a minimal Debian root filesystem (--variant=minbase) of
// suite in dir from mirror (see Mirror), with the packages include. Needs
// root and debootstrap. On failure the error carries the tail of
// debootstrap's output and of its log.
func Debootstrap(ctx context.Context, dir, suite, mirror string, include ...string) error {
	deboot, err := exec.LookPath("debootstrap")
	if err != nil {
		return fmt.Errorf("debootstrap not found (apt-get install debootstrap): %w", err)
	}
	args := []string{"--variant=minbase"}
	if len(include) > 0 {
		args = append(args, "--include="+strings.Join(include, ","))
	}
	cmd := exec.CommandContext(ctx, deboot, append(args, suite, dir, mirror)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		detail, _ := os.ReadFile(filepath.Join(dir, "debootstrap", "debootstrap.log"))
		return fmt.Errorf("debootstrap: %w\n%s\n%s", err, tail(out.String(), 20), tail(string(detail), 20))
	}
	return nil
}

// initCluster runs initdb inside the new root as its postgres user and lets
// other containers in (trust: a lab on a private network).
func initCluster(ctx context.Context, dir string) error {
	uid, gid, err := passwdIDs(filepath.Join(dir, "etc", "passwd"), "postgres")
	if err != nil {
		return err
	}
	data := filepath.Join(dir, pgdataDir)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if err := os.Chown(filepath.Dir(data), uid, gid); err != nil {
		return err
	}
	if err := os.Chown(data, uid, gid); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "chroot", "--userspec="+strconv.Itoa(uid)+":"+strconv.Itoa(gid), dir,
		postgresBin+"/initdb", "-D", pgdataDir, "-A", "trust", "-U", "postgres", "-N")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/tmp"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb in the image: %w\n%s", err, tail(string(out), 20))
	}
	f, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("host all all 0.0.0.0/0 trust\n")
	return err
}

// passwdIDs finds user's uid and gid in an /etc/passwd file.
func passwdIDs(path, user string) (uid, gid int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && f[0] == user {
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 != nil || err2 != nil {
				break
			}
			return uid, gid, nil
		}
	}
	return 0, 0, fmt.Errorf("no valid %s user in %s", user, path)
}

// pruneRootfs removes what a server never reads: docs, man pages, locales,
// apt's package cache and lists, and the cluster the package made.
func pruneRootfs(dir string) error {
	for _, pat := range []string{
		"usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*",
		"var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*",
		"var/lib/postgresql/15", "var/log/*.log",
	} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return err
		}
		for _, p := range m {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// importRootfs imports the datastore root filesystem as ref.
func importRootfs(ctx context.Context, c client.APIClient, dir, ref string) error {
	return ImportRootfs(ctx, c, dir, ref, "ENV PATH="+datastoreImagePath, "ENV LANG=C.UTF-8", "ENV "+recipeEnv)
}

// ImportRootfs streams `tar -C dir -c .` into the engine's image import as
// ref, with the Dockerfile instructions changes (e.g. "ENV PATH=...").
func ImportRootfs(ctx context.Context, c client.APIClient, dir, ref string, changes ...string) error {
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", dir, "-c", ".")
	stdout, err := tarCmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	tarCmd.Stderr = &stderr
	if err := tarCmd.Start(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	res, err := c.ImageImport(ctx, client.ImageImportSource{Source: stdout, SourceName: "-"}, ref, client.ImageImportOptions{
		Changes: changes,
	})
	if err != nil {
		tarCmd.Process.Kill()
		tarCmd.Wait()
		return fmt.Errorf("import: %w", err)
	}
	streamErr := readJSONStream(res, nil)
	res.Close()
	if err := tarCmd.Wait(); err != nil {
		return fmt.Errorf("tar: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if streamErr != nil {
		return fmt.Errorf("import: %w", streamErr)
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
