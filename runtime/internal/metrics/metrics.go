// Package metrics exports what the runtime knows about its runs as Prometheus metrics, fail-closed:
// nothing that could read as "green" is exported before the first complete run.
//
// Two families are exported. The kubernetes-assert compatible ones (unlabelled, no namespace) let
// existing PodMonitors and alerts keep working; they are absent until the first complete run,
// because a zero would page nobody while nothing has been checked. The wattson_* ones add
// readiness, staleness, per-run results and per-spec state.
package metrics

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattson-dev/wattson/runtime/internal/report"
)

// DefaultMaxSpecs is the default cap on the number of specs exported with per-spec series.
const DefaultMaxSpecs = 500

// maxLabelValue bounds the length of the spec and labels label values.
const maxLabelValue = 256

var (
	specLabels = []string{"suite", "spec", "labels"}

	descAssertionsFailed      = prometheus.NewDesc("assertions_failed", "Failed specs in the last complete run (Gomega stops a spec at its first failed assertion, so this counts failed specs). Absent until the first complete run.", nil, nil)
	descAssertionsFailedTotal = prometheus.NewDesc("assertions_failed_total", "Failed specs over all complete runs. Absent until the first complete run.", nil, nil)
	descTestsRun              = prometheus.NewDesc("tests_run", "Specs that ran (passed or failed) in the last complete run. Absent until the first complete run.", nil, nil)
	descTestsRunTotal         = prometheus.NewDesc("tests_run_total", "Specs that ran over all complete runs. Absent until the first complete run.", nil, nil)
	descSuitesRun             = prometheus.NewDesc("test_suites_run", "Suites that ran in the last complete run. Absent until the first complete run.", nil, nil)
	descSuitesRunTotal        = prometheus.NewDesc("test_suites_run_total", "Suites run over all complete runs. Absent until the first complete run.", nil, nil)
	descFilesSeen             = prometheus.NewDesc("assert_files_seen", "Distinct spec source files among the specs of the last complete run. Absent until the first complete run.", nil, nil)

	descReady           = prometheus.NewDesc("wattson_runtime_ready", "1 once a run has completed (passed or failed), 0 before: nothing is known about the system until then.", nil, nil)
	descRuns            = prometheus.NewDesc("wattson_runtime_runs_total", "Runs by result: passed, failed (the system failed a spec) or error (the harness broke: no binary, build failure, no report, no specs).", []string{"result"}, nil)
	descRunDuration     = prometheus.NewDesc("wattson_runtime_last_run_duration_seconds", "Wall-clock duration of the last run, whatever its result.", nil, nil)
	descLastRun         = prometheus.NewDesc("wattson_runtime_last_run_timestamp_seconds", "When the last run (of any result) finished; 0 before the first.", nil, nil)
	descLastComplete    = prometheus.NewDesc("wattson_runtime_last_complete_run_timestamp_seconds", "When the last complete (passed or failed) run finished; 0 before the first. Alert when it is older than a few intervals.", nil, nil)
	descLastSuccess     = prometheus.NewDesc("wattson_runtime_last_success_timestamp_seconds", "When the last passed run finished; 0 before the first.", nil, nil)
	descInterval        = prometheus.NewDesc("wattson_runtime_interval_seconds", "Configured interval between runs, for staleness alerts (0 in CI mode).", nil, nil)
	descSpecPassing     = prometheus.NewDesc("wattson_spec_passing", "1 if the spec passed in the last complete run, 0 if it failed. Specs that did not run are absent.", specLabels, nil)
	descSpecConsecutive = prometheus.NewDesc("wattson_spec_consecutive_failures", "Complete runs in a row the spec has failed (0 when it passed last).", specLabels, nil)
	descSpecDuration    = prometheus.NewDesc("wattson_spec_duration_seconds", "Duration of the spec in the last complete run.", specLabels, nil)
	descSpecsDropped    = prometheus.NewDesc("wattson_spec_series_dropped", "Specs of the last complete run not exported per spec because of the series cap (failing specs are exported first).", nil, nil)
)

// Metrics is a prometheus.Collector over the runtime's state. It is safe for concurrent use.
type Metrics struct {
	maxSpecs int
	interval time.Duration

	mu           sync.Mutex
	ready        bool
	runs         map[report.Result]float64
	failedTotal  float64
	ranTotal     float64
	suitesTotal  float64
	last         *report.Run // last complete run, with Specs and Output dropped
	lastSpecs    []specState // of the last complete run, capped
	dropped      int
	lastRun      time.Time
	lastRunDur   time.Duration
	lastComplete time.Time
	lastSuccess  time.Time
	consecutive  map[specKey]int
	shared       func() (Shared, bool)
}

type specKey struct{ suite, name string }

