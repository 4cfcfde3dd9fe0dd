package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
)

const chartDir = "charts/wattson"

func repoRoot(t testing.TB) string {
	t.Helper()
	r, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// command runs a tool and returns its stdout; the error carries stderr.
func command(ctx context.Context, dir string, env []string, stdin io.Reader, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.Bytes(), nil
}

func decode(t testing.TB, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decode YAML: %v\n%s", err, data)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// helmTemplate renders the chart as `helm template wattson charts/wattson` with the given flags.
func helmTemplate(t testing.TB, repo, chart string, args ...string) ([]byte, error) {
	t.Helper()
	helm := testenv.Binary(t, "helm")
	// An empty HOME: no user's repositories or plugins; nothing is fetched.
	home := t.TempDir()
	env := []string{"HELM_CACHE_HOME=" + home, "HELM_CONFIG_HOME=" + home, "HELM_DATA_HOME=" + home}
	return command(context.Background(), repo, env, nil, helm, append([]string{"template", "wattson", chart}, args...)...)
}

func mustTemplate(t testing.TB, repo string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplate(t, repo, chartDir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

func objKey(o *unstructured.Unstructured) string {
	gv := o.GroupVersionKind()
	n := o.GetName()
	if o.GetNamespace() != "" {
		n = o.GetNamespace() + "/" + n
	}
	return gv.Group + " " + gv.Kind + " " + n
}

// helmLabels are the labels the chart adds to every object (templates/_helpers.tpl).
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/instance"}

// withoutHelmLabels returns the objects by key, with Helm's labels removed.
func withoutHelmLabels(t testing.TB, objs []*unstructured.Unstructured) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, o := range objs {
		o = o.DeepCopy()
		labels := o.GetLabels()
		for _, l := range helmLabels {
			// crds/ is plain YAML, not templated.
			if _, ok := labels[l]; !ok && o.GetKind() != "CustomResourceDefinition" {
				t.Errorf("%s lacks Helm's label %s", objKey(o), l)
			}
			delete(labels, l)
		}
		if len(labels) == 0 {
			unstructured.RemoveNestedField(o.Object, "metadata", "labels")
		} else {
			o.SetLabels(labels)
		}
		if _, dup := out[objKey(o)]; dup {
			t.Errorf("%s rendered twice", objKey(o))
		}
		out[objKey(o)] = o.Object
	}
	return out
}

// decodedSecrets: a Secret's data compared as bytes (kustomize wraps base64 in lines, b64enc
// does not; the apiserver decodes both the same).
func decodedSecrets(o map[string]any) map[string]any {
	data, ok := o["data"].(map[string]any)
	if o["kind"] != "Secret" || !ok {
		return o
	}
	c := maps.Clone(o)
	d := map[string]any{}
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(fmt.Sprint(v))
		if err != nil {
			d[k] = fmt.Sprintf("undecodable %q: %v", v, err)
			continue
		}
		d[k] = string(b)
	}
	c["data"] = d
	return c
}

// renderDiff lists how the chart's objects differ from the kustomize install's.
func renderDiff(kustomize, chart map[string]map[string]any) []string {
	var diffs []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range kustomize {
			if !yield(k) {
				return
			}
		}
	}) {
		c, ok := chart[k]
		if !ok {
			diffs = append(diffs, k+": in the kustomize install, not in the chart")
			continue
		}
		if d := cmp.Diff(decodedSecrets(kustomize[k]), decodedSecrets(c)); d != "" {
			diffs = append(diffs, fmt.Sprintf("%s differs (-kustomize +chart):\n%s", k, d))
		}
	}
	for k := range chart {
		if _, ok := kustomize[k]; !ok {
			diffs = append(diffs, k+": in the chart, not in the kustomize install")
		}
	}
	return diffs
}

func kustomizeObjects(t testing.TB, dir string) map[string]map[string]any {
	t.Helper()
	out, err := command(context.Background(), dir, nil, nil, testenv.Binary(t, "kustomize"), "build", ".")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]map[string]any{}
	for _, o := range decode(t, out) {
		m[objKey(o)] = o.Object
	}
	return m
}

