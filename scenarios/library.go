package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/outagelab/outagelab/internal/yamlx"
)

// library holds the built-in scenarios, so `outagelab list` and
// `outagelab run NAME` work from any directory.
//
//go:embed library/*.yaml
var library embed.FS

// LibraryFS exposes the embedded library (library/NAME.yaml).
func LibraryFS() fs.FS { return library }

// LibraryNames lists the built-in scenarios, sorted.
func LibraryNames() []string {
	entries, _ := fs.ReadDir(library, "library")
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// LoadLibrary parses one built-in scenario by name.
func LoadLibrary(name string) (*Scenario, error) {
	src, err := library.ReadFile(path.Join("library", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("no scenario %q in the library (%s)", name, yamlx.Suggest(name, LibraryNames()))
	}
	return Parse("library/"+name+".yaml", src, Options{})
}

// Library parses every built-in scenario. It fails only when one is invalid,
// which the package's tests rule out.
func Library() ([]*Scenario, error) {
	var out []*Scenario
	for _, n := range LibraryNames() {
		s, err := LoadLibrary(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Resolve loads NAME from the library or FILE from disk: an argument with a
// path separator or a .yaml/.yml suffix, or that names an existing file, is a file.
func Resolve(arg string) (*Scenario, error) {
	isFile := strings.ContainsRune(arg, os.PathSeparator) || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml")
	if !isFile {
		if _, err := os.Stat(arg); err == nil {
			isFile = true
		}
	}
	if isFile {
		return Load(arg)
	}
	return LoadLibrary(arg)
}
