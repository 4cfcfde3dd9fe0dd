// Command argo-measure takes one measurement of every metric of an Argo Rollouts AnalysisTemplate
// or ClusterAnalysisTemplate with Argo Rollouts' own code, as its analysis controller takes one:
// the template's args resolved as an AnalysisRun resolves them (defaults, then --arg), the
// metrics validated, the metric's provider built by Argo Rollouts' provider factory and run, and
// its result evaluated against successCondition and failureCondition. It prints one JSON line per
// metric: {"metric", "phase", "value", "message"}. Wattson's tests use it to assert the phase Argo
// Rollouts gives a measurement of the shipped templates on real series, without running the
// controller (whose metrics and health servers bind every address) on the host.
//
// It is built by hack/tools.sh in the argo-rollouts wrapper module, so the root module never
// needs Argo Rollouts' dependencies.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	log "github.com/sirupsen/logrus"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-rollouts/metricproviders"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
)

type argFlags map[string]string

func (a argFlags) String() string { return fmt.Sprint(map[string]string(a)) }

func (a argFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q is not name=value", s)
	}
	a[k] = v
	return nil
}

type result struct {
	Metric  string `json:"metric"`
	Phase   string `json:"phase"`
	Value   string `json:"value"`
	Message string `json:"message,omitempty"`
}

func main() {
	args := argFlags{}
	file := flag.String("template", "", "AnalysisTemplate or ClusterAnalysisTemplate YAML file (one object)")
	flag.Var(args, "arg", "name=value for one of the template's args; repeat for several")
	flag.Parse()
	if err := run(*file, args); err != nil {
		fmt.Fprintln(os.Stderr, "argo-measure:", err)
		os.Exit(1)
	}
}

func run(file string, given argFlags) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	// Both kinds share AnalysisTemplateSpec.
	var tmpl struct {
		APIVersion string                        `json:"apiVersion"`
		Kind       string                        `json:"kind"`
		Metadata   map[string]any                `json:"metadata"`
		Spec       v1alpha1.AnalysisTemplateSpec `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(b, &tmpl); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if tmpl.Kind != "AnalysisTemplate" && tmpl.Kind != "ClusterAnalysisTemplate" {
		return fmt.Errorf("%s: kind %q is not AnalysisTemplate or ClusterAnalysisTemplate", file, tmpl.Kind)
	}
	known := map[string]bool{}
	var resolved []v1alpha1.Argument
	for _, a := range tmpl.Spec.Args {
		known[a.Name] = true
		if v, ok := given[a.Name]; ok {
			a.Value = &v
		}
		resolved = append(resolved, a)
	}
	for k := range given {
		if !known[k] {
			return fmt.Errorf("--arg %s: the template has no such arg", k)
		}
	}
	// As the analysis controller: args resolved into the metrics, then the metrics validated.
	var metrics []v1alpha1.Metric
	for _, m := range tmpl.Spec.Metrics {
		metric, err := analysisutil.ResolveMetricArgs(m, resolved)
		if err != nil {
			return fmt.Errorf("metric %s: %w", m.Name, err)
		}
		metrics = append(metrics, *metric)
	}
	if err := analysisutil.ValidateMetrics(metrics); err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	for _, m := range metrics {
		metric := &m
		factory := metricproviders.ProviderFactory{}
		logger := log.New()
		logger.SetOutput(os.Stderr)
		p, err := factory.NewProvider(*log.NewEntry(logger), "default", *metric)
		if err != nil {
			return fmt.Errorf("metric %s: provider: %w", m.Name, err)
		}
		meas := p.Run(&v1alpha1.AnalysisRun{}, *metric)
		if err := out.Encode(result{Metric: m.Name, Phase: string(meas.Phase), Value: meas.Value, Message: meas.Message}); err != nil {
			return err
		}
	}
	return nil
}
