package metrics_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/wattson-dev/wattson/runtime/internal/metrics"
	"github.com/wattson-dev/wattson/runtime/internal/report"
)

var t0 = time.Unix(1_700_000_000, 0)

func run(result report.Result, finished time.Time, specs ...report.Spec) *report.Run {
	r := &report.Run{Suite: "energy", Result: result, StartedAt: finished.Add(-2 * time.Second),
		FinishedAt: finished, Duration: 2 * time.Second, Specs: specs, Files: 1}
	for _, s := range specs {
		switch {
		case s.State == "passed":
			r.Passed++
		case s.Failed():
			r.Failed++
		default:
			r.Skipped++
		}
	}
	return r
}

func spec(name, state string, labels ...string) report.Spec {
	return report.Spec{Name: name, State: state, Labels: labels, Duration: 1500 * time.Millisecond}
}

const compatNames = "assertions_failed assertions_failed_total tests_run tests_run_total test_suites_run test_suites_run_total assert_files_seen"

func TestFailClosedBeforeFirstCompleteRun(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := metrics.NewMetrics(reg, 0, time.Minute)
	check := func(want string) {
		t.Helper()
		names := append(strings.Fields(compatNames), "wattson_runtime_ready", "wattson_runtime_runs_total",
			"wattson_runtime_last_complete_run_timestamp_seconds", "wattson_runtime_last_success_timestamp_seconds",
			"wattson_runtime_last_run_timestamp_seconds", "wattson_runtime_interval_seconds", "wattson_spec_passing")
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
			t.Error(err)
		}
	}
	const before = `
# HELP wattson_runtime_ready 1 once a run has completed (passed or failed), 0 before: nothing is known about the system until then.
# TYPE wattson_runtime_ready gauge
wattson_runtime_ready 0
# HELP wattson_runtime_runs_total Runs by result: passed, failed (the system failed a spec) or error (the harness broke: no binary, build failure, no report, no specs).
# TYPE wattson_runtime_runs_total counter
wattson_runtime_runs_total{result="error"} %d
wattson_runtime_runs_total{result="failed"} 0
wattson_runtime_runs_total{result="passed"} 0
# HELP wattson_runtime_last_complete_run_timestamp_seconds When the last complete (passed or failed) run finished; 0 before the first. Alert when it is older than a few intervals.
# TYPE wattson_runtime_last_complete_run_timestamp_seconds gauge
wattson_runtime_last_complete_run_timestamp_seconds 0
# HELP wattson_runtime_last_success_timestamp_seconds When the last passed run finished; 0 before the first.
# TYPE wattson_runtime_last_success_timestamp_seconds gauge
wattson_runtime_last_success_timestamp_seconds 0
# HELP wattson_runtime_last_run_timestamp_seconds When the last run (of any result) finished; 0 before the first.
# TYPE wattson_runtime_last_run_timestamp_seconds gauge
wattson_runtime_last_run_timestamp_seconds %s
# HELP wattson_runtime_interval_seconds Configured interval between runs, for staleness alerts (0 in CI mode).
# TYPE wattson_runtime_interval_seconds gauge
wattson_runtime_interval_seconds 60
`
	check(fmt.Sprintf(before, 0, "0"))
	// A harness error is not a complete run: still nothing that looks green.
	m.Observe(&report.Run{Result: report.Error, FinishedAt: t0, Error: "no such file"})
	check(fmt.Sprintf(before, 1, "1.7e+09"))
	if m.Ready() {
		t.Error("ready after an error run")
	}
}