// TestChartIsGenerated: the committed chart is what hack/helmchart writes from the kustomize
// sources now (make helm-chart; make verify checks the same).
func TestChartIsGenerated(t *testing.T) {
	repo := repoRoot(t)
	files, err := Generate(repo, testenv.Binary(t, "kustomize"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(repo, chartDir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/%s is stale: run 'make helm-chart' and commit the result", chartDir, name)
		}
	}
	for _, sub := range []string{"templates", "crds"} {
		entries, _ := os.ReadDir(filepath.Join(repo, chartDir, sub))
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(repo, chartDir, sub, e.Name()))
			if _, ok := files[sub+"/"+e.Name()]; !ok && bytes.Contains(b, []byte(generatedMark)) {
				t.Errorf("%s/%s/%s is no longer generated: run 'make helm-chart'", chartDir, sub, e.Name())
			}
		}
	}
}

// TestDefaultRenderIsTheKustomizeInstall is the no-drift proof: `helm template --include-crds`
// with the default values renders exactly the objects of `kustomize build .` (the root
// kustomization.yaml), field for field, but for Helm's two labels.
func TestDefaultRenderIsTheKustomizeInstall(t *testing.T) {
	repo := repoRoot(t)
	want := kustomizeObjects(t, repo)
	got := withoutHelmLabels(t, mustTemplate(t, repo, "--include-crds"))
	if diffs := renderDiff(want, got); len(diffs) > 0 {
		t.Fatalf("the chart's default render differs from the kustomize install (run 'make helm-chart'):\n%s", strings.Join(diffs, "\n"))
	}
	t.Logf("%d objects: the chart's default render equals kustomize build . but for Helm's labels %v", len(want), helmLabels)
}

