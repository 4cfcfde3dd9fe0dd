package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/stack"
)

// alertLabel is the label prefix by which a fault spec names the alert it waits for
// (specs/faults_test.go).
const alertLabel = "alert:"

// specResult is one fault spec's outcome in a run of the suite.
type specResult struct {
	name, alert, message string
	state                types.SpecState
}

// faultSpecsNeedRules runs the suite's opt-in fault specs (label faults) against the stack, as a
// user would run bin/specs.test: first with every alert rule loaded, when each must pass, then once
// without each alert rule a fault spec waits for, when exactly the specs waiting for that alert
// must fail, each naming it, and every other must still pass.
//
// The runtime keeps running its own selection (!faults) meanwhile, and those runs fail while a
// fault lasts, as they should; only this run's JSON report is judged here.
func faultSpecsNeedRules(ctx context.Context, t *testing.T, s *stack.Stack, loaded map[string]string, logf func(string, ...any)) {
	// A `for` of one evaluation: this tests which rule each spec needs, not how fast it pages
	// (the latency table did), and it saves the rest of the `for` in every spec of every run.
	rules, err := stack.AlertRules(evalInterval)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.SetRuleFiles(ctx, loaded); err != nil {
			t.Errorf("restore the alert rules: %v", err)
		}
	}()
	all := alertNames(t, rules)

	apply := func(files map[string]string, missing string) {
		t.Helper()
		if err := s.SetRuleFiles(ctx, files); err != nil {
			t.Fatal(err)
		}
		want := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == missing })
		var got []string
		for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(250 * time.Millisecond) {
			if got, err = s.AlertingRules(ctx); err == nil && slices.Equal(sorted(got), want) {
				return
			}
		}
		t.Fatalf("Prometheus did not load the alerting rules %v within 1m: it has %v (%v)", want, got, err)
	}

	apply(rules, "")
	baseline := runFaultSpecs(ctx, t, s, "every rule", logf)
	needs := map[string]string{}
	for _, r := range baseline {
		if r.state != types.SpecStatePassed {
			t.Errorf("with every alert rule loaded, fault spec %q %s:\n%s", r.name, r.state, r.message)
		}
		if r.alert != "" {
			needs[r.name] = r.alert
		}
	}
	alerts := slices.Compact(sorted(slices.Collect(maps.Values(needs))))
	if len(alerts) == 0 {
		t.Fatalf("no fault spec names the alert it waits for (label %s<name>)", alertLabel)
	}
	if t.Failed() {
		return
	}

	for _, missing := range alerts {
		without, err := stack.WithoutAlerts(rules, missing)
		if err != nil {
			t.Fatal(err)
		}
		apply(without, missing)
		got := runFaultSpecs(ctx, t, s, "without "+missing, logf)
		if names(got) != names(baseline) {
			t.Errorf("without %s, the fault specs were %s; with every rule, %s", missing, names(got), names(baseline))
		}
		for _, r := range got {
			switch {
			case needs[r.name] == missing:
				if r.state != types.SpecStateFailed || !strings.Contains(r.message, missing) {
					t.Errorf("without %s, fault spec %q %s, want failed naming %s:\n%s", missing, r.name, r.state, missing, r.message)
				}
			case r.state == types.SpecStatePassed:
			// An event's alert (a counter reset's) fires for its rule's window, an hour: a spec
			// after the first can only say so.
			case r.state == types.SpecStateSkipped && strings.Contains(r.message, "still firing"):
			default:
				t.Errorf("without %s, fault spec %q, which waits for %q, %s:\n%s", missing, r.name, needs[r.name], r.state, r.message)
			}
		}
	}
}

// runFaultSpecs runs bin/specs.test with the label filter faults against the stack and returns
// its specs' outcomes from the JSON report.
func runFaultSpecs(ctx context.Context, t *testing.T, s *stack.Stack, what string, logf func(string, ...any)) []specResult {
	t.Helper()
	bin, err := procs.Binary("specs.test")
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.CommandContext(ctx, bin, "--ginkgo.label-filter=faults", "--ginkgo.json-report="+report, "--ginkgo.no-color")
	cmd.Env = append(os.Environ(), s.SpecEnv()...)
	start := time.Now()
	logf("fault specs, %s: start", what)
	out, runErr := cmd.CombinedOutput() // exits 1 when a spec fails, which may be what is wanted
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("fault specs, %s: no report (%v; exit: %v):\n%s", what, err, runErr, out)
	}
	var reports []types.Report
	if err := json.Unmarshal(raw, &reports); err != nil {
		t.Fatalf("fault specs, %s: report: %v", what, err)
	}
	var results []specResult
	for _, rep := range reports {
		for _, sr := range rep.SpecReports {
			if sr.LeafNodeType != types.NodeTypeIt {
				if sr.State.Is(types.SpecStateFailureStates) {
					t.Errorf("fault specs, %s: %s %s: %s", what, sr.LeafNodeType, sr.State, sr.Failure.Message)
				}
				continue
			}
			if !slices.Contains(sr.Labels(), "faults") {
				continue // not selected by the label filter
			}
			r := specResult{name: sr.FullText(), state: sr.State, message: sr.Failure.Message}
			for _, l := range sr.Labels() {
				if a, ok := strings.CutPrefix(l, alertLabel); ok {
					r.alert = a
				}
			}
			results = append(results, r)
		}
	}
	var summary []string
	for _, r := range results {
		line := fmt.Sprintf("%s: %s", r.name, r.state)
		if r.state != types.SpecStatePassed {
			line += ": " + strings.SplitN(r.message, "\n", 2)[0]
		}
		summary = append(summary, line)
	}
	t.Logf("fault specs, %s (%.0fs):\n  %s", what, time.Since(start).Seconds(), strings.Join(summary, "\n  "))
	logf("fault specs, %s: done in %.0fs", what, time.Since(start).Seconds())
	if len(results) == 0 {
		t.Fatalf("fault specs, %s: the report has no specs:\n%s", what, out)
	}
	return results
}

// alertNames lists the alerting rules in rule files, sorted.
func alertNames(t *testing.T, files map[string]string) []string {
	var names []string
	for name, content := range files {
		var f struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := yaml.Unmarshal([]byte(content), &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					names = append(names, r.Alert)
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("no alerting rules in the rule files")
	}
	return sorted(names)
}

func names(rs []specResult) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.name)
	}
	return fmt.Sprint(sorted(out))
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