func TestAfterRuns(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := metrics.NewMetrics(reg, 0, time.Minute)
	m.Observe(run(report.Passed, t0, spec("a passes", "passed", "pdu"), spec("b flaps", "passed", "pdu", "slow")))
	m.Observe(run(report.Failed, t0.Add(time.Minute), spec("a passes", "passed", "pdu"), spec("b flaps", "failed", "pdu", "slow"), spec("c skipped", "skipped")))
	m.Observe(&report.Run{Result: report.Error, FinishedAt: t0.Add(2 * time.Minute), Duration: time.Second})
	m.Observe(run(report.Failed, t0.Add(3*time.Minute), spec("a passes", "passed", "pdu"), spec("b flaps", "timedout", "pdu", "slow")))
	if !m.Ready() {
		t.Fatal("not ready after complete runs")
	}
	want := `
# HELP assertions_failed Failed specs in the last complete run (Gomega stops a spec at its first failed assertion, so this counts failed specs). Absent until the first complete run.
# TYPE assertions_failed gauge
assertions_failed 1
# HELP assertions_failed_total Failed specs over all complete runs. Absent until the first complete run.
# TYPE assertions_failed_total counter
assertions_failed_total 2
# HELP tests_run Specs that ran (passed or failed) in the last complete run. Absent until the first complete run.
# TYPE tests_run gauge
tests_run 2
# HELP tests_run_total Specs that ran over all complete runs. Absent until the first complete run.
# TYPE tests_run_total counter
tests_run_total 6
# HELP test_suites_run Suites that ran in the last complete run. Absent until the first complete run.
# TYPE test_suites_run gauge
test_suites_run 1
# HELP test_suites_run_total Suites run over all complete runs. Absent until the first complete run.
# TYPE test_suites_run_total counter
test_suites_run_total 3
# HELP assert_files_seen Distinct spec source files among the specs of the last complete run. Absent until the first complete run.
# TYPE assert_files_seen gauge
assert_files_seen 1
# HELP wattson_runtime_ready 1 once a run has completed (passed or failed), 0 before: nothing is known about the system until then.
# TYPE wattson_runtime_ready gauge
wattson_runtime_ready 1
# HELP wattson_runtime_runs_total Runs by result: passed, failed (the system failed a spec) or error (the harness broke: no binary, build failure, no report, no specs).
# TYPE wattson_runtime_runs_total counter
wattson_runtime_runs_total{result="error"} 1
wattson_runtime_runs_total{result="failed"} 2
wattson_runtime_runs_total{result="passed"} 1
# HELP wattson_runtime_last_run_timestamp_seconds When the last run (of any result) finished; 0 before the first.
# TYPE wattson_runtime_last_run_timestamp_seconds gauge
wattson_runtime_last_run_timestamp_seconds 1.70000018e+09
# HELP wattson_runtime_last_complete_run_timestamp_seconds When the last complete (passed or failed) run finished; 0 before the first. Alert when it is older than a few intervals.
# TYPE wattson_runtime_last_complete_run_timestamp_seconds gauge
wattson_runtime_last_complete_run_timestamp_seconds 1.70000018e+09
# HELP wattson_runtime_last_success_timestamp_seconds When the last passed run finished; 0 before the first.
# TYPE wattson_runtime_last_success_timestamp_seconds gauge
wattson_runtime_last_success_timestamp_seconds 1.7e+09
# HELP wattson_runtime_last_run_duration_seconds Wall-clock duration of the last run, whatever its result.
# TYPE wattson_runtime_last_run_duration_seconds gauge
wattson_runtime_last_run_duration_seconds 2
# HELP wattson_runtime_interval_seconds Configured interval between runs, for staleness alerts (0 in CI mode).
# TYPE wattson_runtime_interval_seconds gauge
wattson_runtime_interval_seconds 60
# HELP wattson_spec_passing 1 if the spec passed in the last complete run, 0 if it failed. Specs that did not run are absent.
# TYPE wattson_spec_passing gauge
wattson_spec_passing{labels="pdu",spec="a passes",suite="energy"} 1
wattson_spec_passing{labels="pdu,slow",spec="b flaps",suite="energy"} 0
# HELP wattson_spec_consecutive_failures Complete runs in a row the spec has failed (0 when it passed last).
# TYPE wattson_spec_consecutive_failures gauge
wattson_spec_consecutive_failures{labels="pdu",spec="a passes",suite="energy"} 0
wattson_spec_consecutive_failures{labels="pdu,slow",spec="b flaps",suite="energy"} 2
# HELP wattson_spec_duration_seconds Duration of the spec in the last complete run.
# TYPE wattson_spec_duration_seconds gauge
wattson_spec_duration_seconds{labels="pdu",spec="a passes",suite="energy"} 1.5
wattson_spec_duration_seconds{labels="pdu,slow",spec="b flaps",suite="energy"} 1.5
# HELP wattson_spec_series_dropped Specs of the last complete run not exported per spec because of the series cap (failing specs are exported first).
# TYPE wattson_spec_series_dropped gauge
wattson_spec_series_dropped 0
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// The kubernetes-assert names are kept for compatibility, whatever the linter thinks.
		if strings.Contains(compatNames, p.Metric) {
			continue
		}
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

func TestSpecSeriesCap(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := metrics.NewMetrics(reg, 3, time.Minute)
	var specs []report.Spec
	for i := range 10 {
		state := "passed"
		if i == 7 || i == 9 {
			state = "failed"
		}
		specs = append(specs, spec(fmt.Sprintf("spec %02d", i), state))
	}
	specs = append(specs, spec(strings.Repeat("x", 1000), "passed"))
	m.Observe(run(report.Failed, t0, specs...))
	want := `
# HELP wattson_spec_passing 1 if the spec passed in the last complete run, 0 if it failed. Specs that did not run are absent.
# TYPE wattson_spec_passing gauge
wattson_spec_passing{labels="",spec="spec 00",suite="energy"} 1
wattson_spec_passing{labels="",spec="spec 07",suite="energy"} 0
wattson_spec_passing{labels="",spec="spec 09",suite="energy"} 0
# HELP wattson_spec_series_dropped Specs of the last complete run not exported per spec because of the series cap (failing specs are exported first).
# TYPE wattson_spec_series_dropped gauge
wattson_spec_series_dropped 8
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wattson_spec_passing", "wattson_spec_series_dropped"); err != nil {
		t.Error(err)
	}
	// Label values are clipped.
	m2 := metrics.NewMetrics(prometheus.NewRegistry(), 0, 0)
	m2.Observe(run(report.Passed, t0, spec(strings.Repeat("x", 1000), "passed")))
	if n := testutil.CollectAndCount(m2, "wattson_spec_passing"); n != 1 {
		t.Fatalf("%d series", n)
	}
}

