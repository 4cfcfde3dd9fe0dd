// Command flagger-check runs one metric check of a Flagger MetricTemplate as Flagger's canary
// controller runs it (pkg/controller/scheduler_metrics.go, runMetricChecks): the query rendered by
// Flagger's own observers.RenderQuery with the canary's model and templateVariables, run by
// Flagger's own Prometheus provider (which fails with ErrNoValuesFound on no data or NaN), and
// the value checked against the canary metric's thresholdRange. It prints one JSON line:
// {"passed", "value", "error"}; "passed" false is Flagger halting the canary's advancement (a
// failed check). Wattson's tests use it to assert what Flagger decides on real series.
//
// It is built by hack/tools.sh in the flagger wrapper module, so the root module never needs
// Flagger's dependencies.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"github.com/fluxcd/flagger/pkg/metrics/observers"
	"github.com/fluxcd/flagger/pkg/metrics/providers"
)

type varFlags map[string]string

func (a varFlags) String() string { return fmt.Sprint(map[string]string(a)) }

func (a varFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q is not name=value", s)
	}
	a[k] = v
	return nil
}

type result struct {
	Passed bool     `json:"passed"`
	Value  *float64 `json:"value,omitempty"`
	Error  string   `json:"error,omitempty"`
	Query  string   `json:"query"`
}

func main() {
	vars := varFlags{}
	file := flag.String("template", "", "MetricTemplate YAML file (one object)")
	address := flag.String("address", "", "override the template's provider address (the in-cluster name does not resolve outside)")
	namespace := flag.String("namespace", "default", "the Canary's namespace ({{ namespace }})")
	target := flag.String("target", "podinfo", "the Canary's targetRef name ({{ target }})")
	interval := flag.String("interval", "1m", "the canary metric's interval ({{ interval }})")
	min := flag.Float64("min", math.NaN(), "thresholdRange.min of the canary metric (NaN: none)")
	max := flag.Float64("max", math.NaN(), "thresholdRange.max of the canary metric (NaN: none)")
	flag.Var(vars, "var", "name=value of the canary metric's templateVariables; repeat for several")
	flag.Parse()
	r, err := check(*file, *address, flaggerv1.MetricTemplateModel{Name: *target, Namespace: *namespace, Target: *target,
		Service: *target, Ingress: *target, Interval: *interval, Variables: vars}, *min, *max)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flagger-check:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

func check(file, address string, model flaggerv1.MetricTemplateModel, min, max float64) (result, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return result{}, err
	}
	var tmpl flaggerv1.MetricTemplate
	if err := yaml.UnmarshalStrict(b, &tmpl); err != nil {
		return result{}, fmt.Errorf("%s: %w", file, err)
	}
	if tmpl.Kind != "MetricTemplate" {
		return result{}, fmt.Errorf("%s: kind %q is not MetricTemplate", file, tmpl.Kind)
	}
	if address != "" {
		tmpl.Spec.Provider.Address = address
	}
	// As runMetricChecks: the provider from the template (no secret), the query rendered.
	provider, err := (&providers.Factory{}).Provider(model.Interval, tmpl.Spec.Provider, nil, nil)
	if err != nil {
		return result{}, fmt.Errorf("provider %s: %w", tmpl.Spec.Provider.Type, err)
	}
	query, err := observers.RenderQuery(tmpl.Spec.Query, model)
	if err != nil {
		return result{}, fmt.Errorf("query render: %w", err)
	}
	r := result{Query: query}
	val, err := provider.RunQuery(query)
	if err != nil {
		// Halt advancement: "no values found" (a warning) or "metric query failed" (an error).
		r.Error = err.Error()
		if errors.Is(err, providers.ErrNoValuesFound) {
			r.Error = "no values found: " + r.Error
		}
		return r, nil
	}
	r.Value = &val
	// runMetricChecks' thresholdRange check, line for line.
	if !math.IsNaN(min) && val < min {
		return r, nil
	}
	if !math.IsNaN(max) && val > max {
		return r, nil
	}
	r.Passed = true
	return r, nil
}
