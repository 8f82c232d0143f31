package kmod

import "sort"

// closeMatches returns up to max names close to name: those within a
// small edit distance (about one edit per four characters), and those
// that start with name or that name starts with, closest first.
func closeMatches(name string, names []string, max int) []string {
	type cand struct {
		name string
		dist int
	}
	limit := len(name)/4 + 1
	seen := map[string]bool{}
	var cands []cand
	for _, n := range names {
		if seen[n] || n == name {
			continue
		}
		seen[n] = true
		d := editDistance(name, n)
		prefix := len(name) >= 3 && (hasPrefix(n, name) || hasPrefix(name, n) && len(n) >= 3)
		if d <= limit || prefix {
			cands = append(cands, cand{n, d})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].dist != cands[j].dist {
			return cands[i].dist < cands[j].dist
		}
		return cands[i].name < cands[j].name
	})
	var out []string
	for _, c := range cands {
		if len(out) == max {
			break
		}
		out = append(out, c.name)
	}
	return out
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
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