// copyKustomizeSources copies the files the root kustomization builds from into a temporary
// folder, for tests that change them.
func copyKustomizeSources(t *testing.T, repo string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := command(context.Background(), repo, nil, nil, "git", "ls-files", "-co", "--exclude-standard", "kustomization.yaml", "operator/config", "runtime/config", "monitoring", "mocks/config")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasSuffix(f, ".go") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(repo, f))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s has no %q to change", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDriftIsCaught: the no-drift comparison and the generator fail when the kustomize sources
// change under the committed chart: a changed field is reported with its object, a knob whose
// field is gone stops the generation with the knob's name.
func TestDriftIsCaught(t *testing.T) {
	repo := repoRoot(t)
	chart := withoutHelmLabels(t, mustTemplate(t, repo, "--include-crds"))

	t.Run("a changed manifest", func(t *testing.T) {
		dir := copyKustomizeSources(t, repo)
		edit(t, filepath.Join(dir, "runtime/config/suite.yaml"), "labelFilter: '!simulator'", "labelFilter: '!slow'")
		diffs := renderDiff(kustomizeObjects(t, dir), chart)
		if len(diffs) != 1 || !strings.Contains(diffs[0], "wattson.dev Suite wattson-system/energy differs") || !strings.Contains(diffs[0], "!slow") {
			t.Fatalf("the comparison did not report exactly the changed Suite:\n%s", strings.Join(diffs, "\n"))
		}
		t.Logf("caught:\n%s", diffs[0])
	})
	t.Run("an added object", func(t *testing.T) {
		dir := copyKustomizeSources(t, repo)
		edit(t, filepath.Join(dir, "runtime/config/service-account.yaml"), "kind: ServiceAccount", "kind: ServiceAccount\nautomountServiceAccountToken: true")
		if err := os.WriteFile(filepath.Join(dir, "runtime/config/extra.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: wattson-extra}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		edit(t, filepath.Join(dir, "runtime/config/kustomization.yaml"), "  - suite.yaml", "  - suite.yaml\n  - extra.yaml")
		diffs := strings.Join(renderDiff(kustomizeObjects(t, dir), chart), "\n")
		for _, want := range []string{" ConfigMap wattson-system/wattson-extra: in the kustomize install, not in the chart", " ServiceAccount wattson-system/wattson-runtime differs"} {
			if !strings.Contains(diffs, want) {
				t.Errorf("not reported: %q in\n%s", want, diffs)
			}
		}
	})
	t.Run("a knob's field removed", func(t *testing.T) {
		dir := copyKustomizeSources(t, repo)
		edit(t, filepath.Join(dir, "monitoring/prometheus/prometheus.yaml"), "  retentionSize: 2GB\n", "")
		_, err := Generate(dir, testenv.Binary(t, "kustomize"))
		if err == nil || !strings.Contains(err.Error(), "knob prometheusStack.prometheus.retentionSize") {
			t.Fatalf("generation did not fail naming the knob: %v", err)
		}
		t.Logf("generation fails: %v", err)
	})
	t.Run("a root resource the chart does not map", func(t *testing.T) {
		dir := copyKustomizeSources(t, repo)
		edit(t, filepath.Join(dir, "kustomization.yaml"), "  - monitoring/overlays/full-stack", "  - monitoring/overlays/long-term")
		if _, err := Generate(dir, testenv.Binary(t, "kustomize")); err == nil || !strings.Contains(err.Error(), "map every resource to a component") {
			t.Fatalf("generation did not refuse the unmapped resource: %v", err)
		}
	})
}

// TestLint: helm lint --strict is clean with the default values and with every knob set.
func TestLint(t *testing.T) {
	repo := repoRoot(t)
	helm := testenv.Binary(t, "helm")
	for _, c := range knobCases {
		if c.fails != "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			env := []string{"HELM_CACHE_HOME=" + home, "HELM_CONFIG_HOME=" + home, "HELM_DATA_HOME=" + home}
			out, err := command(context.Background(), repo, env, nil, helm, append([]string{"lint", "--strict", chartDir}, c.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), "1 chart(s) linted, 0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
}

// knobCase is a set of values and what it must change in the render.
type knobCase struct {
	name string
	args []string
	// check asserts the knob took effect (a dry-run alone would pass a knob that did nothing).
	check func(t *testing.T, objs map[string]*unstructured.Unstructured)
	// fails: the render must fail with this message.
	fails string
}

func container(t *testing.T, objs map[string]*unstructured.Unstructured, key, name string) map[string]any {
	t.Helper()
	o := objs[key]
	if o == nil {
		t.Fatalf("no %s in the render", key)
	}
	if o.GetKind() == "Suite" {
		// A Suite's spec holds its runtime container's fields (image, imagePullPolicy, args,
		// env, resources): the operator renders the Deployment from it.
		spec, _, _ := unstructured.NestedMap(o.Object, "spec")
		return spec
	}
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("%s has no container %s", key, name)
	return nil
}

func absent(t *testing.T, objs map[string]*unstructured.Unstructured, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if objs[k] != nil {
			t.Errorf("%s is rendered, want it left out", k)
		}
	}
}

func field(t *testing.T, objs map[string]*unstructured.Unstructured, key string, want any, path ...string) {
	t.Helper()
	o := objs[key]
	if o == nil {
		t.Fatalf("no %s in the render", key)
	}
	var got any = o.Object
	for _, p := range path {
		switch v := got.(type) {
		case map[string]any:
			got = v[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(v) {
				t.Fatalf("%s: no item %s in %v", key, p, v)
			}
			got = v[i]
		default:
			got = nil
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s %s (-want +got):\n%s", key, strings.Join(path, "."), d)
	}
}

func alertNames(t *testing.T, objs map[string]*unstructured.Unstructured) []string {
	t.Helper()
	var names []string
	for _, o := range objs {
		if o.GetKind() != "PrometheusRule" {
			continue
		}
		groups, _, _ := unstructured.NestedSlice(o.Object, "spec", "groups")
		for _, g := range groups {
			rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
			for _, r := range rules {
				if a, ok := r.(map[string]any)["alert"].(string); ok {
					names = append(names, a)
				}
			}
		}
	}
	return names
}

const (
	operatorDeploy = "apps Deployment wattson-system/wattson-operator"
	energySuite    = "wattson.dev Suite wattson-system/energy"
)

var knobCases = []knobCase{
	{name: "defaults", check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
		if c := container(t, objs, operatorDeploy, "manager"); c["image"] != "ghcr.io/wattson-dev/wattson:v0.1.0" || c["imagePullPolicy"] != nil {
			t.Errorf("operator image %v, pull policy %v", c["image"], c["imagePullPolicy"])
		}
	}},
	{
		name: "bring your own Prometheus",
		args: []string{"--set", "prometheusStack.enabled=false", "--set", "prometheus.url=http://prometheus-operated.monitoring.svc:9090",
			"--set", "alertmanager.url=http://alertmanager-operated.monitoring.svc:9093",
			"--set-json", `networkPolicies.prometheus={"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}},"podSelector":{"matchLabels":{"app.kubernetes.io/name":"prometheus"}}}`},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			for k, o := range objs {
				if o.GetNamespace() == "wattson-monitoring" || o.GetName() == "wattson-monitoring" || o.GetKind() == "Prometheus" || o.GetKind() == "Alertmanager" {
					t.Errorf("%s rendered without the stack", k)
				}
			}
			args, _, _ := unstructured.NestedStringSlice(container(t, objs, operatorDeploy, "manager"), "args")
			if !slices.Contains(args, "--prometheus.url=http://prometheus-operated.monitoring.svc:9090") {
				t.Errorf("operator args %v lack the given Prometheus", args)
			}
			env, _, _ := unstructured.NestedSlice(container(t, objs, energySuite, "runtime"), "env")
			for _, want := range []string{"WATTSON_PROMETHEUS_URL=http://prometheus-operated.monitoring.svc:9090", "WATTSON_ALERTMANAGER_URL=http://alertmanager-operated.monitoring.svc:9093"} {
				name, value, _ := strings.Cut(want, "=")
				if !slices.ContainsFunc(env, func(e any) bool { return e.(map[string]any)["name"] == name && e.(map[string]any)["value"] == value }) {
					t.Errorf("runtime env %v lacks %s", env, want)
				}
			}
			peer := map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}, "podSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "prometheus"}}}
			for _, np := range []string{"wattson-exporter", "wattson-operator"} {
				field(t, objs, "networking.k8s.io NetworkPolicy wattson-system/"+np, []any{peer}, "spec", "ingress", "0", "from")
			}
			// The runtime's port also admits the operator (it reads each Suite's history).
			field(t, objs, "networking.k8s.io NetworkPolicy wattson-system/wattson-runtime", peer, "spec", "ingress", "0", "from", "0")
			if slices.Contains(alertNames(t, objs), "WattsonRuntimeDown") == false {
				t.Errorf("the kit's alerts are gone with the stack")
			}
		},
	},
	{name: "bring your own Prometheus without its URL", args: []string{"--set", "prometheusStack.enabled=false"}, fails: "set prometheus.url"},
	{
		name: "runtime replicas sharing PostgreSQL",
		args: []string{"--set", "runtime.replicas=2", "--set", "runtime.store.postgresURLSecretRef.name=wattson-postgres",
			"--set", "runtime.store.postgresURLSecretRef.key=url", "--set", "runtime.store.retention=2160h"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			field(t, objs, energySuite, float64(2), "spec", "replicas")
			field(t, objs, energySuite, map[string]any{"postgresURLSecretRef": map[string]any{"name": "wattson-postgres", "key": "url"}, "retention": "2160h"}, "spec", "store")
		},
	},
	{name: "runtime replicas without a store", args: []string{"--set", "runtime.replicas=3"}, fails: "runtime.replicas=3: several runtime replicas share each run through PostgreSQL; set runtime.store"},
	{
		name: "operator off",
		args: []string{"--set", "operator.enabled=false"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			absent(t, objs, operatorDeploy, " Service wattson-system/wattson-operator", "monitoring.coreos.com ServiceMonitor wattson-system/wattson-operator",
				"monitoring.coreos.com ServiceMonitor wattson-system/wattson-snmp-exporter", "networking.k8s.io NetworkPolicy wattson-system/wattson-operator")
			if a := alertNames(t, objs); slices.Contains(a, "WattsonOperatorDown") || slices.Contains(a, "WattsonExporterDown") || !slices.Contains(a, "WattsonRuntimeDown") {
				t.Errorf("alerts %v: want the operator's and exporter's Down alerts gone, the runtime's kept", a)
			}
			if objs[" Namespace wattson-system"] == nil || objs[energySuite] == nil {
				t.Errorf("the operator's namespace or the runtime went with the operator")
			}
		},
	},
	{
		name: "runtime off",
		args: []string{"--set", "runtime.enabled=false"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			absent(t, objs, energySuite, " ServiceAccount wattson-system/wattson-runtime", "networking.k8s.io NetworkPolicy wattson-system/wattson-runtime")
			if a := alertNames(t, objs); slices.Contains(a, "WattsonRuntimeDown") || !slices.Contains(a, "WattsonOperatorDown") {
				t.Errorf("alerts %v: want WattsonRuntimeDown gone, WattsonOperatorDown kept", a)
			}
		},
	},
	{
		name: "monitoring and network policies off",
		args: []string{"--set", "monitoring.enabled=false", "--set", "networkPolicies.enabled=false"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			for k, o := range objs {
				if o.GetKind() == "NetworkPolicy" || (o.GetNamespace() == "wattson-system" && (o.GetKind() == "PrometheusRule" || o.GetKind() == "ServiceMonitor" || o.GetKind() == "ConfigMap")) {
					t.Errorf("%s rendered", k)
				}
			}
			if objs["monitoring.coreos.com Prometheus wattson-monitoring/wattson"] == nil {
				t.Errorf("the stack went with the monitors")
			}
		},
	},
	{
		name: "image tag, repository and pull policy",
		args: []string{"--set", "image.repository=registry.example.net/wattson", "--set", "image.tag=v9.9.9", "--set", "image.pullPolicy=IfNotPresent",
			"--set", "prometheusStack.prometheus.image.tag=v3.16.0", "--set", "prometheusStack.prometheusOperator.configReloaderImage.repository=registry.example.net/reloader",
			"--set", "exporter.image=registry.example.net/snmp-exporter:v0.30.1"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			for _, k := range []string{operatorDeploy, energySuite} {
				for _, c := range []string{"manager", "runtime"} {
					if k == operatorDeploy && c == "runtime" || k == energySuite && c == "manager" {
						continue
					}
					ct := container(t, objs, k, c)
					if ct["image"] != "registry.example.net/wattson:v9.9.9" || ct["imagePullPolicy"] != "IfNotPresent" {
						t.Errorf("%s: image %v, pull policy %v", k, ct["image"], ct["imagePullPolicy"])
					}
				}
			}
			field(t, objs, "monitoring.coreos.com Prometheus wattson-monitoring/wattson", "quay.io/prometheus/prometheus:v3.16.0", "spec", "image")
			field(t, objs, "monitoring.coreos.com Prometheus wattson-monitoring/wattson", "v3.16.0", "spec", "version")
			args, _, _ := unstructured.NestedStringSlice(container(t, objs, "apps Deployment wattson-monitoring/wattson-prometheus-operator", "prometheus-operator"), "args")
			if !slices.Contains(args, "--prometheus-config-reloader=registry.example.net/reloader:v0.93.0") {
				t.Errorf("prometheus-operator args %v", args)
			}
			margs, _, _ := unstructured.NestedStringSlice(container(t, objs, operatorDeploy, "manager"), "args")
			if margs[len(margs)-1] != "--exporter.image=registry.example.net/snmp-exporter:v0.30.1" {
				t.Errorf("operator args %v lack --exporter.image", margs)
			}
		},
	},
	{
		name: "replicas",
		args: []string{"--set", "operator.replicas=3", "--set", "prometheusStack.prometheus.replicas=2", "--set", "prometheusStack.alertmanager.replicas=3"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			field(t, objs, operatorDeploy, float64(3), "spec", "replicas")
			field(t, objs, "monitoring.coreos.com Prometheus wattson-monitoring/wattson", float64(2), "spec", "replicas")
			field(t, objs, "monitoring.coreos.com Alertmanager wattson-monitoring/wattson", float64(3), "spec", "replicas")
		},
	},
	{
		name: "resources",
		args: []string{"--set-json", `operator.resources={"requests":{"cpu":"250m","memory":"256Mi"},"limits":{"memory":"1Gi"}}`,
			"--set-json", `runtime.resources={"requests":{"cpu":"50m"}}`, "--set", "prometheusStack.prometheus.resources.limits.memory=4Gi"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			if d := cmp.Diff(map[string]any{"requests": map[string]any{"cpu": "250m", "memory": "256Mi"}, "limits": map[string]any{"memory": "1Gi"}}, container(t, objs, operatorDeploy, "manager")["resources"]); d != "" {
				t.Errorf("operator resources (-want +got):\n%s", d)
			}
			// Helm merges a map given with the default one: only requests.cpu changes.
			if d := cmp.Diff(map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "64Mi"}, "limits": map[string]any{"memory": "512Mi"}}, container(t, objs, energySuite, "runtime")["resources"]); d != "" {
				t.Errorf("runtime resources (-want +got):\n%s", d)
			}
			field(t, objs, "monitoring.coreos.com Prometheus wattson-monitoring/wattson", "4Gi", "spec", "resources", "limits", "memory")
		},
	},
	{
		name: "runtime flags, environment and Prometheus timing",
		args: []string{"--set", "runtime.interval=15s", "--set-json", `runtime.extraEnv=[{"name":"WATTSON_ENERGY_WINDOW","value":"3m"}]`,
			"--set", "prometheusStack.prometheus.scrapeInterval=10s", "--set", "prometheusStack.alertmanager.config=route: {receiver: x}\nreceivers: [{name: x}]\n"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			c := container(t, objs, energySuite, "runtime")
			env, _, _ := unstructured.NestedSlice(c, "env")
			if c["interval"] != "15s" || env[len(env)-1].(map[string]any)["name"] != "WATTSON_ENERGY_WINDOW" {
				t.Errorf("runtime interval %v, env %v", c["interval"], env)
			}
			field(t, objs, "monitoring.coreos.com Prometheus wattson-monitoring/wattson", "10s", "spec", "scrapeInterval")
			field(t, objs, " Secret wattson-monitoring/wattson-alertmanager-config", "cm91dGU6IHtyZWNlaXZlcjogeH0KcmVjZWl2ZXJzOiBbe25hbWU6IHh9XQo=", "data", "alertmanager.yaml")
		},
	},
	{
		// make cluster-helm's values (e2e/cluster/helm_test.go).
		name: "the test cluster's values",
		args: []string{"--namespace", "wattson-system", "--values", "hack/cluster/helm/values.yaml"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			c := container(t, objs, energySuite, "runtime")
			if c["image"] != "wattson.local/wattson:dev" || c["labelFilter"] != "!faults" {
				t.Errorf("runtime image %v, label filter %v", c["image"], c["labelFilter"])
			}
			field(t, objs, "monitoring.coreos.com Prometheus wattson-monitoring/wattson", "10s", "spec", "scrapeInterval")
		},
	},
	{
		name: "release in wattson-system",
		args: []string{"--namespace", "wattson-system"},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			absent(t, objs, " Namespace wattson-system")
			if objs[" Namespace wattson-monitoring"] == nil {
				t.Errorf("wattson-monitoring is not rendered")
			}
		},
	},
}

