package monitoring_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// ruleFile is a PrometheusRule of monitoring/rules, the single source of truth for the rules.
type ruleFile struct {
	path string
	rule monitoringv1.PrometheusRule
}

func loadRules(t testing.TB) []ruleFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root(t), "monitoring/rules/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []ruleFile
	for _, p := range paths {
		if filepath.Base(p) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var pr monitoringv1.PrometheusRule
		if err := yaml.UnmarshalStrict(data, &pr); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if pr.Kind != "PrometheusRule" || pr.Name == "" {
			t.Fatalf("%s: want a named PrometheusRule, got kind %q name %q", p, pr.Kind, pr.Name)
		}
		out = append(out, ruleFile{path: p, rule: pr})
	}
	if len(out) == 0 {
		t.Fatal("no PrometheusRule in monitoring/rules")
	}
	return out
}

// plainRules writes each PrometheusRule's spec as a plain Prometheus rule file, NAME.rules.yaml,
// into dir and returns the file names.
func plainRules(t testing.TB, rules []ruleFile, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, rf := range rules {
		data, err := yaml.Marshal(rf.rule.Spec)
		if err != nil {
			t.Fatal(err)
		}
		name := rf.rule.Name + ".rules.yaml"
		files[name] = string(data)
		if dir != "" {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return files
}

// TestRulesPromtool extracts the rules to plain rule files and runs `promtool check rules` on them
// and `promtool test rules` on monitoring/rules/tests/*.yaml: series in, alerts out.
func TestRulesPromtool(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	repo := root(t)
	dir := t.TempDir()
	files := plainRules(t, loadRules(t), dir)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	ctx := context.Background()
	out, err := command(ctx, dir, nil, nil, promtool, append([]string{"check", "rules", "--lint=all", "--lint-fatal"}, names...)...)
	if err != nil {
		t.Fatalf("promtool check rules: %v", err)
	}
	t.Logf("promtool check rules:\n%s", out)

	tests, err := filepath.Glob(filepath.Join(repo, "monitoring/rules/tests/*.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests in monitoring/rules/tests (%v)", err)
	}
	var copied []string
	for _, p := range tests {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.Base(p))
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		copied = append(copied, filepath.Base(dst))
	}
	out, err = command(ctx, dir, nil, nil, promtool, append([]string{"test", "rules"}, copied...)...)
	if err != nil {
		t.Fatalf("promtool test rules: %v", err)
	}
	t.Logf("promtool test rules:\n%s", out)

	// The tests can fail: a wrong expectation makes promtool exit non-zero.
	broken := strings.Replace(string(mustRead(t, tests[0])), "severity: warning", "severity: info", 1)
	if broken == string(mustRead(t, tests[0])) {
		t.Fatalf("%s expects no warning alert to break", tests[0])
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.test.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := command(ctx, dir, nil, nil, promtool, "test", "rules", "broken.test.yaml"); err == nil {
		t.Errorf("promtool test rules passed a test whose expected severity was changed")
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var severities = []string{"critical", "warning", "info"}

// TestAlertContract checks what every alert must carry: a severity, a summary, a description and
// a runbook_url whose anchor is a section of monitoring/README.md, and at least one promtool test.
// The list of alerts must all exist.
func TestAlertContract(t *testing.T) {
	repo := root(t)
	readme := string(mustRead(t, filepath.Join(repo, "monitoring/README.md")))
	var tests strings.Builder
	testFiles, _ := filepath.Glob(filepath.Join(repo, "monitoring/rules/tests/*.yaml"))
	for _, p := range testFiles {
		tests.Write(mustRead(t, p))
	}
	var alerts []string
	for _, rf := range loadRules(t) {
		for _, g := range rf.rule.Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					if !strings.Contains(r.Record, ":") {
						t.Errorf("%s: recording rule %s does not follow level:metric:operations", rf.path, r.Record)
					}
					continue
				}
				alerts = append(alerts, r.Alert)
				where := fmt.Sprintf("%s: alert %s", filepath.Base(rf.path), r.Alert)
				sev, ok := r.Labels["severity"]
				switch {
				case ok && !slices.Contains(severities, sev):
					t.Errorf("%s: severity %q, want one of %v", where, sev, severities)
				case !ok && !strings.Contains(r.Expr.String(), `"severity"`):
					t.Errorf("%s: no severity label, and the expression does not set one", where)
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("%s: annotation %s is missing", where, a)
					}
				}
				anchor := strings.ToLower(r.Alert)
				if !strings.HasSuffix(r.Annotations["runbook_url"], "monitoring/README.md#"+anchor) {
					t.Errorf("%s: runbook_url %q does not point at monitoring/README.md#%s", where, r.Annotations["runbook_url"], anchor)
				}
				if !regexp.MustCompile(`(?m)^#+ ` + r.Alert + `\s*$`).MatchString(readme) {
					t.Errorf("%s: monitoring/README.md has no runbook section titled %s", where, r.Alert)
				}
				if !strings.Contains(tests.String(), "alertname: "+r.Alert+"\n") {
					t.Errorf("%s: no promtool test in monitoring/rules/tests", where)
				}
			}
		}
	}
	for _, want := range []string{
		"WattsonSpecFailing", "WattsonRuntimeAbsent", "WattsonRuntimeStale", "WattsonHarnessErrors",
		"WattsonSuiteShrank", "WattsonPDUScrapeDown", "WattsonPDUPowerAbsent",
		"WattsonPDUEnergyCounterReset", "WattsonPDUScrapeNearTimeout",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s is missing", want)
		}
	}
}

