package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/specs/alerts"
	"github.com/wattson-dev/wattson/specs/sim"
)

// runtimeService is the energy Suite's runtime: the operator names its Deployment, Service,
// ServiceMonitor and PrometheusRule wattson-suite-<name>, and Prometheus's job is the Service's.
const runtimeService = "wattson-suite-energy"

// The energy Suite as the cluster kit runs it (hack/cluster/kit/suite.yaml): two replicas, and a
// tuning of its own for the specs labelled power, which the fault below breaks.
const (
	suiteReplicas   = 2
	suiteName       = "wattson" // spec.suiteName: the runs' suite in the shared history
	tunedLabel      = "power"
	tunedFailedRuns = 3
	tunedFor        = 30 * time.Second
	tunedSeverity   = "critical"
	// faultSpec carries the labels power and simulator: without the kit's entry the shipped
	// tuning's catch-all would page it as warning after 2 failed runs.
	faultSpec = "Power readings equal what the simulator serves, in SI units"
)

// suiteObject is what the test reads of the Suite.
type suiteObject struct {
	Spec struct {
		Replicas int `json:"replicas"`
		Alerts   []struct {
			SpecLabel  string `json:"specLabel"`
			FailedRuns int    `json:"failedRuns"`
			For        string `json:"for"`
			Severity   string `json:"severity"`
		} `json:"alerts"`
	} `json:"spec"`
	Status struct {
		Conditions []struct {
			Type, Status, Reason, Message string
		} `json:"conditions"`
		Verdict             string `json:"verdict"`
		ReadyReplicas       int    `json:"readyReplicas"`
		ConsecutiveFailures int    `json:"consecutiveFailures"`
		FailingSpecCount    int    `json:"failingSpecCount"`
		LastRun             *struct {
			ID, Result, Trigger string
		} `json:"lastRun"`
	} `json:"status"`
}

