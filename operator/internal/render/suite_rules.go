package render

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// SuiteRulesKey is the key of the rule file in a Suite's rules ConfigMap (clusters without
// prometheus-operator).
const SuiteRulesKey = "wattson-suite.rules.yml"

// Defaults of an alerts entry, and of the specs no entry selects: two failed runs in a row, so
// one flake pages no one, as warning.
const (
	DefaultFailedRuns = 2
	DefaultSeverity   = v1alpha1.SeverityWarning
)

const runbook = "https://github.com/wattson-dev/wattson/blob/main/monitoring/README.md#"

// SuiteRuleGroups renders the alerting rules of one Suite, in one group:
//
//   - WattsonSpecFailing, one rule per spec.alerts entry: a spec failing failedRuns complete
//     runs in a row, held for `for`, pages with the entry's severity. A spec is tuned by the
//     first entry whose specLabel it carries (the runtime exports its labels sorted and joined
//     with ","), else by the entry without specLabel, else by the defaults.
//   - WattsonRuntimeAbsent, WattsonRuntimeStale, WattsonHarnessErrors and WattsonSuiteShrank
//     about the runtime itself, with the thresholds derived from spec.interval and spec.timeout.
//
// Every selector is {namespace, wattson_suite} (the label the Suite's ServiceMonitor adds), and
// every expression takes the max (or the sum of increases) over the runtime's pods, so the
// rules give one alert per spec whether one replica or several export the series.
func SuiteRuleGroups(s *v1alpha1.Suite) ([]monitoringv1.RuleGroup, error) {
	interval, timeout, err := suiteDurations(s)
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf(`namespace=%s, %s=%s`, strconv.Quote(s.Namespace), v1alpha1.SuiteMetricLabel, strconv.Quote(s.Name))
	suite := s.EffectiveSuiteName()
	by := "namespace, " + v1alpha1.SuiteMetricLabel
	specBy := by + ", suite, spec, labels"

	var labelled []v1alpha1.SuiteAlert
	rest := v1alpha1.SuiteAlert{FailedRuns: DefaultFailedRuns, Severity: DefaultSeverity}
	for i, a := range s.Spec.Alerts {
		if a.For != "" {
			if _, err := model.ParseDuration(string(a.For)); err != nil {
				return nil, fmt.Errorf("spec.alerts[%d].for: %w", i, err)
			}
		}
		if a.SpecLabel == "" {
			rest = a
			continue
		}
		labelled = append(labelled, a)
	}
	var rules []monitoringv1.Rule
	specRule := func(a v1alpha1.SuiteAlert, matchers []string, tuned string) monitoringv1.Rule {
		n := a.FailedRuns
		if n == 0 {
			n = DefaultFailedRuns
		}
		sev := a.Severity
		if sev == "" {
			sev = DefaultSeverity
		}
		sel := strings.Join(append([]string{base}, matchers...), ", ")
		r := monitoringv1.Rule{
			Alert: "WattsonSpecFailing",
			Expr:  intstr.FromString(fmt.Sprintf("max by (%s) (wattson_spec_consecutive_failures{%s}) >= %d", specBy, sel, n)),
			Labels: map[string]string{
				"severity": string(sev),
			},
			Annotations: map[string]string{
				"summary": `Spec "{{ $labels.spec }}" of suite {{ $labels.suite }} is failing`,
				"description": fmt.Sprintf(`The spec "{{ $labels.spec }}" (labels: {{ $labels.labels }}) of suite {{ $labels.suite }} failed the last {{ $value }} complete runs of Suite {{ $labels.namespace }}/%s (%s: pages after %d). The part of the system it checks is broken, or the spec is wrong: kubectl -n {{ $labels.namespace }} get suite %s -o yaml lists the failing specs with their messages, and the runtime's page has their history.`,
					s.Name, tuned, n, s.Name),
				"runbook_url": runbook + "wattsonspecfailing",
			},
		}
		if a.For != "" && a.For != "0s" {
			d := monitoringv1.Duration(a.For)
			r.For = &d
		}
		return r
	}
	var earlier []string
	for _, a := range labelled {
		re := specLabelRegexp(string(a.SpecLabel))
		rules = append(rules, specRule(a, append([]string{"labels=~" + strconv.Quote(re)}, earlier...), fmt.Sprintf("specs labelled %s", a.SpecLabel)))
		earlier = append(earlier, "labels!~"+strconv.Quote(re))
	}
	what := "every spec"
	if len(labelled) > 0 {
		what = "specs no other entry selects"
	}
	rules = append(rules, specRule(rest, earlier, what))

	sel := "{" + base + "}"
	staleAfter := 3*max(interval, time.Minute) + timeout
	firstRun := max(15*time.Minute, timeout+5*time.Minute)
	d := func(t time.Duration) *monitoringv1.Duration {
		v := monitoringv1.Duration(model.Duration(t).String())
		return &v
	}
	labels := func(sev v1alpha1.AlertSeverity) map[string]string {
		return map[string]string{"severity": string(sev), "suite": suite}
	}
	who := fmt.Sprintf("Suite %s/%s", s.Namespace, s.Name)
	rules = append(rules,
		monitoringv1.Rule{
			Alert:  "WattsonRuntimeAbsent",
			Expr:   intstr.FromString("absent(wattson_runtime_ready" + sel + ")"),
			For:    d(10 * time.Minute),
			Labels: labels(v1alpha1.SeverityCritical),
			Annotations: map[string]string{
				"summary":     "The runtime of " + who + " is not being scraped",
				"description": fmt.Sprintf("No series wattson_runtime_ready of %s has been scraped for 10 minutes: its pods (Deployment %s) are not running, or its ServiceMonitor does not reach port %s. Nothing runs suite %s meanwhile.", who, SuiteObjectName(s), v1alpha1.RuntimePortName, suite),
				"runbook_url": runbook + "wattsonruntimeabsent",
			},
		},
		monitoringv1.Rule{
			Alert: "WattsonRuntimeStale",
			Expr: intstr.FromString(fmt.Sprintf("time() - max by (%s) (wattson_runtime_last_complete_run_timestamp_seconds%s) > %d and max by (%s) (wattson_runtime_ready%s) == 1",
				by, sel, int64(staleAfter.Seconds()), by, sel)),
			For:    d(15 * time.Minute),
			Labels: labels(v1alpha1.SeverityWarning),
			Annotations: map[string]string{
				"summary":     who + " has no recent complete run",
				"description": fmt.Sprintf("The last complete run of %s ended {{ $value | humanizeDuration }} ago, more than 3 intervals plus the timeout (%s): runs hang or end in harness errors. Its results do not describe the system as it is now.", who, model.Duration(staleAfter)),
				"runbook_url": runbook + "wattsonruntimestale",
			},
		},
		monitoringv1.Rule{
			Alert:  "WattsonRuntimeStale",
			Expr:   intstr.FromString(fmt.Sprintf("max by (%s) (wattson_runtime_ready%s) == 0", by, sel)),
			For:    d(firstRun),
			Labels: labels(v1alpha1.SeverityWarning),
			Annotations: map[string]string{
				"summary":     who + " has not completed a run",
				"description": fmt.Sprintf("The runtime of %s has not completed a single run in %s (the timeout is %s).", who, model.Duration(firstRun), model.Duration(timeout)),
				"runbook_url": runbook + "wattsonruntimestale",
			},
		},
		monitoringv1.Rule{
			Alert:  "WattsonHarnessErrors",
			Expr:   intstr.FromString(fmt.Sprintf(`sum by (%s) (increase(wattson_runtime_runs_total{%s, result="error"}[30m])) > 1`, by, base)),
			Labels: labels(v1alpha1.SeverityWarning),
			Annotations: map[string]string{
				"summary":     "Runs of " + who + " end in harness errors",
				"description": fmt.Sprintf(`{{ $value | humanize }} runs of %s ended in a harness error in the last 30 minutes: the suite could not be run, so nothing was checked by them. status.lastRun.error says why.`, who),
				"runbook_url": runbook + "wattsonharnesserrors",
			},
		},
		monitoringv1.Rule{
			Alert: "WattsonSuiteShrank",
			Expr: intstr.FromString(fmt.Sprintf("max by (%s) (tests_run%s) < max by (%s) (max_over_time(tests_run%s[1d]))",
				by, sel, by, sel)),
			For:    d(5 * time.Minute),
			Labels: labels(v1alpha1.SeverityWarning),
			Annotations: map[string]string{
				"summary":     who + " runs fewer specs than it did",
				"description": fmt.Sprintf("The last complete run of %s ran {{ $value }} specs, fewer than the most in the last 24 hours. Specs were deleted, are skipped at run time, or spec.labelFilter drops them. If that was intended, silence this alert for a day.", who),
				"runbook_url": runbook + "wattsonsuiteshrank",
			},
		},
	)
	return []monitoringv1.RuleGroup{{Name: "wattson.suite." + s.Namespace + "." + s.Name, Rules: rules}}, nil
}

