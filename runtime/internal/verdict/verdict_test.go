package verdict_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
	"github.com/wattson-dev/wattson/runtime/internal/verdict"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// history saves runs with results rs (oldest first), one a minute from t0; a failed run fails
// the spec labelled "pdu", and every run has a passing spec labelled "alerts".
func history(t *testing.T, rs ...report.Result) *store.Memory {
	t.Helper()
	m := store.NewMemory(100)
	for i, r := range rs {
		run := &report.Run{ID: "run-" + string(rune('a'+i)), Suite: "energy", StartedAt: t0.Add(time.Duration(i) * time.Minute),
			Result: r, Trigger: "interval", Revision: map[bool]string{true: "v2", false: "v1"}[i >= 3]}
		switch r {
		case report.Error:
			run.Error = "suite binary: no such file\nmore"
		default:
			pdu := "passed"
			if r == report.Failed {
				pdu, run.Failed = "failed", 1
			}
			run.Passed = 2 - run.Failed
			run.Specs = []report.Spec{{Name: "outlet reports watts", State: pdu, Labels: []string{"pdu"}},
				{Name: "alert fires", State: "passed", Labels: []string{"alerts"}}}
		}
		if err := m.Save(context.Background(), run); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestCompute(t *testing.T) {
	P, F, E := report.Passed, report.Failed, report.Error
	tests := []struct {
		name    string
		runs    []report.Result
		query   string
		verdict string
		reason  string
	}{
		{"last 2 passed", []report.Result{F, P, P}, "runs=2", verdict.Green, "the last 2 runs passed"},
		{"a failure among them", []report.Result{P, F, P}, "runs=2", verdict.Red, `run run-b (interval, started 2026-03-01T12:01:00Z) failed: "outlet reports watts"`},
		{"not enough runs", []report.Result{P}, "runs=3", verdict.Unknown, "1 of the 3 runs needed"},
		{"a harness error", []report.Result{P, P, E}, "runs=2", verdict.Unknown, "run run-c (started 2026-03-01T12:02:00Z) was a harness error, which says nothing about the system: suite binary: no such file"},
		{"since drops older runs", []report.Result{F, P, P}, "runs=2&since=2026-03-01T12:02:00Z", verdict.Unknown, "1 of the 2 runs needed since 2026-03-01T12:02:00Z"},
		{"since keeps newer runs", []report.Result{F, P, P}, "runs=2&since=2026-03-01T12:01:00Z", verdict.Green, "the last 2 runs since 2026-03-01T12:01:00Z passed"},
		{"revision", []report.Result{P, P, P, F, P}, "runs=2&revision=v2", verdict.Red, "run run-d"},
		{"label ignores other specs' failures", []report.Result{F, F}, "runs=2&label=alerts", verdict.Green, `the last 2 runs with specs labelled "alerts" passed`},
		{"label sees its own", []report.Result{P, F}, "runs=2&label=pdu", verdict.Red, "outlet reports watts"},
		{"unknown label", []report.Result{P, P}, "label=nope", verdict.Unknown, `0 of the 1 runs with specs labelled "nope" needed`},
		{"other suite", []report.Result{P}, "suite=other", verdict.Unknown, "0 of the 1 runs needed of suite other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.query)
			q, err := verdict.ParseQuery(v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := verdict.Compute(context.Background(), history(t, tt.runs...), q)
			if err != nil {
				t.Fatal(err)
			}
			if got.Verdict != tt.verdict || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("%s: %s, want %s: %s", got.Verdict, got.Reason, tt.verdict, tt.reason)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	for q, want := range map[string]string{
		"runs=0":       "parameter runs",
		"runs=many":    "parameter runs",
		"runs=101":     "parameter runs",
		"since=monday": "parameter since",
	} {
		v, _ := url.ParseQuery(q)
		if _, err := verdict.ParseQuery(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", q, err, want)
		}
	}
}