// metricName finds metric names in PromQL: identifiers followed by a selector, a range, a closing
// parenthesis, an operator or the end. Label names inside by/without are excluded by the caller.
var jobRef = regexp.MustCompile(`\bjob=~?"([^"]*)"`)

var metricRef = regexp.MustCompile(`\b((?:wattson|snmp|assert|assertions|tests|test)_[a-z_]+)\b`)

// TestMetricNamesExist checks the metric names the rules and the dashboard use against the code
// that exports them, so a rename in the runtime, the operator or the simulator breaks here rather
// than silently in production. Recorded names (level:metric:op) must be recorded by our rules.
func TestMetricNamesExist(t *testing.T) {
	repo := root(t)
	sources := map[string]string{
		"runtime/internal/metrics/metrics.go": "",
		"runtime/internal/store/durable.go":   "", // the history store's own counters
	}
	normalised := map[string]bool{}
	for _, n := range v1alpha1.MetricNames() {
		normalised[n] = true
	}
	for p := range sources {
		data, err := os.ReadFile(filepath.Join(repo, p))
		if err != nil {
			testenv.Unavailable(t, fmt.Errorf("%s is not there yet: %w", p, err))
		}
		sources[p] = string(data)
	}
	var exprs []string
	recorded := map[string]bool{}
	for _, rf := range loadRules(t) {
		for _, g := range rf.rule.Spec.Groups {
			for _, r := range g.Rules {
				exprs = append(exprs, r.Expr.String())
				if r.Record != "" {
					recorded[r.Record] = true
				}
			}
		}
	}
	for _, q := range dashboardQueries(t) {
		exprs = append(exprs, q.expr)
	}
	// snmp_exporter's own series about a scrape (collector.go in snmp_exporter v0.30.1).
	snmpExporter := map[string]bool{"snmp_scrape_duration_seconds": true, "snmp_scrape_walk_duration_seconds": true, "snmp_scrape_pdus_returned": true, "snmp_scrape_packets_sent": true, "snmp_scrape_packets_retried": true}
	recordedRef := regexp.MustCompile(`\b[a-z]+:[a-z_]+:[a-z0-9_]+\b`)
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, m := range recordedRef.FindAllString(e, -1) {
			if !recorded[m] {
				t.Errorf("%s is used but recorded by no rule in monitoring/rules", m)
			}
		}
		for _, m := range metricRef.FindAllStringSubmatch(recordedRef.ReplaceAllString(e, ""), -1) {
			seen[m[1]] = true
		}
	}
	for name := range seen {
		quoted := `"` + name + `"`
		switch {
		case snmpExporter[name]:
		case strings.HasPrefix(name, "wattson_pdu_"):
			if !normalised[name] {
				t.Errorf("%s is not a metric the operator's recording rules write (v1alpha1.MetricNames, operator/api/v1alpha1/contract.go)", name)
			}
		default:
			if !strings.Contains(sources["runtime/internal/metrics/metrics.go"], quoted) && !strings.Contains(sources["runtime/internal/store/durable.go"], quoted) {
				t.Errorf("%s is not a metric the runtime exports (runtime/internal/metrics/metrics.go, runtime/internal/store/durable.go)", name)
			}
		}
	}
	// Every job the rules and the dashboard select is the PDU job the operator's scrape objects set,
	// the job prometheus-operator gives one of the kit's monitors, or the energy Suite's: its
	// ServiceMonitor and Service are the operator's, named wattson-suite-<name>.
	var energy v1alpha1.Suite
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(repo, "runtime/config/suite.yaml")), &energy); err != nil {
		t.Fatal(err)
	}
	kitJobs := map[string]bool{v1alpha1.SuitePrefix + energy.Name: true}
	monitors, _ := filepath.Glob(filepath.Join(repo, "monitoring/monitors/*.yaml"))
	for _, p := range monitors {
		var m struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(mustRead(t, p), &m); err != nil {
			continue
		}
		switch m.Kind {
		case "PodMonitor": // prometheus-operator's job: NAMESPACE/NAME of the monitor
			kitJobs["wattson-system/"+m.Metadata.Name] = true
		case "ServiceMonitor": // the Service's name; the kit's Services are named as the component
			kitJobs[m.Spec.Selector.MatchLabels["app.kubernetes.io/name"]] = true
		}
	}
	jobs := 0
	for _, e := range exprs {
		for _, m := range jobRef.FindAllStringSubmatch(e, -1) {
			jobs++
			if m[1] != v1alpha1.PDUJob && !kitJobs[m[1]] {
				t.Errorf("%s selects job %q; the operator's PDU scrapes have job %q (v1alpha1.PDUJob), the kit's monitors %v",
					strings.TrimSpace(e), m[1], v1alpha1.PDUJob, slices.Sorted(maps.Keys(kitJobs)))
			}
		}
	}
	if jobs == 0 {
		t.Errorf("no job=%q selector found in the rules: the pattern misses them", v1alpha1.PDUJob)
	}
	t.Logf("checked %d metric names: %v", len(seen), slices.Sorted(maps.Keys(seen)))
	if len(seen) < 10 {
		t.Errorf("found only %d metric names (%v): the pattern misses them", len(seen), slices.Sorted(maps.Keys(seen)))
	}
}