// specLabelRegexp matches a runtime's labels value (sorted Ginkgo labels joined with ",")
// that contains label; Prometheus anchors it.
func specLabelRegexp(label string) string {
	return "(.*,)?" + regexp.QuoteMeta(label) + "(,.*)?"
}

// SuitePrometheusRule renders the Suite's rules as a PrometheusRule.
func SuitePrometheusRule(s *v1alpha1.Suite) (*monitoringv1.PrometheusRule, error) {
	groups, err := SuiteRuleGroups(s)
	if err != nil {
		return nil, err
	}
	return &monitoringv1.PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: "PrometheusRule"},
		ObjectMeta: suiteMeta(s),
		Spec:       monitoringv1.PrometheusRuleSpec{Groups: groups},
	}, nil
}

// SuiteAlertRules renders the Suite's rules as a Prometheus rule file (promtool check rules).
func SuiteAlertRules(s *v1alpha1.Suite) ([]byte, error) {
	groups, err := SuiteRuleGroups(s)
	if err != nil {
		return nil, err
	}
	b, err := marshalYAML(struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}{groups})
	if err != nil {
		return nil, fmt.Errorf("rendering the rules of Suite %s/%s: %w", s.Namespace, s.Name, err)
	}
	return append([]byte(fmt.Sprintf("# Generated by the Wattson operator from Suite %s/%s; do not edit.\n", s.Namespace, s.Name)), b...), nil
}

// SuiteRulesConfigMap holds the rule file where prometheus-operator is absent; mount it into
// Prometheus and list it in rule_files.
func SuiteRulesConfigMap(s *v1alpha1.Suite) (*corev1.ConfigMap, error) {
	rules, err := SuiteAlertRules(s)
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: suiteMeta(s),
		Data:       map[string]string{SuiteRulesKey: string(rules)},
	}, nil
}
