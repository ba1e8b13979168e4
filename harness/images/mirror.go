package images

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// MirrorEnv overrides the Debian mirror read from the apt sources.
const MirrorEnv = "OUTAGELAB_DEBIAN_MIRROR"

// Mirror returns the Debian mirror URI for suite from this machine's apt
// sources (deb822 *.sources files and one-line *.list files under
// /etc/apt), or from OUTAGELAB_DEBIAN_MIRROR. It is read at run time so the
// build uses whatever mirror the machine is configured with.
func Mirror(suite string) (string, error) {
	if v := strings.TrimSpace(os.Getenv(MirrorEnv)); v != "" {
		return v, nil
	}
	return MirrorFrom("/etc/apt", suite)
}

// MirrorFrom is Mirror over the apt configuration directory aptDir.
func MirrorFrom(aptDir, suite string) (string, error) {
	var files []string
	if fileExists(filepath.Join(aptDir, "sources.list")) {
		files = append(files, filepath.Join(aptDir, "sources.list"))
	}
	for _, pat := range []string{"*.sources", "*.list"} {
		m, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", pat))
		sort.Strings(m)
		files = append(files, m...)
	}
	var all []Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("read apt sources: %w", err)
		}
		if strings.HasSuffix(f, ".sources") {
			all = append(all, ParseDeb822(strings.NewReader(string(b)))...)
		} else {
			all = append(all, ParseSourcesList(strings.NewReader(string(b)))...)
		}
	}
	if m, ok := PickMirror(all, suite); ok {
		return m, nil
	}
	return "", fmt.Errorf("no http(s) apt source for Debian %q in %s (files: %d); set %s to a Debian mirror URL", suite, aptDir, len(files), MirrorEnv)
}

// Source is one apt source: binary packages from URIs for Suites.
type Source struct {
	Types  []string
	URIs   []string
	Suites []string
}

// PickMirror returns the first http(s) URI of a "deb" source that serves
// suite exactly.
func PickMirror(srcs []Source, suite string) (string, bool) {
	for _, s := range srcs {
		if !slices.Contains(s.Types, "deb") || !slices.Contains(s.Suites, suite) {
			continue
		}
		for _, u := range s.URIs {
			if p, err := url.Parse(u); err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" {
				return u, true
			}
		}
	}
	return "", false
}

// ParseDeb822 reads apt's deb822 format: stanzas of "Key: value" fields
// separated by blank lines; '#' starts a comment line; a line starting with
// white space continues the previous field. Stanzas with "Enabled: no" are
// left out.
func ParseDeb822(r io.Reader) []Source {
	var out []Source
	fields := map[string]string{}
	last := ""
	flush := func() {
		if len(fields) > 0 && !strings.EqualFold(strings.TrimSpace(fields["enabled"]), "no") {
			out = append(out, Source{
				Types:  strings.Fields(fields["types"]),
				URIs:   strings.Fields(fields["uris"]),
				Suites: strings.Fields(fields["suites"]),
			})
		}
		fields = map[string]string{}
		last = ""
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(strings.TrimSpace(line), "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return out
}

// ParseSourcesList reads the one-line format:
// "deb [opt=val ...] URI suite [component...]".
func ParseSourcesList(r io.Reader) []Source {
	var out []Source
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "[") {
			end := strings.Index(rest, "]")
			if end < 0 {
				continue
			}
			rest = strings.TrimSpace(rest[end+1:])
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		out = append(out, Source{Types: []string{typ}, URIs: []string{f[0]}, Suites: []string{f[1]}})
	}
	return out
}