// TestKnobs renders the chart with each set of values and applies the render to a real
// kube-apiserver (with the chart's crds/ and prometheus-operator's CRDs) with a server-side
// dry-run and strict field validation, then checks that each knob changed what it names.
func TestKnobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	repo := repoRoot(t)
	kubectl := testenv.Binary(t, "kubectl")
	testenv.Binary(t, "helm")
	_, env := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{filepath.Join(repo, chartDir, "crds")}, PrometheusOperatorCRDs: true})
	kubeconfig := adminKubeconfig(t, env)
	apply := func(t *testing.T, objs []*unstructured.Unstructured, dryRun bool) error {
		var buf bytes.Buffer
		for _, o := range objs {
			b, err := o.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
			buf.WriteString("\n")
		}
		args := []string{"apply", "--server-side", "--field-manager=wattson-test", "--validate=strict", "-f", "-"}
		if dryRun {
			args = append(args, "--dry-run=server")
		}
		_, err := command(context.Background(), repo, []string{"KUBECONFIG=" + kubeconfig}, &buf, kubectl, args...)
		return err
	}
	// The dry-run must be able to fail: a render with a wrong field is refused.
	t.Run("dry-run rejects a broken render", func(t *testing.T) {
		objs := mustTemplate(t, repo, "--set", "operator.replicas=two")
		if err := apply(t, objs, true); err == nil {
			t.Fatal("a Deployment with replicas: two passed the dry-run")
		}
	})
	// The simulator and sample PDUs make cluster-helm applies beside the chart.
	t.Run("the test cluster's fixtures", func(t *testing.T) {
		out, err := command(context.Background(), repo, nil, nil, testenv.Binary(t, "kustomize"), "build", "--load-restrictor", "LoadRestrictionsNone", "hack/cluster/helm")
		if err != nil {
			t.Fatal(err)
		}
		var namespaces, rest []*unstructured.Unstructured
		for _, o := range decode(t, out) {
			if o.GetKind() == "Namespace" {
				namespaces = append(namespaces, o)
			} else {
				rest = append(rest, o)
			}
		}
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "wattson-system"}}}
		if err := apply(t, append(namespaces, ns), false); err != nil {
			t.Fatal(err)
		}
		if err := apply(t, rest, true); err != nil {
			t.Fatalf("server-side dry-run of hack/cluster/helm: %v", err)
		}
	})
	for _, c := range knobCases {
		t.Run(c.name, func(t *testing.T) {
			out, err := helmTemplate(t, repo, chartDir, c.args...)
			if c.fails != "" {
				if err == nil || !strings.Contains(err.Error(), c.fails) {
					t.Fatalf("helm template %v: want a failure saying %q, got %v", c.args, c.fails, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			objs := decode(t, out)
			byKey := map[string]*unstructured.Unstructured{}
			var namespaces, rest []*unstructured.Unstructured
			for _, o := range objs {
				byKey[objKey(o)] = o
				if o.GetKind() == "Namespace" {
					namespaces = append(namespaces, o)
				} else {
					rest = append(rest, o)
				}
			}
			// Namespaces for real (a dry-run does not create them), and the release's own, which
			// the chart leaves to Helm.
			ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "wattson-system"}}}
			if err := apply(t, append(namespaces, ns), false); err != nil {
				t.Fatal(err)
			}
			if err := apply(t, rest, true); err != nil {
				t.Fatalf("server-side dry-run: %v", err)
			}
			c.check(t, byKey)
			t.Logf("%d objects pass a server-side dry-run", len(objs))
		})
	}
}