// Shared is a fleet's view of its suite, read from the shared history, which every replica
// exports instead of what it saw itself: the time and duration gauges and readiness in every
// replica (alike), the result gauges (assertions_failed, tests_run, test_suites_run,
// assert_files_seen, wattson_spec_*) only in the Leader, so that no sum across replicas counts a
// failure twice. Counters stay per replica: each run is counted by the replica that ran it.
type Shared struct {
	// Leader is true in the one replica that exports the result gauges.
	Leader                             bool
	LastRun, LastComplete, LastSuccess time.Time
	LastDuration                       time.Duration
	// Last is the last complete run with its specs; nil before the first.
	Last *report.Run
	// Consecutive are the complete runs in a row each spec of Last has failed.
	Consecutive map[string]int
}

// SetShared makes Collect export f's view (fleet mode); f returns false when it has none (the
// database is unreachable, and each replica runs alone), and then Collect exports what this
// replica saw itself, as without PostgreSQL.
func (m *Metrics) SetShared(f func() (Shared, bool)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.shared = f
}

type specState struct {
	suite, name, labels string
	passing             bool
	consecutive         int
	duration            time.Duration
}

// NewMetrics registers the runtime's metrics on reg. maxSpecs caps the specs exported per spec
// (DefaultMaxSpecs when <= 0); interval is exported for staleness alerts.
func NewMetrics(reg prometheus.Registerer, maxSpecs int, interval time.Duration) *Metrics {
	if maxSpecs <= 0 {
		maxSpecs = DefaultMaxSpecs
	}
	m := &Metrics{
		maxSpecs:    maxSpecs,
		interval:    interval,
		runs:        map[report.Result]float64{report.Passed: 0, report.Failed: 0, report.Error: 0},
		consecutive: map[specKey]int{},
	}
	reg.MustRegister(m)
	return m
}

// Observe records a finished run.
func (m *Metrics) Observe(run *report.Run) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs[run.Result]++
	m.lastRun = run.FinishedAt
	m.lastRunDur = run.Duration
	if !run.Result.Complete() {
		return
	}
	m.ready = true
	m.lastComplete = run.FinishedAt
	if run.Result == report.Passed {
		m.lastSuccess = run.FinishedAt
	}
	m.failedTotal += float64(run.Failed)
	m.ranTotal += float64(run.Ran())
	m.suitesTotal++
	m.last = &report.Run{Failed: run.Failed, Passed: run.Passed, Files: run.Files}

	// Per-spec state. Consecutive failures are kept only for specs of this run, so the map is
	// bounded by the suite's size, and a spec that stops running starts again from zero.
	next := make(map[specKey]int, len(run.Specs))
	states := m.specStates(run, next)
	m.consecutive = next
	m.lastSpecs, m.dropped = capSpecs(states, m.maxSpecs)
}

// specStates are the states of the specs that ran in run, their consecutive failures counted on
// from m.consecutive and written to next. Without next (a focused run, which is not a complete
// run), a failing spec shows the complete runs it has failed, at least 1, and nothing is counted.
func (m *Metrics) specStates(run *report.Run, next map[specKey]int) []specState {
	states := make([]specState, 0, len(run.Specs))
	for _, s := range run.Specs {
		if !s.Ran() {
			continue
		}
		k := specKey{run.Suite, s.Name}
		c := 0
		switch {
		case s.Failed() && next == nil:
			c = max1(m.consecutive[k])
		case s.Failed():
			c = m.consecutive[k] + 1
		}
		if next != nil {
			next[k] = c
		}
		states = append(states, specState{
			suite: run.Suite, name: clip(s.Name), labels: clip(strings.Join(s.Labels, ",")),
			passing: !s.Failed(), consecutive: c, duration: s.Duration,
		})
	}
	return states
}

// ObserveFocused records a focused run (dev mode: the specs of the files just saved, before
// the whole suite runs): the per-spec series of the specs it ran are updated, every other spec
// keeps its series from the last complete run, and nothing else changes. It is not a run of the
// suite: runs_total, the totals, tests_run and readiness count complete runs only, and before
// the first one no per-spec series is exported at all.
func (m *Metrics) ObserveFocused(run *report.Run) {
	if !run.Result.Complete() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	byName := make(map[specKey]int, len(m.lastSpecs))
	states := slices.Clone(m.lastSpecs)
	for i, st := range states {
		byName[specKey{st.suite, st.name}] = i
	}
	for _, st := range m.specStates(run, nil) {
		if i, ok := byName[specKey{st.suite, st.name}]; ok {
			states[i] = st
		} else {
			byName[specKey{st.suite, st.name}] = len(states)
			states = append(states, st)
		}
	}
	var dropped int
	m.lastSpecs, dropped = capSpecs(states, m.maxSpecs)
	m.dropped += dropped
}

