package yamlx

import (
	"fmt"
	"strings"
)

// Closest returns the candidate nearest to got by edit distance and whether
// it is near enough to suggest: within max(2, len(got)/3) edits, or
// containing got.
func Closest(got string, candidates []string) (string, bool) {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := EditDistance(got, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return "", false
	}
	return best, bestD <= max(2, len(got)/3) || got != "" && strings.Contains(best, got)
}

// Suggest is a hint for an unknown name: `did you mean "x"?` for a close
// candidate, else the candidates (the first 12).
func Suggest(got string, candidates []string) string {
	if best, ok := Closest(got, candidates); ok {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if len(candidates) > 12 {
		return "one of: " + strings.Join(candidates[:12], ", ") + ", ..."
	}
	return "one of: " + strings.Join(candidates, ", ")
}

// EditDistance is the Levenshtein distance of a and b; strings longer than
// 64 bytes are never close (the cost stays bounded on hostile input).
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
