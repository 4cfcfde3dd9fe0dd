package render_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

const suiteImage = "ghcr.io/wattson-dev/wattson:v0.1.0"

// sampleSuite reads the shipped energy Suite (runtime/config, in the default install).
func sampleSuite(t *testing.T) *v1alpha1.Suite {
	t.Helper()
	raw, err := os.ReadFile("../../../runtime/config/suite.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := &v1alpha1.Suite{}
	if err := yaml.UnmarshalStrict(raw, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// suiteShapes are Suites of every shape the renderers must handle: the shipped energy suite,
// a minimal one (every default), one using every field (a PostgreSQL-backed fleet), and one
// whose alert tuning has no catch-all entry.
func suiteShapes(t *testing.T) map[string]*v1alpha1.Suite {
	three := int32(3)
	return map[string]*v1alpha1.Suite{
		"energy": sampleSuite(t),
		"minimal": {
			ObjectMeta: metav1.ObjectMeta{Name: "minimal", Namespace: "team-a"},
			Spec:       v1alpha1.SuiteSpec{Image: suiteImage},
		},
		"fleet": {
			ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "team-b"},
			Spec: v1alpha1.SuiteSpec{
				Image: "registry.example/checkout-specs:1.4.2", ImagePullPolicy: corev1.PullIfNotPresent,
				Binary: "/suites/checkout.test", SuiteName: "checkout-smoke",
				Interval: "30s", Timeout: "2m", LabelFilter: "smoke && !slow",
				Args: []string{"--checkout.url=http://checkout.team-b.svc", "--ginkgo.v"},
				Env: []corev1.EnvVar{
					{Name: "CHECKOUT_REGION", Value: "eu-west"},
					{Name: "CHECKOUT_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "checkout-specs"}, Key: "token"}}},
				},
				EnvFrom:  []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "checkout-settings"}}}},
				Replicas: &three,
				Store: &v1alpha1.SuiteStore{
					PostgresURLSecretRef: v1alpha1.SecretKeyReference{Name: "wattson-history", Key: "url"},
					Retention:            "168h",
				},
				ServiceAccountName: "checkout-specs",
				Resources: &corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				},
				Alerts: []v1alpha1.SuiteAlert{
					{SpecLabel: "severity:critical", FailedRuns: 1, Severity: v1alpha1.SeverityCritical},
					{SpecLabel: "payments", FailedRuns: 3, For: "10m", Severity: v1alpha1.SeverityCritical},
					{FailedRuns: 5, For: "15m", Severity: v1alpha1.SeverityInfo},
				},
				Triggers: []v1alpha1.SuiteTrigger{
					{Kind: v1alpha1.TriggerPDU, Namespace: "dc1", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"room": "r1"}}},
				},
			},
		},
		"no-catch-all": {
			ObjectMeta: metav1.ObjectMeta{Name: "labelled", Namespace: "team-a"},
			Spec: v1alpha1.SuiteSpec{
				Image:  suiteImage,
				Alerts: []v1alpha1.SuiteAlert{{SpecLabel: "pdu", FailedRuns: 4, Severity: v1alpha1.SeverityCritical}},
			},
		},
	}
}

// suiteObjects renders every object of a Suite, as the operator writes them with
// prometheus-operator present (and the rules ConfigMap it writes without).
func suiteObjects(t *testing.T, s *v1alpha1.Suite) []client.Object {
	t.Helper()
	pr, err := render.SuitePrometheusRule(s)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := render.SuiteRulesConfigMap(s)
	if err != nil {
		t.Fatal(err)
	}
	return []client.Object{render.SuiteDeployment(s, suiteImage), render.SuiteService(s), render.SuiteServiceMonitor(s), pr, cm}
}

// TestSuiteGoldens renders each shape into testdata/suite-<shape>.golden.yaml and has promtool
// check its rules.
func TestSuiteGoldens(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	for name, s := range suiteShapes(t) {
		t.Run(name, func(t *testing.T) {
			var docs [][]byte
			for _, obj := range suiteObjects(t, s)[:4] {
				b, err := yaml.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, b)
			}
			golden(t, "suite-"+name+".golden.yaml", bytes.Join(docs, []byte("---\n")))

			rules, err := render.SuiteAlertRules(s)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "suite.rules.yml")
			if err := os.WriteFile(path, rules, 0o644); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
				t.Fatalf("promtool check rules: %v\n%s", err, b)
			}
		})
	}
}

