package monitoring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
)

// The shipped progressive-delivery templates (monitoring/progressive-delivery).
const pdDir = "monitoring/progressive-delivery"

// TestProgressiveDeliveryDryRun applies every template and example of monitoring/progressive-delivery
// with a server-side dry run to a real kube-apiserver holding Argo Rollouts' and Flagger's own
// CRDs (from their modules, built by `make tools`): the apiserver validates them against the
// engines' schemas. A broken copy of a template must be refused, or the check checks nothing.
func TestProgressiveDeliveryDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	repo := root(t)
	argoCRDs := testenv.Binary(t, "argo-rollouts-crds")
	flaggerCRDs := testenv.Binary(t, "flagger-crds")
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{argoCRDs, flaggerCRDs}})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"wattson-system", "wattson-monitoring", "shop", "flagger"} {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion("v1")
		o.SetKind("Namespace")
		o.SetName(ns)
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(repo, pdDir, "*.yaml"))
	examples, _ := filepath.Glob(filepath.Join(repo, pdDir, "examples", "*.yaml"))
	files = append(files, examples...)
	if len(files) < 6 {
		t.Fatalf("found %d manifests in %s, want the templates and examples", len(files), pdDir)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		rel, _ := filepath.Rel(repo, f)
		for _, o := range decode(t, mustRead(t, f)) {
			if o.GetAPIVersion() == "kargo.akuity.io/v1alpha1" {
				t.Logf("%s: %s not validated (Kargo's CRDs are not built here)", rel, o.GetKind())
				continue
			}
			if o.GetNamespace() == "" && o.GetKind() != "ClusterAnalysisTemplate" {
				o.SetNamespace("wattson-system")
			}
			if err := c.Create(ctx, o, client.DryRunAll, client.FieldValidation("Strict")); err != nil {
				t.Errorf("%s: %s %s refused by the apiserver: %v", rel, o.GetKind(), o.GetName(), err)
				continue
			}
			kinds[o.GetKind()] = true
		}
	}
	for _, k := range []string{"AnalysisTemplate", "ClusterAnalysisTemplate", "MetricTemplate", "Rollout", "Canary", "NetworkPolicy"} {
		if !kinds[k] {
			t.Errorf("no %s validated", k)
		}
	}
	// The dry run validates: a wrong type and an unknown field are refused.
	for what, edit := range map[string]func(m map[string]any){
		`provider.prometheus.timeout "twenty"`: func(m map[string]any) {
			_ = unstructured.SetNestedField(m, "twenty", "provider", "prometheus", "timeout")
		},
		"provider.prometheus.adress (a typo)": func(m map[string]any) {
			_ = unstructured.SetNestedField(m, "http://x", "provider", "prometheus", "adress")
		},
	} {
		bad := decode(t, mustRead(t, filepath.Join(repo, pdDir, "analysis-template.yaml")))[0]
		metrics, _, _ := unstructured.NestedSlice(bad.Object, "spec", "metrics")
		edit(metrics[0].(map[string]any))
		_ = unstructured.SetNestedSlice(bad.Object, metrics, "spec", "metrics")
		bad.SetNamespace("wattson-system")
		if err := c.Create(ctx, bad, client.DryRunAll, client.FieldValidation("Strict")); err == nil {
			t.Errorf("an AnalysisTemplate with %s was accepted: the dry run does not validate", what)
		}
	}
}

// TestClusterAnalysisTemplateIsTheAnalysisTemplate: the two kinds carry one spec.
func TestClusterAnalysisTemplateIsTheAnalysisTemplate(t *testing.T) {
	repo := root(t)
	a := decode(t, mustRead(t, filepath.Join(repo, pdDir, "analysis-template.yaml")))[0]
	c := decode(t, mustRead(t, filepath.Join(repo, pdDir, "cluster-analysis-template.yaml")))[0]
	if !reflect.DeepEqual(a.Object["spec"], c.Object["spec"]) || a.GetName() != c.GetName() {
		t.Error("cluster-analysis-template.yaml differs from analysis-template.yaml: keep their name and spec identical")
	}
}