func adminKubeconfig(t *testing.T, env *envtest.Environment) string {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: "wattson-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHelmInstallsOnAnApiserver: helm install, upgrade and uninstall against a real
// kube-apiserver that has only prometheus-operator's CRDs: Helm installs Wattson's CRDs from
// crds/ first, creates every object (server-side apply), upgrades a value in place, and
// uninstall removes everything but the CRDs. No pods run here: the cluster e2e (make
// cluster-helm) proves they become Ready.
func TestHelmInstallsOnAnApiserver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	repo := repoRoot(t)
	helm := testenv.Binary(t, "helm")
	kubectl := testenv.Binary(t, "kubectl")
	_, env := testenv.Kube(t, testenv.KubeOptions{PrometheusOperatorCRDs: true})
	kubeconfig := adminKubeconfig(t, env)
	home := t.TempDir()
	kenv := []string{"KUBECONFIG=" + kubeconfig, "HELM_CACHE_HOME=" + home, "HELM_CONFIG_HOME=" + home, "HELM_DATA_HOME=" + home}
	ctx := context.Background()
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := command(ctx, repo, kenv, nil, name, args...)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	run(helm, "install", "wattson", chartDir, "--namespace", "default")
	for _, crd := range []string{"pdus.wattson.dev", "pdumodels.wattson.dev", "suites.wattson.dev"} {
		run(kubectl, "get", "crd", crd)
	}
	manifest := decode(t, []byte(run(helm, "get", "manifest", "wattson", "--namespace", "default")))
	if len(manifest) < 40 {
		t.Fatalf("the release holds %d objects", len(manifest))
	}
	for _, o := range manifest {
		args := []string{"get", strings.ToLower(o.GetKind()) + "." + o.GroupVersionKind().Group, o.GetName(), "-o", "jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name}"}
		if o.GroupVersionKind().Group == "" {
			args[1] = strings.ToLower(o.GetKind())
		}
		if o.GetNamespace() != "" {
			args = append(args, "--namespace", o.GetNamespace())
		}
		if got := run(kubectl, args...); got != "wattson" {
			t.Errorf("%s: release annotation %q", objKey(o), got)
		}
	}
	t.Logf("helm install created %d objects and Wattson's 3 CRDs", len(manifest))
	run(helm, "upgrade", "wattson", chartDir, "--namespace", "default", "--set", "operator.replicas=1")
	if got := run(kubectl, "-n", "wattson-system", "get", "deploy", "wattson-operator", "-o", "jsonpath={.spec.replicas}"); got != "1" {
		t.Errorf("after helm upgrade --set operator.replicas=1 the operator has %s replicas", got)
	}
	run(helm, "uninstall", "wattson", "--namespace", "default")
	for _, o := range manifest {
		if o.GetKind() == "Namespace" {
			continue // terminating: no controller-manager here finalizes it
		}
		args := []string{"get", strings.ToLower(o.GetKind()) + "." + o.GroupVersionKind().Group, o.GetName(), "--ignore-not-found", "-o", "name"}
		if o.GroupVersionKind().Group == "" {
			args[1] = strings.ToLower(o.GetKind())
		}
		if o.GetNamespace() != "" {
			args = append(args, "--namespace", o.GetNamespace())
		}
		if got := strings.TrimSpace(run(kubectl, args...)); got != "" {
			t.Errorf("%s is left after helm uninstall", got)
		}
	}
	run(kubectl, "get", "crd", "pdus.wattson.dev") // Helm keeps crds/
}

