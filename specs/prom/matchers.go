package prom

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/onsi/gomega"
	"github.com/onsi/gomega/format"
	"github.com/onsi/gomega/types"
)

// maxShown bounds how many series a failure message lists.
const maxShown = 20

// GomegaString renders the vector as Prometheus' console does, one series a line.
func (v Vector) GomegaString() string {
	var b strings.Builder
	fmt.Fprintf(&b, "query %s returned %d series", v.Query, len(v.Samples))
	writeWarnings(&b, v.Warnings)
	for i, s := range v.Samples {
		if i == maxShown {
			fmt.Fprintf(&b, "\n  ... and %d more", len(v.Samples)-maxShown)
			break
		}
		fmt.Fprintf(&b, "\n  %s => %g @ %s", s.Metric, s.Value, s.Time.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// GomegaString renders the matrix one series a line with its first and last points.
func (m Matrix) GomegaString() string {
	var b strings.Builder
	fmt.Fprintf(&b, "query %s returned %d series", m.Query, len(m.Series))
	writeWarnings(&b, m.Warnings)
	for i, s := range m.Series {
		if i == maxShown {
			fmt.Fprintf(&b, "\n  ... and %d more", len(m.Series)-maxShown)
			break
		}
		fmt.Fprintf(&b, "\n  %s: %d points", s.Metric, len(s.Points))
		if n := len(s.Points); n > 0 {
			fmt.Fprintf(&b, " from %g @ %s to %g @ %s", s.Points[0].Value, s.Points[0].Time.UTC().Format(time.RFC3339),
				s.Points[n-1].Value, s.Points[n-1].Time.UTC().Format(time.RFC3339))
		}
	}
	return b.String()
}

// writeWarnings adds Prometheus' warnings (a partial answer, say) to a failure message.
func writeWarnings(b *strings.Builder, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(b, "\n  warning: %s", w)
	}
}

func asVector(actual any) (Vector, error) {
	switch v := actual.(type) {
	case Vector:
		return v, nil
	case *Vector:
		return *v, nil
	}
	return Vector{}, fmt.Errorf("prom matcher expects a prom.Vector (from prom.Query), got %T", actual)
}

func asMatrix(actual any) (Matrix, error) {
	switch m := actual.(type) {
	case Matrix:
		return m, nil
	case *Matrix:
		return *m, nil
	}
	return Matrix{}, fmt.Errorf("prom matcher expects a prom.Matrix (from prom.QueryMatrix), got %T", actual)
}

func describe(ms []types.GomegaMatcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		// Gomega matchers have no description; their type and fields read well enough:
		// BeNumericallyMatcher{Comparator:~ CompareTo:[1170 5]}.
		parts[i] = strings.TrimPrefix(fmt.Sprintf("%T", m), "*matchers.") + strings.TrimPrefix(fmt.Sprintf("%+v", m), "&")
	}
	return strings.Join(parts, ", ")
}

// HaveSeries succeeds when the vector has a series with every label in subset whose value
// satisfies every value matcher, e.g.
//
//	prom.HaveSeries(prom.Labels{"pdu": "rack-a01-pdu1", "scope": "device"}, BeNumerically(">", 0))
func HaveSeries(subset Labels, value ...types.GomegaMatcher) types.GomegaMatcher {
	return &haveSeries{subset: subset, value: value}
}

type haveSeries struct {
	subset Labels
	value  []types.GomegaMatcher
	// why explains the last failure.
	why string
}

func (m *haveSeries) Match(actual any) (bool, error) {
	v, err := asVector(actual)
	if err != nil {
		return false, err
	}
	var labelled []Sample
	for _, s := range v.Samples {
		if s.Metric.Has(m.subset) {
			labelled = append(labelled, s)
		}
	}
	if len(labelled) == 0 {
		m.why = fmt.Sprintf("no series has the labels %s", m.subset)
		return false, nil
	}
	var reasons []string
	for _, s := range labelled {
		ok := true
		for _, vm := range m.value {
			good, err := vm.Match(s.Value)
			if err != nil {
				return false, err
			}
			if !good {
				ok = false
				reasons = append(reasons, fmt.Sprintf("%s => %g: %s", s.Metric, s.Value, oneLine(vm.FailureMessage(s.Value))))
				break
			}
		}
		if ok {
			return true, nil
		}
	}
	if len(reasons) > maxShown {
		reasons = append(reasons[:maxShown], fmt.Sprintf("... and %d more", len(reasons)-maxShown))
	}
	m.why = fmt.Sprintf("%d series have the labels %s but no value matches:\n  %s", len(labelled), m.subset, strings.Join(reasons, "\n  "))
	return false, nil
}

func (m *haveSeries) FailureMessage(actual any) string {
	return fmt.Sprintf("Expected a series with labels %s%s: %s\n%s", m.subset, valueSuffix(m.value), m.why, format.Object(actual, 1))
}

func (m *haveSeries) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("Expected no series with labels %s%s\n%s", m.subset, valueSuffix(m.value), format.Object(actual, 1))
}

