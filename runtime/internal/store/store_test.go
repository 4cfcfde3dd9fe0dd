package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// mkRun builds run number i; spec "flaky" alternates, "steady" always passes.
func mkRun(i int, result report.Result) *report.Run {
	start := t0.Add(time.Duration(i) * time.Minute)
	r := &report.Run{ID: fmt.Sprintf("run-%04d", i), Suite: "energy", StartedAt: start,
		FinishedAt: start.Add(3 * time.Second), Duration: 3 * time.Second, Result: result, Trigger: "interval"}
	if result == report.Error {
		r.Error = "suite binary: no such file"
		return r
	}
	flaky := "passed"
	if i%2 == 1 {
		flaky = "failed"
	}
	r.Specs = []report.Spec{
		{Name: "steady", State: "passed", Labels: []string{"pdu"}, Duration: time.Second, Location: "a_test.go:1"},
		{Name: "flaky", State: flaky, Duration: 2 * time.Second, Location: "a_test.go:9",
			Message: fmt.Sprintf("run %d: Expected 41 to equal 42", i), Output: "scraping outlet 3\n"},
		{Name: "later", State: "pending"},
	}
	r.Passed, r.Pending, r.Files = 1, 1, 1
	if flaky == "failed" {
		r.Failed++
	} else {
		r.Passed++
	}
	r.Raw = []byte(`[{"SuiteDescription":"energy","Note":"nul \u0000 inside"}]`)
	return r
}

// testStore is the contract every Store meets.
func testStore(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 6 {
		result := report.Passed
		if i%2 == 1 {
			result = report.Failed
		}
		if err := s.Save(ctx, mkRun(i, result)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save(ctx, mkRun(6, report.Error)); err != nil {
		t.Fatal(err)
	}

	runs, err := s.Runs(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].ID != "run-0006" || runs[2].ID != "run-0004" {
		t.Fatalf("runs %+v", runs)
	}
	if runs[0].Result != report.Error || runs[0].Error == "" || runs[1].Failed != 1 || runs[1].Passed != 1 {
		t.Errorf("summaries %+v", runs[:2])
	}
	if len(runs[1].Specs) != 0 {
		t.Error("summaries carry specs")
	}

	run, err := s.Run(ctx, "run-0005")
	if err != nil {
		t.Fatal(err)
	}
	if !run.StartedAt.Equal(t0.Add(5*time.Minute)) || run.Duration != 3*time.Second || run.Trigger != "interval" {
		t.Errorf("run %+v", run)
	}
	if len(run.Specs) != 3 {
		t.Fatalf("specs %+v", run.Specs)
	}
	f := run.FailedSpecs()
	if len(f) != 1 || f[0].Name != "flaky" || f[0].Message != "run 5: Expected 41 to equal 42" ||
		f[0].Location != "a_test.go:9" || f[0].Output != "scraping outlet 3\n" || f[0].Duration != 2*time.Second {
		t.Errorf("failed specs %+v", f)
	}
	if run.Specs[0].Labels[0] != "pdu" {
		t.Errorf("labels %+v", run.Specs[0])
	}
	if _, err := s.Run(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}

	hist, err := s.SpecHistory(ctx, "flaky", 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || hist[0].RunID != "run-0005" || hist[0].State != "failed" || hist[1].State != "passed" ||
		!hist[0].StartedAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("history %+v", hist)
	}

	flaky, err := s.Flaky(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(flaky) != 1 || flaky[0].Name != "flaky" || flaky[0].Flips != 5 || flaky[0].Runs != 6 ||
		flaky[0].Failures != 3 || flaky[0].LastState != "failed" {
		t.Errorf("flaky %+v", flaky)
	}
	// Over the last 3 complete runs: passed, failed, passed -> wait, runs 3,4,5: failed, passed, failed.
	flaky, err = s.Flaky(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(flaky) != 1 || flaky[0].Flips != 2 || flaky[0].Runs != 3 {
		t.Errorf("flaky over 3 runs %+v", flaky)
	}
}

func TestMemory(t *testing.T) {
	testStore(t, store.NewMemory(100))
}

func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory(5)
	for i := range 50 {
		if err := m.Save(ctx, mkRun(i, report.Passed)); err != nil {
			t.Fatal(err)
		}
	}
	runs, _ := m.Runs(ctx, 100)
	if len(runs) != 5 || runs[0].ID != "run-0049" || runs[4].ID != "run-0045" {
		t.Fatalf("runs %v", runs)
	}
	if _, err := m.Run(ctx, "run-0044"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old run still there: %v", err)
	}
}