// pdScenario is one runtime as Prometheus scrapes it, and what each engine must decide.
type pdScenario struct {
	name      string
	namespace string
	suite     string
	// argo is the phase of one Argo Rollouts measurement of wattson-suite-green; flagger whether
	// Flagger's check passes.
	argo    string
	flagger bool
}

// TestProgressiveDeliveryVerdicts runs the templates' queries with the engines' own code
// (bin/argo-measure: Argo Rollouts' provider factory, Prometheus provider and condition
// evaluation; bin/flagger-check: Flagger's query rendering, Prometheus provider and thresholdRange
// check) against a real Prometheus scraping real wattson-runtime processes: a passing suite
// (green), a failing one (red), a runtime whose last complete run is older than the allowed age
// (stale), one that has not completed a run (not ready), a fleet whose second replica exports no
// spec series, a target that is down (absent) and a target exporting NaN. Only green may pass;
// red must fail; anything unknown must be inconclusive (Argo) or a failed check (Flagger).
func TestProgressiveDeliveryVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and wattson-runtime processes")
	}
	repo := root(t)
	argo := testenv.Binary(t, "argo-measure")
	flagger := testenv.Binary(t, "flagger-check")
	testenv.Binary(t, "prometheus")
	bins := t.TempDir()
	build := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	runtimeBin := filepath.Join(bins, "wattson-runtime")
	build("build", "-o", runtimeBin, "./runtime")
	for _, s := range []string{"passing", "failing", "hanging"} {
		build("test", "-c", "-o", filepath.Join(bins, s+".test"), "./runtime/testdata/suites/"+s)
	}
	// startRuntime runs the real runtime on a suite and returns its address.
	startRuntime := func(suite, interval string) string {
		t.Helper()
		addr, err := procs.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(runtimeBin, "--specs.binary="+filepath.Join(bins, suite+".test"), "--specs.suite=checkout",
			"--specs.interval="+interval, "--specs.timeout=1h", "--web.listen-address="+addr)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("runtime on %s suite:\n%s", suite, tailLines(out.String(), 20))
			}
		})
		return addr
	}
	// A runtime that ran once and not since (an hour's interval): stale once maxAge has passed.
	const maxAge = 12 // seconds
	staleStart := time.Now()
	stale := startRuntime("passing", "1h")
	green := startRuntime("passing", "1s")
	red := startRuntime("failing", "1s")
	notReady := startRuntime("hanging", "1s")
	fleetLeader := startRuntime("passing", "1s")
	// A fleet's other replica: readiness and times from the shared history, no spec series.
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := float64(time.Now().UnixNano()) / 1e9
		fmt.Fprintf(w, "wattson_runtime_ready 1\nwattson_runtime_last_complete_run_timestamp_seconds %f\n", now)
	}))
	defer follower.Close()
	// NaN: nothing the runtime exports, but a value no engine may read as green.
	nan := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := float64(time.Now().UnixNano()) / 1e9
		fmt.Fprintf(w, "wattson_runtime_ready 1\nwattson_runtime_last_complete_run_timestamp_seconds %f\n"+
			"wattson_spec_passing{suite=\"checkout\",spec=\"a\",labels=\"\"} NaN\n", now)
	}))
	defer nan.Close()
	// Down: a free port nothing listens on.
	down, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	cfg.WriteString("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n")
	job := func(name, namespace string, targets ...string) {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: [%s]\n        labels: {namespace: %s}\n",
			name, strings.Join(targets, ", "), namespace)
	}
	job("wattson-suite-green", "team-green", green)
	job("wattson-suite-red", "team-red", red)
	job("wattson-suite-stale", "team-stale", stale)
	job("wattson-suite-notready", "team-notready", notReady)
	job("wattson-suite-fleet", "team-fleet", fleetLeader, strings.TrimPrefix(follower.URL, "http://"))
	job("wattson-suite-down", "team-down", down)
	job("wattson-suite-nan", "team-nan", strings.TrimPrefix(nan.URL, "http://"))
	prom := testenv.Prometheus(t, cfg.String(), nil)

	// Every runtime has been scraped after its first complete run (the hanging one: after start),
	// and the stale one's run is older than maxAge.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ready := queryValue(t, prom.URL, `count(wattson_runtime_ready == 1)`) // green, red, stale, fleet (2), nan
		notReady := queryValue(t, prom.URL, `count(wattson_runtime_ready{namespace="team-notready"} == 0)`)
		if ready == 6 && notReady == 1 && time.Since(staleStart) > (maxAge+3)*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes %v targets are scraped ready (want 6) and %v not ready (want 1)", ready, notReady)
		}
		time.Sleep(500 * time.Millisecond)
	}

	scenarios := []pdScenario{
		{"green", "team-green", "checkout", "Successful", true},
		{"red", "team-red", "checkout", "Failed", false},
		{"stale", "team-stale", "checkout", "Inconclusive", false},
		{"not ready", "team-notready", "checkout", "Inconclusive", false},
		{"fleet", "team-fleet", "checkout", "Successful", true},
		{"absent (target down)", "team-down", "checkout", "Inconclusive", false},
		{"NaN", "team-nan", "checkout", "Inconclusive", false},
		{"another suite", "team-green", "payments", "Inconclusive", false},
		{"another namespace", "team-other", "checkout", "Inconclusive", false},
	}
	canary := decode(t, mustRead(t, filepath.Join(repo, pdDir, "examples", "canary.yaml")))[0]
	cm, _, _ := unstructured.NestedSlice(canary.Object, "spec", "analysis", "metrics")
	minV, okMin, _ := unstructured.NestedFieldNoCopy(cm[0].(map[string]any), "thresholdRange", "min")
	if !okMin {
		t.Fatal("examples/canary.yaml has no thresholdRange.min")
	}
	for _, tmpl := range []string{"analysis-template.yaml", "cluster-analysis-template.yaml"} {
		for _, s := range scenarios {
			t.Run("argo/"+tmpl+"/"+s.name, func(t *testing.T) {
				got := argoMeasure(t, argo, filepath.Join(repo, pdDir, tmpl), "namespace="+s.namespace, "suite="+s.suite,
					fmt.Sprintf("max-age-seconds=%d", maxAge), "prometheus-address="+prom.URL)
				if got.Phase != s.argo {
					t.Errorf("Argo Rollouts measures %s (value %q, %s), want %s", got.Phase, got.Value, got.Message, s.argo)
				}
			})
		}
	}
	for _, s := range scenarios {
		t.Run("flagger/"+s.name, func(t *testing.T) {
			got := flaggerCheck(t, flagger, filepath.Join(repo, pdDir, "metric-template.yaml"), prom.URL, fmt.Sprint(minV),
				"namespace="+s.namespace, "suite="+s.suite, fmt.Sprintf("maxAgeSeconds=%d", maxAge))
			if got.Passed != s.flagger {
				t.Errorf("Flagger's check passed=%v (value %s, error %q), want %v", got.Passed, got.value(), got.Error, s.flagger)
			}
		})
	}
	// Prometheus itself unreachable: an error for Argo (consecutiveErrorLimit then fails the
	// analysis), a failed check for Flagger.
	t.Run("prometheus unreachable", func(t *testing.T) {
		a := argoMeasure(t, argo, filepath.Join(repo, pdDir, "analysis-template.yaml"), "namespace=team-green", "suite=checkout",
			"prometheus-address=http://"+down)
		if a.Phase != "Error" {
			t.Errorf("Argo Rollouts measures %s, want Error", a.Phase)
		}
		if f := flaggerCheck(t, flagger, filepath.Join(repo, pdDir, "metric-template.yaml"), "http://"+down, "1",
			"namespace=team-green", "suite=checkout"); f.Passed {
			t.Error("Flagger's check passed with Prometheus unreachable")
		}
	})
	// The spec-labels filter: the failing suite's failing spec is labelled pdu.
	t.Run("argo/spec-labels", func(t *testing.T) {
		for labels, want := range map[string]string{"(.*,)?pdu(,.*)?": "Failed", "(.*,)?nothing(,.*)?": "Inconclusive"} {
			got := argoMeasure(t, argo, filepath.Join(repo, pdDir, "analysis-template.yaml"), "namespace=team-red", "suite=checkout",
				"spec-labels="+labels, "prometheus-address="+prom.URL)
			if got.Phase != want {
				t.Errorf("spec-labels %s: %s, want %s", labels, got.Phase, want)
			}
		}
	})
	// Flagger's defaults: namespace is the Canary's, maxAgeSeconds 300; suite is required.
	t.Run("flagger/defaults", func(t *testing.T) {
		got := flaggerCheck(t, flagger, filepath.Join(repo, pdDir, "metric-template.yaml"), prom.URL, "1", "--namespace=team-green", "suite=checkout")
		if !got.Passed || !strings.Contains(got.Query, `namespace="team-green"`) || !strings.Contains(got.Query, "< 300") {
			t.Errorf("with the Canary's namespace and default age: passed=%v error %q query %s", got.Passed, got.Error, got.Query)
		}
		got = flaggerCheck(t, flagger, filepath.Join(repo, pdDir, "metric-template.yaml"), prom.URL, "1", "namespace=team-green")
		if got.Passed {
			t.Error("without templateVariables.suite the check passed")
		}
	})
	// The verdict endpoint (web provider): green after two passed runs, red, unknown before any
	// run, and an error when the runtime does not answer.
	for _, c := range []struct {
		name, addr, want string
	}{
		{"green", green, "Successful"},
		{"red", red, "Failed"},
		{"no run yet", notReady, "Inconclusive"},
		{"unreachable", down, "Error"},
	} {
		t.Run("argo/analysis-template-verdict.yaml/"+c.name, func(t *testing.T) {
			got := argoMeasure(t, argo, filepath.Join(repo, pdDir, "analysis-template-verdict.yaml"), "runtime-url=http://"+c.addr, "suite=checkout")
			if got.Phase != c.want {
				t.Errorf("Argo Rollouts measures %s (value %q, %s), want %s", got.Phase, got.Value, got.Message, c.want)
			}
		})
	}
}

