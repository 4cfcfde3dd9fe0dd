package kube

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/onsi/gomega/types"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"
)

// toMap turns a typed object, an unstructured object or a map into plain JSON values, so that
// both sides of a comparison have the same shapes (float64 numbers, []any lists).
func toMap(obj any) (map[string]any, error) {
	// Typed objects read with a client have no apiVersion and kind; fill them in from the
	// scheme, so that a snippet may assert them and messages can name the kind.
	if ro, ok := obj.(runtime.Object); ok && ro.GetObjectKind().GroupVersionKind().Empty() {
		if gvk, err := apiutil.GVKForObject(ro, scheme); err == nil {
			ro = ro.DeepCopyObject()
			ro.GetObjectKind().SetGroupVersionKind(gvk)
			obj = ro
		}
	}
	if u, ok := obj.(interface{ UnstructuredContent() map[string]any }); ok {
		obj = u.UnstructuredContent()
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%T is not an object: %w", obj, err)
	}
	return m, nil
}

// describeObject names an object for messages: Kind namespace/name.
func describeObject(m map[string]any) string {
	md, _ := m["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if ns, _ := md["namespace"].(string); ns != "" {
		name = ns + "/" + name
	}
	kind, _ := m["kind"].(string)
	if kind == "" {
		kind = "object"
	}
	return kind + " " + name
}

// PartialMatch compares expected (parsed YAML) with actual and returns one line per difference,
// each starting with the field path. Maps match when every expected key matches; lists when each
// expected element matches a distinct actual element, in any order; null when the field is absent
// or null; anything else when equal.
func PartialMatch(expected, actual any) []string {
	return diff("", expected, actual)
}

func diff(path string, want, got any) []string {
	at := func() string {
		if path == "" {
			return "(root)"
		}
		return path
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %s", at(), show(got))}
		}
		var out []string
		for _, k := range slices.Sorted(maps.Keys(w)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			gv, present := g[k]
			if !present {
				if w[k] != nil {
					out = append(out, fmt.Sprintf("%s: missing, want %s", p, show(w[k])))
				}
				continue
			}
			out = append(out, diff(p, w[k], gv)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want a list, got %s", at(), show(got))}
		}
		return diffList(at(), w, g)
	case nil:
		if got != nil {
			return []string{fmt.Sprintf("%s: want null or absent, got %s", at(), show(got))}
		}
		return nil
	default:
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: want %s, got %s", at(), show(want), show(got))}
		}
		return nil
	}
}

// diffList matches each wanted element with a distinct actual element (backtracking, lists in
// objects are short), and explains the first wanted element that has no partner by its closest
// candidate.
func diffList(path string, want, got []any) []string {
	used := make([]bool, len(got))
	var assign func(i int) bool
	assign = func(i int) bool {
		if i == len(want) {
			return true
		}
		for j := range got {
			if !used[j] && len(diff("", want[i], got[j])) == 0 {
				used[j] = true
				if assign(i + 1) {
					return true
				}
				used[j] = false
			}
		}
		return false
	}
	if assign(0) {
		return nil
	}
	// Find the first element that cannot be matched on its own, or report the set as a whole.
	for _, w := range want {
		var best []string
		bestAt := -1
		for j, g := range got {
			d := diff(fmt.Sprintf("%s[%d]", path, j), w, g)
			if len(d) == 0 {
				best, bestAt = nil, j
				break
			}
			if bestAt < 0 || closeness(d) < closeness(best) {
				best, bestAt = d, j
			}
		}
		if bestAt >= 0 && best == nil {
			continue
		}
		msg := fmt.Sprintf("%s: no element of %d matches %s", path, len(got), show(w))
		if bestAt >= 0 {
			msg += fmt.Sprintf("; closest is [%d]: %s", bestAt, strings.Join(best, "; "))
		}
		return []string{msg}
	}
	return []string{fmt.Sprintf("%s: the %d wanted elements cannot each match a different one of the %d elements", path, len(want), len(got))}
}

// closeness scores a candidate's differences, lower is closer: a difference in an identity field
// (type, name, kind) weighs more, so the closest condition to {type: Ready, status: "True"} is the
// Ready one with the wrong status, not another type with the right one.
func closeness(diffs []string) float64 {
	score := float64(len(diffs))
	for _, d := range diffs {
		path, _, _ := strings.Cut(d, ":")
		last := path[strings.LastIndexAny(path, ".]")+1:]
		if last == "type" || last == "name" || last == "kind" {
			score += 0.5
		}
	}
	return score
}

func show(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// MatchYAML succeeds when the object (typed, unstructured, or a map) has every field of the
// YAML snippet, lists compared as subsets in any order. A snippet that is not valid YAML is an
// error, not a failure.
func MatchYAML(snippet string) types.GomegaMatcher {
	return &matchYAML{snippet: snippet}
}

type matchYAML struct {
	snippet string
	diffs   []string
	name    string
}

func (m *matchYAML) Match(actual any) (bool, error) {
	var want any
	if err := yaml.Unmarshal([]byte(m.snippet), &want); err != nil {
		return false, fmt.Errorf("MatchYAML: the expected snippet is not YAML: %w", err)
	}
	got, err := toMap(actual)
	if err != nil {
		return false, fmt.Errorf("MatchYAML: %w", err)
	}
	m.name = describeObject(got)
	m.diffs = PartialMatch(want, got)
	return len(m.diffs) == 0, nil
}

func (m *matchYAML) FailureMessage(any) string {
	return fmt.Sprintf("%s does not match the expected YAML:\n  %s\nexpected (partial):\n%s",
		m.name, strings.Join(m.diffs, "\n  "), indent(m.snippet))
}

func (m *matchYAML) NegatedFailureMessage(any) string {
	return fmt.Sprintf("%s matches the YAML, but should not:\n%s", m.name, indent(m.snippet))
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}