// Duplicate spec texts would make the registry refuse the whole scrape.
func TestDuplicateSpecNames(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := metrics.NewMetrics(reg, 0, 0)
	m.Observe(run(report.Failed, t0, spec("same", "passed"), spec("same", "failed")))
	want := `
# HELP wattson_spec_passing 1 if the spec passed in the last complete run, 0 if it failed. Specs that did not run are absent.
# TYPE wattson_spec_passing gauge
wattson_spec_passing{labels="",spec="same",suite="energy"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wattson_spec_passing"); err != nil {
		t.Error(err)
	}
}

// TestShared: in fleet mode every replica exports the fleet's readiness and times alike, only
// the leader exports the result gauges (so sum() across replicas never counts a failure twice),
// consecutive failures come from the shared history, and without a view (an outage) a replica
// exports what it saw itself.
func TestShared(t *testing.T) {
	last := run(report.Failed, t0, spec("outlet reports watts", "failed", "pdu"), spec("alert fires", "passed"))
	view := metrics.Shared{LastRun: t0, LastComplete: t0, LastSuccess: t0.Add(-time.Minute), LastDuration: 2 * time.Second,
		Last: last, Consecutive: map[string]int{"outlet reports watts": 4}}
	tests := []struct {
		name    string
		leader  bool
		ok      bool
		present []string
		absent  []string
	}{
		{"leader", true, true, []string{"wattson_runtime_ready 1", "assertions_failed 1", "tests_run 2",
			`wattson_spec_consecutive_failures{labels="pdu",spec="outlet reports watts",suite="energy"} 4`,
			"wattson_runtime_last_complete_run_timestamp_seconds 1.7e+09"}, nil},
		{"follower", false, true, []string{"wattson_runtime_ready 1", "wattson_runtime_last_complete_run_timestamp_seconds 1.7e+09"},
			[]string{"assertions_failed ", "tests_run ", "wattson_spec_passing"}},
		// The database is unreachable: the replica's own last run, as without PostgreSQL.
		{"no view", true, false, []string{"wattson_runtime_ready 1", "assertions_failed 0",
			`wattson_spec_passing{labels="",spec="alert fires",suite="energy"} 1`}, []string{"wattson_spec_consecutive_failures{labels=\"pdu\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			m := metrics.NewMetrics(reg, 0, time.Minute)
			v := view
			v.Leader = tt.leader
			m.SetShared(func() (metrics.Shared, bool) { return v, tt.ok })
			// This replica's own run moves its counters only.
			m.Observe(run(report.Passed, t0.Add(-time.Hour), spec("alert fires", "passed")))
			var b strings.Builder
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
					t.Fatal(err)
				}
			}
			out := "\n" + b.String()
			for _, s := range tt.present {
				if !strings.Contains(out, "\n"+s+"\n") {
					t.Errorf("lacks %q", s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(out, "\n"+s) {
					t.Errorf("has %q", s)
				}
			}
			if !strings.Contains(out, "\ntests_run_total 1\n") {
				t.Errorf("own counters missing")
			}
			if t.Failed() {
				t.Log(out)
			}
		})
	}
}

// TestObserveFocused: a focused run (dev mode) updates the series of the specs it ran, keeps
// every other spec's, adds a new spec's, and changes nothing a complete run owns.
func TestObserveFocused(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := metrics.NewMetrics(reg, 0, time.Minute)
	focused := func(specs ...report.Spec) *report.Run {
		r := run(report.Failed, t0.Add(time.Minute), specs...)
		r.Focus = []string{"power_test.go"}
		return r
	}
	// Before any complete run: nothing per spec, not ready.
	m.ObserveFocused(focused(spec("a passes", "failed")))
	if m.Ready() {
		t.Error("ready after a focused run only")
	}
	if n, err := testutil.GatherAndCount(reg, "wattson_spec_passing"); err != nil || n != 0 {
		t.Errorf("%d per-spec series before a complete run (%v), want 0", n, err)
	}
	m.Observe(run(report.Passed, t0, spec("a passes", "passed", "pdu"), spec("b stays", "passed")))
	m.ObserveFocused(focused(spec("a passes", "failed", "pdu"), spec("new spec", "passed", "devloop")))
	m.ObserveFocused(&report.Run{Suite: "energy", Result: report.Error, Focus: []string{"helpers_test.go"}})
	want := `
# HELP wattson_spec_passing 1 if the spec passed in the last complete run, 0 if it failed. Specs that did not run are absent.
# TYPE wattson_spec_passing gauge
wattson_spec_passing{labels="",spec="b stays",suite="energy"} 1
wattson_spec_passing{labels="devloop",spec="new spec",suite="energy"} 1
wattson_spec_passing{labels="pdu",spec="a passes",suite="energy"} 0
# HELP wattson_spec_consecutive_failures Complete runs in a row the spec has failed (0 when it passed last).
# TYPE wattson_spec_consecutive_failures gauge
wattson_spec_consecutive_failures{labels="",spec="b stays",suite="energy"} 0
wattson_spec_consecutive_failures{labels="devloop",spec="new spec",suite="energy"} 0
wattson_spec_consecutive_failures{labels="pdu",spec="a passes",suite="energy"} 1
# HELP tests_run Specs that ran (passed or failed) in the last complete run. Absent until the first complete run.
# TYPE tests_run gauge
tests_run 2
# HELP assertions_failed Failed specs in the last complete run (Gomega stops a spec at its first failed assertion, so this counts failed specs). Absent until the first complete run.
# TYPE assertions_failed gauge
assertions_failed 0
# HELP wattson_runtime_runs_total Runs by result: passed, failed (the system failed a spec) or error (the harness broke: no binary, build failure, no report, no specs).
# TYPE wattson_runtime_runs_total counter
wattson_runtime_runs_total{result="error"} 0
wattson_runtime_runs_total{result="failed"} 0
wattson_runtime_runs_total{result="passed"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wattson_spec_passing", "wattson_spec_consecutive_failures", "tests_run", "assertions_failed", "wattson_runtime_runs_total"); err != nil {
		t.Error(err)
	}
	// A focused failure is not a complete run: the next complete failure is the first in a row.
	m.Observe(run(report.Failed, t0.Add(2*time.Minute), spec("a passes", "failed", "pdu"), spec("b stays", "passed")))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP wattson_spec_consecutive_failures Complete runs in a row the spec has failed (0 when it passed last).
# TYPE wattson_spec_consecutive_failures gauge
wattson_spec_consecutive_failures{labels="",spec="b stays",suite="energy"} 0
wattson_spec_consecutive_failures{labels="pdu",spec="a passes",suite="energy"} 1
`), "wattson_spec_consecutive_failures"); err != nil {
		t.Errorf("after a focused and a complete failure: %v", err)
	}
	// The complete run is the truth again: the focused-only spec is gone.
	if n, err := testutil.GatherAndCount(reg, "wattson_spec_passing"); err != nil || n != 2 {
		t.Errorf("%d per-spec series after the next complete run (%v), want 2", n, err)
	}
}