type argoResult struct {
	Metric, Phase, Value, Message string
}

// argoMeasure runs bin/argo-measure on a template with args name=value and returns the one
// measurement.
func argoMeasure(t *testing.T, bin, template string, args ...string) argoResult {
	t.Helper()
	cmdArgs := []string{"--template", template}
	for _, a := range args {
		cmdArgs = append(cmdArgs, "--arg", a)
	}
	out, err := exec.Command(bin, cmdArgs...).Output()
	if err != nil {
		t.Fatalf("argo-measure %s: %v\n%s", strings.Join(cmdArgs, " "), err, stderrOf(err))
	}
	var r argoResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		t.Fatalf("argo-measure printed %q: %v", out, err)
	}
	return r
}

type flaggerResult struct {
	Passed bool
	Value  *float64
	Error  string
	Query  string
}

func (r flaggerResult) value() string {
	if r.Value == nil {
		return "none"
	}
	return fmt.Sprint(*r.Value)
}

// flaggerCheck runs bin/flagger-check: template variables name=value, or --flags as they are.
func flaggerCheck(t *testing.T, bin, template, address, min string, vars ...string) flaggerResult {
	t.Helper()
	cmdArgs := []string{"--template", template, "--address", address, "--min", min}
	for _, v := range vars {
		if strings.HasPrefix(v, "--") {
			cmdArgs = append(cmdArgs, v)
			continue
		}
		cmdArgs = append(cmdArgs, "--var", v)
	}
	out, err := exec.Command(bin, cmdArgs...).Output()
	if err != nil {
		// A render error is Flagger halting too: rendering is part of its check.
		return flaggerResult{Error: fmt.Sprintf("%v: %s", err, stderrOf(err))}
	}
	var r flaggerResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		t.Fatalf("flagger-check printed %q: %v", out, err)
	}
	return r
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// queryValue is the single value of an instant query.
func queryValue(t *testing.T, base, expr string) float64 {
	t.Helper()
	b := httpGet(t, base+"/api/v1/query?query="+url.QueryEscape(expr))
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(b), &r); err != nil || len(r.Data.Result) != 1 {
		return -1
	}
	var v float64
	if _, err := fmt.Sscan(r.Data.Result[0].Value[1].(string), &v); err != nil {
		return -1
	}
	return v
}
