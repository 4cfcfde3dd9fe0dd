package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/runner"
	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	suitetest.Cleanup()
	os.Exit(code)
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		suite       string // under testdata/suites; "" for a missing binary
		timeout     time.Duration
		labelFilter string
		want        report.Result
		passed      int
		failed      int
		pending     int
		files       int
		failedState string
		message     string // in the failing spec's message, or in Error for harness errors
		output      string // in the failing spec's output
	}{
		{suite: "passing", want: report.Passed, passed: 2, pending: 1, files: 1},
		{suite: "passing", labelFilter: "fast", want: report.Passed, passed: 1, pending: 1, files: 1},
		{suite: "passing", labelFilter: "nomatch", want: report.Error, pending: 1, message: "no specs ran"},
		{suite: "failing", want: report.Failed, passed: 1, failed: 1, files: 1, failedState: "failed",
			message: "outlet 3 watts", output: "scraping outlet 3"},
		{suite: "panicking", want: report.Failed, passed: 1, failed: 1, files: 1, failedState: "panicked",
			message: "assignment to entry in nil map"},
		{suite: "hanging", timeout: 2 * time.Second, want: report.Failed, failed: 1, files: 1,
			failedState: "timedout", message: "A suite timeout occurred"},
		{suite: "empty", want: report.Error, message: "no specs ran"},
		{suite: "", want: report.Error, message: "no such file or directory"},
	}
	for _, tt := range tests {
		name := tt.suite + "/" + tt.labelFilter
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), "missing.test")
			if tt.suite != "" {
				bin = suitetest.Binary(t, tt.suite)
			}
			r := &runner.Runner{Binary: bin, LabelFilter: tt.labelFilter, Timeout: tt.timeout, Grace: time.Second}
			if r.Timeout == 0 {
				r.Timeout = time.Minute
			}
			run := r.Run(context.Background())
			if run.Result != tt.want {
				t.Fatalf("result %s, want %s; error: %s\noutput:\n%s", run.Result, tt.want, run.Error, run.Output)
			}
			if run.ID == "" || run.FinishedAt.Before(run.StartedAt) || run.Duration <= 0 {
				t.Errorf("bad identity or timing: %+v", run)
			}
			if run.Passed != tt.passed || run.Failed != tt.failed || run.Pending != tt.pending || run.Files != tt.files {
				t.Errorf("counts passed=%d failed=%d pending=%d files=%d, want %d %d %d %d",
					run.Passed, run.Failed, run.Pending, run.Files, tt.passed, tt.failed, tt.pending, tt.files)
			}
			if tt.want == report.Error {
				if !strings.Contains(run.Error, tt.message) {
					t.Errorf("error %q does not contain %q", run.Error, tt.message)
				}
				return
			}
			if run.Error != "" {
				t.Errorf("unexpected error %q", run.Error)
			}
			if len(run.Raw) == 0 {
				t.Error("raw report not kept")
			}
			if tt.suite != "" && run.Suite != tt.suite {
				t.Errorf("suite %q, want the report's description %q", run.Suite, tt.suite)
			}
			failed := run.FailedSpecs()
			if len(failed) != tt.failed {
				t.Fatalf("%d failed specs, want %d", len(failed), tt.failed)
			}
			if tt.failed == 0 {
				return
			}
			s := failed[0]
			if s.State != tt.failedState {
				t.Errorf("state %q, want %q", s.State, tt.failedState)
			}
			if !strings.Contains(s.Message, tt.message) {
				t.Errorf("message %q does not contain %q", s.Message, tt.message)
			}
			if !strings.Contains(s.Location, "_test.go:") {
				t.Errorf("location %q is not file:line", s.Location)
			}
			if !strings.Contains(s.Output, tt.output) {
				t.Errorf("output %q does not contain %q", s.Output, tt.output)
			}
		})
	}
}

func TestRunSpecDetails(t *testing.T) {
	t.Parallel()
	r := &runner.Runner{Binary: suitetest.Binary(t, "passing"), Suite: "energy", Timeout: time.Minute}
	run := r.Run(context.Background())
	if run.Suite != "energy" {
		t.Errorf("suite %q, want the configured name", run.Suite)
	}
	var adds *report.Spec
	for i := range run.Specs {
		if run.Specs[i].Name == "power adds up" {
			adds = &run.Specs[i]
		}
	}
	if adds == nil {
		t.Fatalf("spec %q not found in %+v", "power adds up", run.Specs)
	}
	if got := strings.Join(adds.Labels, ","); got != "pdu,smoke" {
		t.Errorf("labels %q, want pdu,smoke", got)
	}
	if adds.State != "passed" || !strings.Contains(adds.Output, "adding") {
		t.Errorf("spec %+v", adds)
	}
	if !strings.Contains(run.Output, "Ran 2 of 3 Specs") {
		t.Errorf("process output not captured:\n%s", run.Output)
	}
}

// A suite that is not Ginkgo and ignores the timeout is killed, and that is a harness error.
func TestRunKillsStuckProcess(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "stuck.test")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho started\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &runner.Runner{Binary: bin, Timeout: 500 * time.Millisecond, Grace: 200 * time.Millisecond}
	start := time.Now()
	run := r.Run(context.Background())
	if run.Result != report.Error || !strings.Contains(run.Error, "killed") || !strings.Contains(run.Error, "started") {
		t.Fatalf("result %s error %q", run.Result, run.Error)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s to kill", d)
	}
}

func TestRunNotExecutable(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "plain.txt")
	if err := os.WriteFile(bin, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := (&runner.Runner{Binary: bin}).Run(context.Background())
	if run.Result != report.Error || !strings.Contains(run.Error, "not an executable") {
		t.Fatalf("result %s error %q", run.Result, run.Error)
	}
}

// TestRunFocusFiles: a focused run runs the specs of the named files only, and says so.
func TestRunFocusFiles(t *testing.T) {
	t.Parallel()
	bin := suitetest.Binary(t, "twofiles")
	for _, tc := range []struct {
		focus  []string
		result report.Result
		specs  []string
	}{
		{nil, report.Passed, []string{"energy only grows", "power adds up", "power is positive"}},
		{[]string{"power_test.go"}, report.Passed, []string{"power adds up", "power is positive"}},
		{[]string{"energy_test.go", "power_test.go"}, report.Passed, []string{"energy only grows", "power adds up", "power is positive"}},
		// A file name is literal: "power_test.go" must not match "xpower_test.go" or a regexp.
		{[]string{"r_test.go"}, report.Error, nil},
		{[]string{"suite_test.go"}, report.Error, nil}, // no specs in it
	} {
		r := &runner.Runner{Binary: bin, FocusFiles: tc.focus, Timeout: time.Minute, Grace: time.Second}
		run := r.Run(context.Background())
		var ran []string
		for _, s := range run.Specs {
			if s.Ran() {
				ran = append(ran, s.Name)
			}
		}
		slices.Sort(ran)
		if run.Result != tc.result || !slices.Equal(ran, tc.specs) || !slices.Equal(run.Focus, tc.focus) {
			t.Errorf("focus %q: result %s, ran %q, run.Focus %q; want %s, %q\n%s", tc.focus, run.Result, ran, run.Focus, tc.result, tc.specs, run.Error)
		}
	}
}
