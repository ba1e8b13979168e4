package scenarios

import (
	"strings"
	"testing"
	"time"
)

func TestLibraryValidates(t *testing.T) {
	names := LibraryNames()
	if len(names) == 0 {
		t.Fatal("empty library")
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			s, err := LoadLibrary(n)
			if err != nil {
				t.Fatalf("library scenario does not validate:\n%v", err)
			}
			if s.Name != n {
				t.Errorf("name %q does not match file name %q", s.Name, n)
			}
			if s.Title == "" {
				t.Error("no title")
			}
			if n == "smoke" {
				if d := s.WallDuration(0); d >= time.Minute {
					t.Errorf("smoke runs %s at its scale, want < 1m", d)
				}
			}
			if s.Date != "" && len(s.Sources) == 0 {
				t.Errorf("a replay of a real outage (date %s) needs sources", s.Date)
			}
			for _, p := range s.Phases {
				if s.Date != "" && strings.TrimSpace(p.Note) == "" {
					t.Errorf("phase %q of a real outage has no note", p.Name)
				}
			}
		})
	}
}

func TestLibraryHasRequiredScenarios(t *testing.T) {
	have := map[string]bool{}
	for _, n := range LibraryNames() {
		have[n] = true
	}
	for _, n := range []string{"aws-us-east-1-2021-12-07", "smoke"} {
		if !have[n] {
			t.Errorf("library lacks %s", n)
		}
	}
	real := 0
	for _, n := range LibraryNames() {
		s, err := LoadLibrary(n)
		if err == nil && s.Date != "" {
			real++
		}
	}
	if real < 8 {
		t.Errorf("library replays %d real outages, want ≥ 8 (flagship + 7)", real)
	}
}
