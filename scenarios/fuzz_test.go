package scenarios

import (
	"path"
	"testing"
)

// FuzzLoad: the loader never panics and returns either a scenario or errors
// that carry the file name. Run: go test ./scenarios -run '^$' -fuzz FuzzLoad
func FuzzLoad(f *testing.F) {
	for _, n := range LibraryNames() {
		src, err := library.ReadFile(path.Join("library", n+".yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(good))
	f.Add([]byte("a: &a [1,2]\nb: [*a,*a,*a]\n"))
	f.Add([]byte("name: [[[[[[\n"))
	f.Add([]byte("phases: {<<: *x}\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 64<<10 {
			return
		}
		s, err := Parse("fuzz.yaml", src, Options{})
		if err == nil {
			if s == nil || s.Name == "" || len(s.Phases) == 0 {
				t.Fatalf("accepted a scenario without name or phases: %+v", s)
			}
			return
		}
		if es, ok := err.(Errors); ok {
			if len(es) == 0 || len(es) > maxErrors+1 {
				t.Fatalf("%d errors", len(es))
			}
			for _, e := range es {
				if e.File != "fuzz.yaml" {
					t.Fatalf("error without file: %v", e)
				}
			}
		}
	})
}