// TestPrometheusSelectsWhatHelmInstalls: the chart's Prometheus loads every ServiceMonitor,
// PodMonitor, Probe, ScrapeConfig and PrometheusRule the chart ships, labelled as helm install
// labels them. Helm sets app.kubernetes.io/managed-by: Helm on every object it installs
// (setMetadataVisitor in helm's pkg/action), over whatever the template says, so a selector on
// managed-by: wattson selected none of them and only the operator's own objects were scraped.
func TestPrometheusSelectsWhatHelmInstalls(t *testing.T) {
	repo := repoRoot(t)
	objs := mustTemplate(t, repo)
	var prom *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Prometheus" && o.GetName() == "wattson" {
			prom = o
		}
	}
	if prom == nil {
		t.Fatal("the default render has no Prometheus wattson")
	}
	selectors := map[string]string{
		"ServiceMonitor": "serviceMonitor",
		"PodMonitor":     "podMonitor",
		"Probe":          "probe",
		"ScrapeConfig":   "scrapeConfig",
		"PrometheusRule": "rule",
	}
	selector := func(field string) labels.Selector {
		t.Helper()
		m, found, err := unstructured.NestedMap(prom.Object, "spec", field)
		if err != nil || !found {
			t.Fatalf("Prometheus wattson has no spec.%s (%v)", field, err)
		}
		var ls metav1.LabelSelector
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
			t.Fatalf("spec.%s: %v", field, err)
		}
		s, err := metav1.LabelSelectorAsSelector(&ls)
		if err != nil {
			t.Fatalf("spec.%s: %v", field, err)
		}
		return s
	}
	n := 0
	for _, o := range objs {
		field, ok := selectors[o.GetKind()]
		if !ok {
			continue
		}
		n++
		l := labels.Set(o.GetLabels())
		l["app.kubernetes.io/managed-by"] = "Helm"
		ns := o.GetNamespace()
		if ns == "" {
			ns = "wattson-system" // the release namespace
		}
		if !selector(field + "Selector").Matches(l) {
			t.Errorf("%s, labelled %v once installed, is not selected by Prometheus wattson's spec.%sSelector %s", objKey(o), l, field, selector(field+"Selector"))
		}
		if !selector(field + "NamespaceSelector").Matches(labels.Set{"kubernetes.io/metadata.name": ns}) {
			t.Errorf("%s: namespace %s is not selected by Prometheus wattson's spec.%sNamespaceSelector", objKey(o), ns, field)
		}
	}
	if n < 8 {
		t.Fatalf("the default render has %d monitors and rules, want the kit's 8 or more", n)
	}
	if !t.Failed() {
		t.Logf("Prometheus wattson selects all %d monitors and rules of the chart as Helm labels them", n)
	}
}