// TestSuiteDeploymentShape checks what the goldens show but a reader could miss: without a
// store one runtime is replaced, never rolled; the PostgreSQL URL stays in its Secret.
func TestSuiteDeploymentShape(t *testing.T) {
	shapes := suiteShapes(t)
	min := render.SuiteDeployment(shapes["minimal"], suiteImage)
	if min.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || *min.Spec.Replicas != 1 {
		t.Errorf("minimal: strategy %s, %d replicas; want Recreate, 1", min.Spec.Strategy.Type, *min.Spec.Replicas)
	}
	want := []string{"--specs.binary=/specs.test", "--specs.suite=minimal", "--specs.interval=1m", "--specs.timeout=10m", "--web.listen-address=:9464", "--log.format=json"}
	if got := min.Spec.Template.Spec.Containers[0].Args; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("minimal args %q, want %q", got, want)
	}
	fleet := render.SuiteDeployment(shapes["fleet"], suiteImage)
	if fleet.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || *fleet.Spec.Replicas != 3 {
		t.Errorf("fleet: strategy %s, %d replicas; want RollingUpdate, 3", fleet.Spec.Strategy.Type, *fleet.Spec.Replicas)
	}
	c := fleet.Spec.Template.Spec.Containers[0]
	if !contains(c.Args, "--store.postgres-url=$("+render.StoreURLEnv+")") {
		t.Errorf("fleet args %q lack the store URL from the environment", c.Args)
	}
	// With a store, runs PostgreSQL has not taken yet survive a container restart in the
	// journal, a bounded emptyDir; without one there is nothing to journal.
	if !contains(c.Args, "--store.journal="+render.JournalDir) {
		t.Errorf("fleet args %q lack --store.journal=%s", c.Args, render.JournalDir)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range fleet.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	if j, ok := vols["journal"]; !ok || j.EmptyDir == nil || j.EmptyDir.SizeLimit == nil {
		t.Errorf("fleet: no bounded journal emptyDir among %v", fleet.Spec.Template.Spec.Volumes)
	}
	if mounts := c.VolumeMounts; len(mounts) != 2 || mounts[1].MountPath != render.JournalDir {
		t.Errorf("fleet: mounts %v, want /tmp and the journal at %s", mounts, render.JournalDir)
	}
	if n := len(min.Spec.Template.Spec.Volumes); n != 1 {
		t.Errorf("minimal: %d volumes, want /tmp's only (no store, no journal)", n)
	}
	last := c.Env[len(c.Env)-1]
	if last.Name != render.StoreURLEnv || last.ValueFrom.SecretKeyRef.Name != "wattson-history" || last.ValueFrom.SecretKeyRef.Key != "url" {
		t.Errorf("fleet: store URL env %+v", last)
	}
	svc := render.SuiteService(shapes["fleet"])
	if svc.Labels[v1alpha1.KubernetesAssertLabel] != v1alpha1.KubernetesAssertMetrics || svc.Spec.Ports[0].Name != "assert" {
		t.Errorf("Service labels %v, port %q: want kubernetes-assert=metrics and port assert", svc.Labels, svc.Spec.Ports[0].Name)
	}
}

// TestSuiteRulesBehave runs promtool test rules on the fleet shape's rules
// (testdata/suite-rules.test.yaml): per-label tuning, first match wins, for, the catch-all, one
// alert for three replicas, and the runtime alerts.
func TestSuiteRulesBehave(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	rules, err := render.SuiteAlertRules(suiteShapes(t)["fleet"])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "suite.rules.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("testdata/suite-rules.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "suite.test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "suite.test.yaml")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, b)
	}
}

// TestSuiteDryRun has a real kube-apiserver, with Wattson's and prometheus-operator's CRDs,
// accept every shape's Suite and every object rendered from it (server-side dry-run, strict
// field validation), and refuse a broken one.
func TestSuiteDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{"../../config/crd/bases"}, PrometheusOperatorCRDs: true})
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme, FieldValidation: metav1.FieldValidationStrict})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created := map[string]bool{}
	for name, s := range suiteShapes(t) {
		t.Run(name, func(t *testing.T) {
			if !created[s.Namespace] {
				if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}}); err != nil {
					t.Fatal(err)
				}
				created[s.Namespace] = true
			}
			if err := c.Create(ctx, s.DeepCopy(), client.DryRunAll); err != nil {
				t.Fatalf("Suite %s/%s: %v", s.Namespace, s.Name, err)
			}
			for _, obj := range suiteObjects(t, s) {
				if err := c.Create(ctx, obj, client.DryRunAll); err != nil {
					t.Errorf("%T %s: %v", obj, obj.GetName(), err)
				}
			}
		})
	}
	// The dry-run can fail: a PrometheusRule whose for is not a duration is refused.
	pr, err := render.SuitePrometheusRule(suiteShapes(t)["minimal"])
	if err != nil {
		t.Fatal(err)
	}
	bad := monitoringv1.Duration("banana")
	pr.Spec.Groups[0].Rules[0].For = &bad
	if err := c.Create(ctx, pr, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "for") {
		t.Errorf("a rule with for: banana passed the dry-run: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
