package verdict

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
)

// The answers.
const (
	Green   = "green"
	Red     = "red"
	Unknown = "unknown"
)

// MaxRuns bounds Query.Runs.
const MaxRuns = 100

// scan is how many recent runs are read to find the runs after Since.
const scan = 1000

// Query selects the runs a verdict is about.
type Query struct {
	// Runs is how many runs in a row must have passed (default 1).
	Runs int `json:"runs"`
	// Since keeps only runs that started at or after it (zero: any).
	Since time.Time `json:"since,omitzero"`
	// Revision keeps only runs recorded with this revision (--specs.revision), when set.
	Revision string `json:"revision,omitempty"`
	// Suite keeps only runs of this suite, when set.
	Suite string `json:"suite,omitempty"`
	// Label judges only the specs carrying this Ginkgo label; runs without one are not counted.
	Label string `json:"label,omitempty"`
}

// Verdict is the answer.
type Verdict struct {
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Query   Query  `json:"query"`
	// RunIDs are the runs the verdict is based on, newest first.
	RunIDs []string `json:"run_ids"`
}

// ParseQuery reads runs, since (RFC 3339), revision, suite and label from URL parameters;
// errors name the parameter.
func ParseQuery(v url.Values) (Query, error) {
	q := Query{Runs: 1, Revision: v.Get("revision"), Suite: v.Get("suite"), Label: v.Get("label")}
	if s := v.Get("runs"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxRuns {
			return q, fmt.Errorf("parameter runs: %q is not an integer from 1 to %d", s, MaxRuns)
		}
		q.Runs = n
	}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return q, fmt.Errorf("parameter since: %q is not an RFC 3339 time (2026-03-01T12:00:00Z)", s)
		}
		q.Since = t
	}
	return q, nil
}

// Values is the inverse of ParseQuery.
func (q Query) Values() url.Values {
	v := url.Values{}
	v.Set("runs", strconv.Itoa(max(q.Runs, 1)))
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339))
	}
	for k, s := range map[string]string{"revision": q.Revision, "suite": q.Suite, "label": q.Label} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// Compute answers q from the history in s.
func Compute(ctx context.Context, s store.Store, q Query) (Verdict, error) {
	if q.Runs < 1 {
		q.Runs = 1
	}
	v := Verdict{Query: q, RunIDs: []string{}}
	runs, err := s.Runs(ctx, scan)
	if err != nil {
		return v, fmt.Errorf("verdict: %w", err)
	}
	var picked []report.Run // newest first
	for _, r := range runs {
		if len(picked) == q.Runs {
			break
		}
		if (q.Suite != "" && r.Suite != q.Suite) || (q.Revision != "" && r.Revision != q.Revision) ||
			(!q.Since.IsZero() && r.StartedAt.Before(q.Since)) {
			continue
		}
		if q.Label != "" {
			if r.Result == report.Error {
				picked = append(picked, r) // a harness error hides the label's specs too
				continue
			}
			full, err := s.Run(ctx, r.ID)
			if err != nil {
				return v, fmt.Errorf("verdict: run %s: %w", r.ID, err)
			}
			lr, ok := labelled(full, q.Label)
			if !ok {
				continue
			}
			picked = append(picked, lr)
			continue
		}
		picked = append(picked, r)
	}
	for _, r := range picked {
		v.RunIDs = append(v.RunIDs, r.ID)
	}
	what := "runs"
	if q.Label != "" {
		what = "runs with specs labelled " + strconv.Quote(q.Label)
	}
	// The newest problem decides: a failure is red even if an older run was a harness error.
	for _, r := range picked {
		switch r.Result {
		case report.Failed:
			if len(r.Specs) == 0 {
				if full, err := s.Run(ctx, r.ID); err == nil {
					r.Specs = full.Specs
				}
			}
			v.Verdict = Red
			v.Reason = fmt.Sprintf("run %s (%s, started %s) failed: %s", r.ID, r.Trigger,
				r.StartedAt.UTC().Format(time.RFC3339), failedNames(r))
			return v, nil
		case report.Error:
			v.Verdict = Unknown
			v.Reason = fmt.Sprintf("run %s (started %s) was a harness error, which says nothing about the system: %s",
				r.ID, r.StartedAt.UTC().Format(time.RFC3339), firstLine(r.Error))
			return v, nil
		}
	}
	if len(picked) < q.Runs {
		v.Verdict = Unknown
		v.Reason = fmt.Sprintf("%d of the %d %s needed%s", len(picked), q.Runs, what, scope(q))
		return v, nil
	}
	v.Verdict = Green
	v.Reason = fmt.Sprintf("the last %d %s%s passed", q.Runs, what, scope(q))
	return v, nil
}

// labelled is r reduced to the specs carrying label; false when none ran.
func labelled(r *report.Run, label string) (report.Run, bool) {
	out := *r
	out.Specs, out.Passed, out.Failed = nil, 0, 0
	for _, s := range r.Specs {
		if !s.Ran() || !slices.Contains(s.Labels, label) {
			continue
		}
		out.Specs = append(out.Specs, s)
		if s.Failed() {
			out.Failed++
		} else {
			out.Passed++
		}
	}
	if out.Passed+out.Failed == 0 {
		return out, false
	}
	out.Result = report.Passed
	if out.Failed > 0 {
		out.Result = report.Failed
	}
	return out, true
}

func failedNames(r report.Run) string {
	var names []string
	for _, s := range r.FailedSpecs() {
		names = append(names, strconv.Quote(s.Name))
	}
	if len(names) == 0 {
		return fmt.Sprintf("%d failed specs", r.Failed)
	}
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return strings.Join(names, ", ")
}

func scope(q Query) string {
	var parts []string
	if q.Suite != "" {
		parts = append(parts, "of suite "+q.Suite)
	}
	if q.Revision != "" {
		parts = append(parts, "at revision "+q.Revision)
	}
	if !q.Since.IsZero() {
		parts = append(parts, "since "+q.Since.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
