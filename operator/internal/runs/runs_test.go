package runs_test

import (
	"testing"

	"github.com/wattson-dev/wattson/operator/internal/runs"
)

func TestSummarize(t *testing.T) {
	r := func(suite, result string) runs.Run {
		return runs.Run{ID: suite + "-" + result, Suite: suite, Result: result}
	}
	cases := []struct {
		name         string
		runs         []runs.Run
		last, lastOK string
		failures     int
	}{
		{"empty", nil, "", "", 0},
		{"passed", []runs.Run{r("a", runs.Passed), r("a", runs.Failed)}, "a-passed", "a-passed", 0},
		{"two failures", []runs.Run{r("a", runs.Failed), r("a", runs.Failed), r("a", runs.Passed), r("a", runs.Failed)}, "a-failed", "a-failed", 2},
		{"errors are skipped", []runs.Run{r("a", runs.Error), r("a", runs.Failed), r("a", runs.Error), r("a", runs.Failed), r("a", runs.Passed)}, "a-error", "a-failed", 2},
		{"other suites are ignored", []runs.Run{r("b", runs.Passed), r("a", runs.Failed), r("b", runs.Failed)}, "a-failed", "a-failed", 1},
		{"only errors", []runs.Run{r("a", runs.Error)}, "a-error", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := runs.Summarize("a", tc.runs)
			id := func(r *runs.Run) string {
				if r == nil {
					return ""
				}
				return r.ID
			}
			if id(s.Last) != tc.last || id(s.LastComplete) != tc.lastOK || s.ConsecutiveFailures != tc.failures {
				t.Errorf("got last %q, last complete %q, %d failures; want %q, %q, %d", id(s.Last), id(s.LastComplete), s.ConsecutiveFailures, tc.last, tc.lastOK, tc.failures)
			}
		})
	}
}
