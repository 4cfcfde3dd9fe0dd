package generator

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// NotFoundError reports a name in generator.yml that no loaded MIB defines.
type NotFoundError struct {
	// Module is the generator module that used the name.
	Module string
	// Field is where the name appeared: walk, get, lookup, energy.
	Field string
	Name  string
	// Suggestions are the closest known names by edit distance.
	Suggestions []string
	// Related are MIB problems that mention the name.
	Related mib.Diagnostics
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s: %s: cannot find %q in the loaded MIBs", e.Module, e.Field, e.Name)
	if len(e.Suggestions) > 0 {
		fmt.Fprintf(&b, "; closest matches: %s", strings.Join(e.Suggestions, ", "))
	}
	for _, d := range e.Related {
		fmt.Fprintf(&b, "\n  related: %s", d)
	}
	return b.String()
}

func (b *moduleBuilder) notFound(field, name string) error {
	label := name
	if _, l, ok := strings.Cut(name, "::"); ok {
		label = l
	}
	e := &NotFoundError{Module: b.name, Field: field, Name: name}
	if !isNumericOID(label) {
		e.Suggestions = closest(label, b.tree.Labels(), 3)
		if mod, _, ok := strings.Cut(name, "::"); ok {
			if _, loaded := b.tree.Modules[mod]; !loaded {
				e.Related = append(e.Related, mib.Diagnostic{
					Severity: mib.SeverityError, Module: mod, Code: "module-not-loaded",
					Message: fmt.Sprintf("MIB module %s is not in any mibs dir", mod),
				})
			}
		}
	}
	e.Related = append(e.Related, b.broken[label]...)
	return e
}

// BrokenDependencyError reports a walked subtree that contains an object a
// MIB defect made unusable.
type BrokenDependencyError struct {
	Module string
	Walk   string
	Object string
	Cause  mib.Diagnostics
}

func (e *BrokenDependencyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s: walk %s needs %s, which a MIB problem made unusable", e.Module, e.Walk, e.Object)
	for _, d := range e.Cause {
		fmt.Fprintf(&b, "\n  %s", d)
	}
	return b.String()
}

// checkBroken fails when an error diagnostic names n or a node below it;
// errors elsewhere in the MIBs stay warnings.
func (b *moduleBuilder) checkBroken(walk string, n *mib.Node) error {
	if len(b.broken) == 0 || n == nil {
		return nil
	}
	var err error
	n.Walk(func(c *mib.Node) {
		if err != nil {
			return
		}
		if ds := b.broken[c.Label]; len(ds) > 0 {
			err = &BrokenDependencyError{Module: b.name, Walk: walk, Object: c.Label, Cause: ds}
		}
	})
	return err
}

var identRE = regexp.MustCompile(`[A-Za-z][A-Za-z0-9_-]*`)

// brokenIndex maps every identifier mentioned by an error diagnostic to it.
func brokenIndex(diags mib.Diagnostics) map[string]mib.Diagnostics {
	out := map[string]mib.Diagnostics{}
	for _, d := range diags.Errors() {
		seen := map[string]bool{}
		for _, id := range identRE.FindAllString(d.Message, -1) {
			// Only camelCase words: MIB labels, not English ("index").
			if strings.ToLower(id) == id || seen[id] {
				continue
			}
			{
				seen[id] = true
				out[id] = append(out[id], d)
			}
		}
	}
	return out
}

// closest returns up to n candidates nearest to name by edit distance,
// ignoring case; only reasonably close ones qualify.
func closest(name string, candidates []string, n int) []string {
	type scored struct {
		s string
		d int
	}
	lname := strings.ToLower(name)
	limit := max(2, len(name)/3)
	var best []scored
	for _, c := range candidates {
		if abs(len(c)-len(name)) > limit {
			continue
		}
		d := levenshtein(lname, strings.ToLower(c))
		if d <= limit {
			best = append(best, scored{c, d})
		}
	}
	sort.Slice(best, func(i, j int) bool {
		if best[i].d != best[j].d {
			return best[i].d < best[j].d
		}
		return best[i].s < best[j].s
	})
	var out []string
	for i := 0; i < len(best) && i < n; i++ {
		out = append(out, best[i].s)
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func levenshtein(a, b string) int {
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