func valueSuffix(ms []types.GomegaMatcher) string {
	if len(ms) == 0 {
		return ""
	}
	return " and a value satisfying " + describe(ms)
}

// oneLine folds a matcher's multi-line failure message.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// HaveNoSeries succeeds when the query returned nothing (alerts not firing, absent series).
func HaveNoSeries() types.GomegaMatcher { return &haveNoSeries{} }

type haveNoSeries struct{}

func (m *haveNoSeries) Match(actual any) (bool, error) {
	v, err := asVector(actual)
	if err != nil {
		return false, err
	}
	return len(v.Samples) == 0, nil
}

func (m *haveNoSeries) FailureMessage(actual any) string {
	return "Expected no series:\n" + format.Object(actual, 1)
}

func (m *haveNoSeries) NegatedFailureMessage(actual any) string {
	return "Expected at least one series:\n" + format.Object(actual, 1)
}

// EverySeries succeeds when the vector is not empty and every value satisfies value. An empty
// result fails: a check that nothing contradicts is no check when nothing is there.
func EverySeries(value types.GomegaMatcher) types.GomegaMatcher { return &everySeries{value: value} }

type everySeries struct {
	value types.GomegaMatcher
	why   string
}

func (m *everySeries) Match(actual any) (bool, error) {
	v, err := asVector(actual)
	if err != nil {
		return false, err
	}
	if len(v.Samples) == 0 {
		m.why = "the query returned no series"
		return false, nil
	}
	var bad []string
	for _, s := range v.Samples {
		ok, err := m.value.Match(s.Value)
		if err != nil {
			return false, err
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("%s => %g: %s", s.Metric, s.Value, oneLine(m.value.FailureMessage(s.Value))))
		}
	}
	if len(bad) == 0 {
		return true, nil
	}
	if len(bad) > maxShown {
		bad = append(bad[:maxShown], fmt.Sprintf("... and %d more", len(bad)-maxShown))
	}
	m.why = fmt.Sprintf("%d of %d series fail:\n  %s", len(bad), len(v.Samples), strings.Join(bad, "\n  "))
	return false, nil
}

func (m *everySeries) FailureMessage(actual any) string {
	v, _ := asVector(actual)
	return fmt.Sprintf("Expected every series of query %s to satisfy %s: %s", v.Query, describe([]types.GomegaMatcher{m.value}), m.why)
}

func (m *everySeries) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("Expected some series not to satisfy %s\n%s", describe([]types.GomegaMatcher{m.value}), format.Object(actual, 1))
}

// BeNonDecreasing succeeds when the matrix has at least one series and no series ever goes down:
// what an energy counter must do between resets.
func BeNonDecreasing() types.GomegaMatcher { return &nonDecreasing{} }

type nonDecreasing struct{ why string }

func (m *nonDecreasing) Match(actual any) (bool, error) {
	mx, err := asMatrix(actual)
	if err != nil {
		return false, err
	}
	if len(mx.Series) == 0 {
		m.why = "the query returned no series"
		return false, nil
	}
	var bad []string
	for _, s := range mx.Series {
		for i := 1; i < len(s.Points); i++ {
			if p, q := s.Points[i-1], s.Points[i]; q.Value < p.Value {
				bad = append(bad, fmt.Sprintf("%s went down from %g @ %s to %g @ %s", s.Metric, p.Value,
					p.Time.UTC().Format(time.RFC3339), q.Value, q.Time.UTC().Format(time.RFC3339)))
				break
			}
		}
	}
	if len(bad) == 0 {
		return true, nil
	}
	m.why = strings.Join(bad, "\n  ")
	return false, nil
}

func (m *nonDecreasing) FailureMessage(actual any) string {
	mx, _ := asMatrix(actual)
	return fmt.Sprintf("Expected every series of query %s never to decrease:\n  %s", mx.Query, m.why)
}

func (m *nonDecreasing) NegatedFailureMessage(actual any) string {
	return "Expected some series to decrease\n" + format.Object(actual, 1)
}

// HaveRuleGroup succeeds on a []RuleGroup holding a group named name whose rules have all been
// evaluated without error (health "ok"; a group loaded a moment ago is not yet).
func HaveRuleGroup(name string) types.GomegaMatcher { return &haveRuleGroup{name: name} }