// TestAlertmanagerConfig checks the example configuration with amtool (syntax, and where each
// severity is routed) and starts a real Alertmanager on it.
func TestAlertmanagerConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Alertmanager")
	}
	path := filepath.Join(root(t), "monitoring/alertmanager/config/alertmanager.yaml")
	amtool := testenv.Binary(t, "amtool")
	ctx := context.Background()
	if _, err := command(ctx, "", nil, nil, amtool, "check-config", path); err != nil {
		t.Fatalf("amtool check-config: %v", err)
	}
	for _, tc := range []struct{ labels, receiver string }{
		{"severity=critical alertname=WattsonRuntimeAbsent", "oncall"},
		{"severity=warning alertname=WattsonPDUScrapeDown", "team"},
		{"severity=info alertname=WattsonPDUEnergyCounterReset", "blackhole"},
		{"severity=info alertname=WattsonWatchdog", "deadmansswitch"},
		{"alertname=SomethingElse", "team"},
	} {
		out, err := command(ctx, "", nil, nil, amtool, append([]string{"config", "routes", "test", "--config.file=" + path}, strings.Fields(tc.labels)...)...)
		if err != nil {
			t.Fatalf("amtool config routes test %s: %v", tc.labels, err)
		}
		if got := strings.TrimSpace(string(out)); got != tc.receiver {
			t.Errorf("alert {%s} goes to %q, want %q", tc.labels, got, tc.receiver)
		}
	}
	cfg := mustRead(t, path)
	am := testenv.Alertmanager(t, string(cfg))
	body := httpGet(t, am.URL+"/api/v2/status")
	for _, want := range []string{"oncall", "team", "blackhole", "WattsonPDUScrapeDown"} {
		if !strings.Contains(body, want) {
			t.Errorf("Alertmanager's loaded configuration lacks %q", want)
		}
	}
}