func (s suiteObject) condition(typ string) (status, reason string) {
	for _, c := range s.Status.Conditions {
		if c.Type == typ {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

// suite proves the energy suite as a Suite in the real-shaped cluster: the operator rendered
// and runs it (`kubectl get suites`: Ready, 2/2 replicas, a verdict); its two replicas share the
// runs through the kit's PostgreSQL, each run done by exactly one of them; and a simulator fault
// pages the in-cluster Alertmanager through the Suite's own PrometheusRule, with the alert tuning
// the Suite sets (severity, failed runs, for), once for the two replicas, and resolves.
func (e *env) suite(t *testing.T, ctx context.Context) {
	start := time.Now()
	var s suiteObject
	if err := poll(ctx, 5*time.Minute, func() error {
		var err error
		if s, err = e.getSuite(ctx); err != nil {
			return err
		}
		ready, reason := s.condition("Ready")
		switch {
		case ready != "True":
			return fmt.Errorf("Suite energy is not Ready: %s %s", ready, reason)
		case s.Spec.Replicas != suiteReplicas || s.Status.ReadyReplicas != suiteReplicas:
			return fmt.Errorf("Suite energy has %d/%d ready replicas, want %d/%d", s.Status.ReadyReplicas, s.Spec.Replicas, suiteReplicas, suiteReplicas)
		case s.Status.Verdict != "Passed":
			return fmt.Errorf("Suite energy's verdict is %q, want Passed", s.Status.Verdict)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	table := e.run(t, ctx, "kubectl get suites", filepath.Join(e.bin, "kubectl"), "-n", "wattson-system", "get", "suites", "-o", "wide")
	t.Logf("kubectl -n wattson-system get suites -o wide:\n%s", table)
	if !strings.Contains(table, "energy") || !strings.Contains(table, "Passed") {
		t.Fatalf("kubectl get suites does not show the energy Suite passing:\n%s", table)
	}
	e.took(fmt.Sprintf("energy Suite Ready, %d/%d replicas, verdict %s (since the step began)", s.Status.ReadyReplicas, s.Spec.Replicas, s.Status.Verdict), time.Since(start))

	e.exactlyOnce(t, ctx)
	e.suiteFault(t, ctx)
}

func (e *env) getSuite(ctx context.Context) (suiteObject, error) {
	var s suiteObject
	out, err := e.kubectl(ctx, "-n", "wattson-system", "get", "suite", "energy", "-o", "json")
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal([]byte(out), &s)
}

// exactlyOnce reads the shared history in the kit's PostgreSQL once both replicas have run the
// suite: every slot of the run queue is one run, done once, by one replica, with one row in the
// history; the slots have no gap; and both replicas did some.
func (e *env) exactlyOnce(t *testing.T, ctx context.Context) {
	start := time.Now()
	// One statement, one snapshot: the counts agree with each other.
	q := fmt.Sprintf(`SELECT
	  (SELECT count(*) FROM fleet_jobs WHERE suite = '%[1]s' AND state = 'done'),
	  (SELECT count(DISTINCT run_id) FROM fleet_jobs WHERE suite = '%[1]s' AND state = 'done' AND run_id <> ''),
	  (SELECT count(*) FROM runs WHERE suite = '%[1]s'),
	  (SELECT count(*) FROM runs r WHERE r.suite = '%[1]s' AND NOT EXISTS
	     (SELECT 1 FROM fleet_jobs j WHERE j.suite = r.suite AND j.run_id = r.id AND j.state = 'done')),
	  (SELECT coalesce(max(slot), 0) - count(*) FROM fleet_jobs WHERE suite = '%[1]s'),
	  (SELECT count(DISTINCT replica) FROM runs WHERE suite = '%[1]s'),
	  (SELECT coalesce(string_agg(replica || '=' || n, ' ' ORDER BY replica), '') FROM
	     (SELECT replica, count(*) AS n FROM runs WHERE suite = '%[1]s' GROUP BY replica) x)`, suiteName)
	var done, ids, runs, orphans, gaps, replicas int
	var perReplica string
	if err := poll(ctx, 4*time.Minute, func() error {
		rows, err := e.psql(ctx, q)
		if err != nil {
			return err
		}
		if len(rows) != 1 || len(rows[0]) != 7 {
			return fmt.Errorf("unexpected answer %q", rows)
		}
		n := make([]int, 6)
		for i := range n {
			if n[i], err = strconv.Atoi(rows[0][i]); err != nil {
				return err
			}
		}
		done, ids, runs, orphans, gaps, replicas, perReplica = n[0], n[1], n[2], n[3], n[4], n[5], rows[0][6]
		if replicas < suiteReplicas || done < 6 {
			return fmt.Errorf("%d runs so far (%s): waiting for at least 6 and both replicas", runs, perReplica)
		}
		return nil
	}); err != nil {
		t.Fatalf("the shared history: %v", err)
	}
	t.Logf("shared history: %d slots done, %d distinct runs among them, %d runs in the history, %d runs without a slot, %d slots missing; per replica: %s", done, ids, runs, orphans, gaps, perReplica)
	switch {
	case ids != done:
		t.Errorf("%d slots done but %d distinct runs: a run served two slots, or a slot has none", done, ids)
	case runs != done:
		t.Errorf("%d runs in the history for %d slots done: a slot was run twice (or a run recorded outside the queue)", runs, done)
	case orphans != 0:
		t.Errorf("%d runs in the history belong to no done slot", orphans)
	case gaps != 0:
		t.Errorf("the run queue skips %d slots", gaps)
	}
	e.took(fmt.Sprintf("shared history: %d runs, each done once (%s)", runs, perReplica), time.Since(start))
}

// promRule is an alerting rule as Prometheus's /api/v1/rules has it.
type promRule struct {
	Name     string            `json:"name"`
	Query    string            `json:"query"`
	Duration float64           `json:"duration"`
	Labels   map[string]string `json:"labels"`
	Type     string            `json:"type"`
	Health   string            `json:"health"`
}

// suiteFault: a wrong scale on one PDU's power (what a bad MIB scale looks like), which only the
// specs see. The alert must come from the Suite's own rule group, with the kit Suite's tuning for
// the power specs: severity critical, fired only after 3 failed runs held 30 s; one alert for
// the two replicas; and it resolves once the fault is cleared.
func (e *env) suiteFault(t *testing.T, ctx context.Context) {
	s, err := e.getSuite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Spec.Alerts) == 0 || s.Spec.Alerts[0].SpecLabel != tunedLabel || s.Spec.Alerts[0].FailedRuns != tunedFailedRuns || s.Spec.Alerts[0].Severity != tunedSeverity {
		t.Fatalf("the kit's Suite does not tune %s specs as this test expects (%d runs, for %s, %s): %+v", tunedLabel, tunedFailedRuns, tunedFor, tunedSeverity, s.Spec.Alerts)
	}
	// Prometheus loaded the Suite's rule group, rendered from that tuning.
	group := "wattson.suite.wattson-system.energy"
	var tuned promRule
	if err := poll(ctx, 2*time.Minute, func() error {
		b, err := httpGet(ctx, e.prometheusURL+"/api/v1/rules?type=alert")
		if err != nil {
			return err
		}
		var d struct {
			Data struct {
				Groups []struct {
					Name  string     `json:"name"`
					Rules []promRule `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return err
		}
		for _, g := range d.Data.Groups {
			if g.Name != group {
				continue
			}
			for _, r := range g.Rules {
				if r.Name == "WattsonSpecFailing" && strings.Contains(r.Query, tunedLabel) && !strings.Contains(r.Query, `labels!~"(.*,)?`+tunedLabel) {
					tuned = r
					return nil
				}
			}
			return fmt.Errorf("group %s has no WattsonSpecFailing rule for the %s specs", group, tunedLabel)
		}
		return fmt.Errorf("Prometheus has not loaded rule group %s (the Suite's PrometheusRule %s)", group, runtimeService)
	}); err != nil {
		t.Fatal(err)
	}
	if tuned.Labels["severity"] != tunedSeverity || time.Duration(tuned.Duration)*time.Second != tunedFor || !strings.HasSuffix(tuned.Query, fmt.Sprintf(">= %d", tunedFailedRuns)) || tuned.Health == "err" {
		t.Fatalf("the Suite's rule for %s specs does not carry its tuning (severity %s, for %s, >= %d): %+v", tunedLabel, tunedSeverity, tunedFor, tunedFailedRuns, tuned)
	}
	t.Logf("Prometheus evaluates the Suite's rule: %s for %s, labels %v", tuned.Query, time.Duration(tuned.Duration)*time.Second, tuned.Labels)

	simulator, am := sim.New(e.simulatorURL), alerts.New(e.alertmanagerURL)
	faultAt := time.Now()
	if _, err := simulator.SetFault(ctx, "apc-rpdu2", sim.Fault{Type: sim.FaultScale, Factor: 10,
		Prefixes: []string{"1.3.6.1.4.1.318.1.1.26.4.3.1.5"}}); err != nil {
		t.Fatal(err)
	}
	cleared := false
	clearFault := func() {
		if !cleared {
			if _, err := simulator.ClearFaults(ctx, "apc-rpdu2"); err != nil {
				t.Error(err)
			}
			cleared = true
		}
	}
	defer clearFault()
	if err := poll(ctx, 5*time.Minute, func() error {
		return e.expectSeries(ctx, `assertions_failed{job="`+runtimeService+`", namespace="wattson-system"} > 0`)
	}); err != nil {
		t.Fatalf("the runtime's metrics never showed the failure: %v", err)
	}
	e.took("fault → assertions_failed > 0 in Prometheus", time.Since(faultAt))

	failing := alerts.Query{Name: "WattsonSpecFailing", Labels: alerts.Labels{"spec": faultSpec}}
	var paged alerts.Alert
	if err := poll(ctx, 8*time.Minute, func() error {
		l, err := am.Alerts(ctx, failing)
		if err != nil {
			return err
		}
		if len(l.Alerts) == 0 {
			return errors.New(l.GomegaString())
		}
		if len(l.Alerts) > 1 {
			return fmt.Errorf("one failing spec, two replicas: want one alert; %s", l.GomegaString())
		}
		paged = l.Alerts[0]
		return nil
	}); err != nil {
		t.Fatalf("WattsonSpecFailing never reached Alertmanager: %v", err)
	}
	pagedAt := time.Now()
	e.took("fault → WattsonSpecFailing in Alertmanager (Suite tuning: 3 failed runs, for 30s)", pagedAt.Sub(faultAt))
	t.Logf("paged: %s, startsAt %s", paged.Labels, paged.StartsAt.UTC().Format(time.RFC3339))
	for k, want := range map[string]string{"severity": tunedSeverity, "wattson_suite": "energy", "namespace": "wattson-system", "suite": suiteName} {
		if got := paged.Labels[k]; got != want {
			t.Errorf("the alert's label %s is %q, want %q (the energy Suite's rule and tuning): %s", k, got, want, paged.Labels)
		}
	}
	// It fired no earlier than the tuning allows: the spec had failed 3 complete runs since the
	// fault (the shared history says when each ended), and the alert started at least `for`
	// after the third.
	rows, err := e.psql(ctx, fmt.Sprintf(`SELECT to_char(r.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), r.replica
	  FROM runs r JOIN spec_results s ON s.run_id = r.id
	  WHERE r.suite = '%s' AND s.name = '%s' AND s.state IN ('failed', 'panicked', 'timedout')
	    AND r.finished_at > '%s' AND r.finished_at <= '%s'
	  ORDER BY r.finished_at`, suiteName, strings.ReplaceAll(faultSpec, "'", "''"),
		faultAt.UTC().Format(time.RFC3339Nano), paged.StartsAt.UTC().Format(time.RFC3339Nano)))
	if err != nil {
		t.Fatal(err)
	}
	var failures []string
	for _, r := range rows {
		failures = append(failures, r[0]+" by "+r[1])
	}
	t.Logf("failed runs of %q before the alert started: %v", faultSpec, failures)
	if len(rows) < tunedFailedRuns {
		t.Errorf("the alert started after %d failed runs of the spec, the Suite's tuning says %d", len(rows), tunedFailedRuns)
	} else {
		third, err := time.Parse(time.RFC3339Nano, rows[tunedFailedRuns-1][0])
		if err != nil {
			t.Fatal(err)
		}
		// 1 s of slack: the run's end is the runtime's clock, the alert's start Prometheus's.
		if held := paged.StartsAt.Sub(third); held < tunedFor-time.Second {
			t.Errorf("the alert started %s after the third failed run, before the Suite's for: %s", held.Round(time.Second), tunedFor)
		} else {
			t.Logf("the alert started %s after the spec's third failed run (for: %s)", held.Round(time.Second), tunedFor)
		}
	}
	if s, err := e.getSuite(ctx); err == nil {
		t.Logf("Suite status while paged: verdict %s, %d consecutive failures, %d failing specs", s.Status.Verdict, s.Status.ConsecutiveFailures, s.Status.FailingSpecCount)
	}

	clearFault()
	clearedAt := time.Now()
	if err := poll(ctx, 5*time.Minute, func() error {
		l, err := am.Alerts(ctx, failing)
		if err != nil {
			return err
		}
		if len(l.Alerts) > 0 {
			return errors.New(l.GomegaString())
		}
		return nil
	}); err != nil {
		t.Fatalf("WattsonSpecFailing did not resolve: %v", err)
	}
	e.took("fault cleared → alert resolved", time.Since(clearedAt))
}

// kubectl runs kubectl with the cluster's environment and returns its output.
func (e *env) kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "kubectl"), args...)
	cmd.Env = e.environ
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, exit.Stderr)
		}
		return "", fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// psql runs a query in the kit's PostgreSQL (hack/cluster/kit/postgres.yaml), on the pod's own
// socket, and returns its rows.
func (e *env) psql(ctx context.Context, query string) ([][]string, error) {
	out, err := e.kubectl(ctx, "-n", "wattson-system", "exec", "deploy/wattson-postgres", "--",
		"/usr/lib/postgresql/15/bin/psql", "-h", "/tmp", "-U", "wattson", "-d", "wattson", "-v", "ON_ERROR_STOP=1", "-AtF", "\t", "-c", query)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows, nil
}