// capSpecs orders states and keeps at most max: over the cap, failing specs go first (alerts
// need them), then by name for stable series. It returns how many were dropped.
func capSpecs(states []specState, max int) ([]specState, int) {
	slices.SortStableFunc(states, func(a, b specState) int {
		if a.passing != b.passing {
			if !a.passing {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.name, b.name)
	})
	dropped := 0
	if len(states) > max {
		dropped = len(states) - max
		states = states[:max]
	}
	return dedupe(states), dropped
}

// sharedSpecs are the per-spec states of a fleet's last complete run.
func sharedSpecs(s Shared, max int) ([]specState, int) {
	states := make([]specState, 0, len(s.Last.Specs))
	for _, sp := range s.Last.Specs {
		if !sp.Ran() {
			continue
		}
		c := 0
		if sp.Failed() {
			c = max1(s.Consecutive[sp.Name])
		}
		states = append(states, specState{suite: s.Last.Suite, name: clip(sp.Name), labels: clip(strings.Join(sp.Labels, ",")),
			passing: !sp.Failed(), consecutive: c, duration: sp.Duration})
	}
	return capSpecs(states, max)
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// Ready reports whether a run has completed (in a fleet: by any replica).
func (m *Metrics) Ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shared != nil {
		if s, ok := m.shared(); ok {
			return s.Last != nil
		}
	}
	return m.ready
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descAssertionsFailed, descAssertionsFailedTotal, descTestsRun, descTestsRunTotal,
		descSuitesRun, descSuitesRunTotal, descFilesSeen, descReady, descRuns, descRunDuration,
		descLastRun, descLastComplete, descLastSuccess, descInterval, descSpecPassing,
		descSpecConsecutive, descSpecDuration, descSpecsDropped,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	for _, r := range []report.Result{report.Passed, report.Failed, report.Error} {
		counter(descRuns, m.runs[r], string(r))
	}
	gauge(descInterval, m.interval.Seconds())
	if m.shared != nil {
		// Without a view (the database is unreachable, so the replicas run alone), what this
		// replica saw itself, as without PostgreSQL.
		if sh, ok := m.shared(); ok {
			m.collectShared(sh, gauge, counter)
			return
		}
	}
	gauge(descReady, b2f(m.ready))
	gauge(descRunDuration, m.lastRunDur.Seconds())
	gauge(descLastRun, unix(m.lastRun))
	gauge(descLastComplete, unix(m.lastComplete))
	gauge(descLastSuccess, unix(m.lastSuccess))
	if !m.ready {
		return
	}
	m.collectTotals(counter)
	gauge(descAssertionsFailed, float64(m.last.Failed))
	gauge(descTestsRun, float64(m.last.Ran()))
	gauge(descSuitesRun, 1)
	gauge(descFilesSeen, float64(m.last.Files))
	m.collectSpecs(gauge, m.lastSpecs, m.dropped)
}

func (m *Metrics) collectTotals(counter func(*prometheus.Desc, float64, ...string)) {
	counter(descAssertionsFailedTotal, m.failedTotal)
	counter(descTestsRunTotal, m.ranTotal)
	counter(descSuitesRunTotal, m.suitesTotal)
}

// collectShared exports a fleet's view; m.mu is held.
func (m *Metrics) collectShared(s Shared, gauge, counter func(*prometheus.Desc, float64, ...string)) {
	if m.ready {
		m.collectTotals(counter) // this replica's own runs, summed across replicas by rules
	}
	gauge(descReady, b2f(s.Last != nil))
	gauge(descRunDuration, s.LastDuration.Seconds())
	gauge(descLastRun, unix(s.LastRun))
	gauge(descLastComplete, unix(s.LastComplete))
	gauge(descLastSuccess, unix(s.LastSuccess))
	if s.Last == nil || !s.Leader {
		return
	}
	gauge(descAssertionsFailed, float64(s.Last.Failed))
	gauge(descTestsRun, float64(s.Last.Ran()))
	gauge(descSuitesRun, 1)
	gauge(descFilesSeen, float64(s.Last.Files))
	specs, dropped := sharedSpecs(s, m.maxSpecs)
	m.collectSpecs(gauge, specs, dropped)
}

func (m *Metrics) collectSpecs(gauge func(*prometheus.Desc, float64, ...string), specs []specState, dropped int) {
	gauge(descSpecsDropped, float64(dropped))
	for _, s := range specs {
		gauge(descSpecPassing, b2f(s.passing), s.suite, s.name, s.labels)
		gauge(descSpecConsecutive, float64(s.consecutive), s.suite, s.name, s.labels)
		gauge(descSpecDuration, s.duration.Seconds(), s.suite, s.name, s.labels)
	}
}

// dedupe drops specs whose (clipped) label values collide with an earlier one: Ginkgo allows two
// specs with the same text, and a registry refuses duplicate series. The earlier one is a failing
// one if either failed, because of the sort order.
func dedupe(states []specState) []specState {
	seen := make(map[[3]string]bool, len(states))
	out := states[:0]
	for _, s := range states {
		k := [3]string{s.suite, s.name, s.labels}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, s)
	}
	return out
}

func clip(s string) string {
	if len(s) <= maxLabelValue {
		return s
	}
	return strings.ToValidUTF8(s[:maxLabelValue-3], "") + "..."
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