type haveRuleGroup struct{ name, why string }

func (m *haveRuleGroup) Match(actual any) (bool, error) {
	groups, ok := actual.([]RuleGroup)
	if !ok {
		return false, fmt.Errorf("HaveRuleGroup expects []prom.RuleGroup (from prom.Rules), got %T", actual)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
		if g.Name != m.name {
			continue
		}
		var bad []string
		for _, r := range g.Rules {
			switch r.Health {
			case "ok":
			case "err":
				bad = append(bad, fmt.Sprintf("%s %s: %s", r.Type, r.Name, r.LastError))
			default:
				bad = append(bad, fmt.Sprintf("%s %s: not evaluated yet (health %q)", r.Type, r.Name, r.Health))
			}
		}
		if len(g.Rules) == 0 {
			m.why = "it has no rules"
			return false, nil
		}
		if len(bad) > 0 {
			m.why = "rules fail to evaluate:\n  " + strings.Join(bad, "\n  ")
			return false, nil
		}
		return true, nil
	}
	m.why = fmt.Sprintf("it is not loaded; loaded groups: [%s]", strings.Join(names, ", "))
	return false, nil
}

func (m *haveRuleGroup) FailureMessage(any) string {
	return fmt.Sprintf("Expected Prometheus to have rule group %q evaluating cleanly: %s", m.name, m.why)
}

func (m *haveRuleGroup) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected Prometheus not to have rule group %q", m.name)
}

// Rules returns a function for Eventually that lists the default client's rule groups.
func Rules() func(context.Context) ([]RuleGroup, error) {
	return func(ctx context.Context) ([]RuleGroup, error) {
		c := Default()
		if c == nil {
			return nil, errNoDefault()
		}
		return c.Rules(ctx)
	}
}

// HaveAlertingRule succeeds on a []RuleGroup holding an alerting rule named name that does not
// fail to evaluate. A fault spec checks it before breaking anything: without the rule, its alert
// cannot fire, and saying so at once beats waiting out the alert timeout.
func HaveAlertingRule(name string) types.GomegaMatcher { return &haveAlertingRule{name: name} }

type haveAlertingRule struct{ name, why string }

func (m *haveAlertingRule) Match(actual any) (bool, error) {
	groups, ok := actual.([]RuleGroup)
	if !ok {
		return false, fmt.Errorf("HaveAlertingRule expects []prom.RuleGroup (from prom.Rules), got %T", actual)
	}
	var names []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Type != "alerting" {
				continue
			}
			names = append(names, r.Name)
			if r.Name != m.name {
				continue
			}
			if r.Health == "err" {
				m.why = fmt.Sprintf("it fails to evaluate (group %s, file %s): %s", g.Name, g.File, r.LastError)
				return false, nil
			}
			return true, nil
		}
	}
	m.why = fmt.Sprintf("no such rule is loaded; loaded alerting rules: [%s]", strings.Join(names, ", "))
	return false, nil
}

func (m *haveAlertingRule) FailureMessage(any) string {
	return fmt.Sprintf("Expected Prometheus to have alerting rule %s: %s", m.name, m.why)
}

func (m *haveAlertingRule) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected Prometheus not to have alerting rule %s", m.name)
}

// Lookback wraps a matcher for a query over a look-back window (max_over_time(x[10m]), a
// counter's history), for Eventually(...).Should: Eventually retries while the query returns no
// series, but once it does, the first verdict is final. A failure lies in the window's past,
// which retrying for seconds cannot change; retrying would only add the Eventually timeout to
// every run for as long as the failure stays in the window, and delay the verdicts of every
// later spec, and their alerts.
func Lookback(m types.GomegaMatcher) types.GomegaMatcher { return &lookback{GomegaMatcher: m} }

type lookback struct{ types.GomegaMatcher }

func (m *lookback) Match(actual any) (bool, error) {
	ok, err := m.GomegaMatcher.Match(actual)
	if err != nil || ok {
		return ok, err
	}
	switch a := actual.(type) {
	case Vector:
		if len(a.Samples) == 0 {
			return false, nil
		}
	case Matrix:
		if len(a.Series) == 0 {
			return false, nil
		}
	default:
		return false, fmt.Errorf("Lookback expects a prom.Vector or prom.Matrix, got %T", actual)
	}
	// Gomega's way for a matcher to end Eventually at once (an oracle matcher is not asked when
	// Eventually polls a function).
	return false, gomega.StopTrying(m.GomegaMatcher.FailureMessage(actual))
}
