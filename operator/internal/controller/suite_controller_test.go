package controller_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/manager"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

// startKubeEnv is startKube that also writes an admin kubeconfig, for kubectl and the runtime.
func startKubeEnv(t *testing.T, po bool) (*rest.Config, client.Client, string) {
	t.Helper()
	cfg, env := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{"../../config/crd/bases"}, PrometheusOperatorCRDs: po})
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{opNamespace, "dc1", "dc2"} {
		if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	user, err := env.AddUser(envtest.User{Name: "wattson-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, c, path
}

// suiteCondition waits until the Suite has condition typ with status and reason, and returns it
// with the Suite as it was then.
func suiteCondition(t *testing.T, c client.Client, s *v1alpha1.Suite, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(c.Get(context.Background(), client.ObjectKeyFromObject(s), s)).To(Succeed())
		cond := apimeta.FindStatusCondition(s.Status.Conditions, typ)
		g.Expect(cond).NotTo(BeNil(), "no %s condition yet", typ)
		got = *cond
		g.Expect(got.Status).To(Equal(status), "%s: %s", got.Reason, got.Message)
		g.Expect(got.Reason).To(Equal(reason), got.Message)
	}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	return got
}

func suite(ns, name string, edit func(*v1alpha1.SuiteSpec)) *v1alpha1.Suite {
	s := &v1alpha1.Suite{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.SuiteSpec{Image: "registry.test/specs:1", Interval: "1h"}}
	if edit != nil {
		edit(&s.Spec)
	}
	return s
}

// TestSuites runs the operator with prometheus-operator's CRDs: a Suite gets its runtime
// objects, owned by it; a real wattson-runtime, started from the rendered Deployment, runs a
// compiled suite, and the status follows its history (passed, failed twice, flaky, passed);
// bad Suites fail clearly, each naming its field, while the good one keeps running.
func TestSuites(t *testing.T) {
	cfg, c, kubeconfig := startKubeEnv(t, true)
	rt := newRuntimes()
	startOperator(t, cfg, func(o *manager.Options) { o.SuiteURL = rt.URL })
	toggleBin := compileSuite(t, "operator/internal/controller/testdata/suites/toggle")
	ctx := context.Background()
	g := NewWithT(t)

	good := suite("dc1", "checkout", func(s *v1alpha1.SuiteSpec) {
		s.SuiteName = "checkout"
		s.Alerts = []v1alpha1.SuiteAlert{{SpecLabel: "payments", FailedRuns: 1, Severity: v1alpha1.SeverityCritical}}
	})
	g.Expect(c.Create(ctx, good)).To(Succeed())
	ready := suiteCondition(t, c, good, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.DeployedReason)
	g.Expect(ready.Message).To(ContainSubstring("ServiceMonitor, PrometheusRule and Deployment wattson-suite-checkout applied"))
	suiteCondition(t, c, good, v1alpha1.PassingCondition, metav1.ConditionUnknown, v1alpha1.RuntimeUnreachableReason)
	g.Expect(good.Status.Verdict).To(Equal(v1alpha1.VerdictUnknown))
	g.Expect(good.Spec.Timeout).To(Equal(v1alpha1.Duration("10m")), "the CRD defaults the timeout")
	key := types.NamespacedName{Namespace: "dc1", Name: "wattson-suite-checkout"}
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &monitoringv1.ServiceMonitor{}, &monitoringv1.PrometheusRule{}} {
		g.Expect(c.Get(ctx, key, obj)).To(Succeed(), "%T", obj)
		g.Expect(metav1.IsControlledBy(obj, good)).To(BeTrue(), "%T is owned by the Suite", obj)
	}

	// Play kubelet: the rendered Deployment runs the toggle suite.
	toggle := filepath.Join(t.TempDir(), "toggle")
	writeFile(t, toggle, "pass")
	url := runDeployment(t, c, rt, good, toggleBin, map[string]string{"TOGGLE_FILE": toggle})
	cond := suiteCondition(t, c, good, v1alpha1.PassingCondition, metav1.ConditionTrue, v1alpha1.LastRunPassedReason)
	g.Expect(cond.Message).To(ContainSubstring("trigger start"))
	g.Expect(good.Status.Verdict).To(Equal(v1alpha1.VerdictPassed))
	g.Expect(good.Status.LastRun.Passed).To(Equal(int32(2)))
	g.Expect(good.Status.URL).To(Equal(url))

	// Red: the card is declined, twice.
	writeFile(t, toggle, "fail")
	for want := int32(1); want <= 2; want++ {
		g.Expect(post(t, url, "")).To(BeNumerically("<", 300))
		g.Eventually(func(g Gomega) {
			g.Expect(c.Get(ctx, client.ObjectKeyFromObject(good), good)).To(Succeed())
			g.Expect(good.Status.ConsecutiveFailures).To(Equal(want))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	}
	cond = suiteCondition(t, c, good, v1alpha1.PassingCondition, metav1.ConditionFalse, v1alpha1.LastRunFailedReason)
	g.Expect(cond.Message).To(ContainSubstring(`"checkout charges card"`))
	g.Expect(good.Status.Verdict).To(Equal(v1alpha1.VerdictFailed))
	g.Expect(good.Status.FailingSpecCount).To(Equal(int32(1)))
	g.Expect(good.Status.FailingSpecs).To(HaveLen(1))
	failing := good.Status.FailingSpecs[0]
	g.Expect(failing.Name).To(Equal("checkout charges card"))
	g.Expect(failing.Labels).To(Equal([]string{"payments"}))
	g.Expect(failing.Message).To(ContainSubstring("card declined"))
	g.Expect(failing.Location).To(ContainSubstring("suite_test.go"))

	// kubectl get suites shows what is red.
	kubectl := testenv.Binary(t, "kubectl")
	out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "suites", "-A").CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	g.Expect(strings.Fields(lines[0])).To(Equal([]string{"NAMESPACE", "NAME", "READY", "REPLICAS", "READY", "PODS", "VERDICT", "FAILURES", "FAILING", "LAST", "RUN", "AGE"}))
	// No kubelet here: the Deployment has no ready pods, and READY PODS is blank.
	g.Expect(strings.Fields(lines[1])[:7]).To(Equal([]string{"dc1", "checkout", "True", "1", "Failed", "2", "1"}), string(out))
	// kubectl explain reads the field comments.
	out, err = exec.Command(kubectl, "--kubeconfig", kubeconfig, "explain", "suite.spec.alerts.failedRuns").CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	g.Expect(string(out)).To(ContainSubstring("failedRuns is how many complete runs in a row a spec must fail"))

	// Green again: the spec flipped, so it is flaky.
	writeFile(t, toggle, "pass")
	g.Expect(post(t, url, "")).To(BeNumerically("<", 300))
	suiteCondition(t, c, good, v1alpha1.PassingCondition, metav1.ConditionTrue, v1alpha1.LastRunPassedReason)
	g.Expect(good.Status.ConsecutiveFailures).To(BeZero())
	g.Expect(good.Status.FailingSpecs).To(BeEmpty())
	g.Expect(good.Status.FlakySpecCount).To(Equal(int32(1)))
	g.Expect(good.Status.FlakySpecs).To(Equal([]v1alpha1.FlakySpec{{Name: "checkout charges card", Runs: 4, Failures: 2, Flips: 2}}))

	t.Run("bad suites", func(t *testing.T) {
		g := NewWithT(t)
		squat := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "dc2", Name: "wattson-suite-squatter"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
		g.Expect(c.Create(ctx, squat)).To(Succeed())
		cases := []struct {
			suite  *v1alpha1.Suite
			reason string
			field  string
		}{
			{suite("dc2", "noimage", func(s *v1alpha1.SuiteSpec) { s.Image = "" }), v1alpha1.ImageMissingReason, "spec.image"},
			{suite("dc2", "badfilter", func(s *v1alpha1.SuiteSpec) { s.LabelFilter = "pdu && (" }), v1alpha1.InvalidLabelFilterReason, "spec.labelFilter"},
			{suite("dc2", "twin", func(s *v1alpha1.SuiteSpec) { s.SuiteName = "checkout" }), v1alpha1.DuplicateSuiteNameReason, "spec.suiteName"},
			{suite("dc1", "nostore", func(s *v1alpha1.SuiteSpec) {
				s.Store = &v1alpha1.SuiteStore{PostgresURLSecretRef: v1alpha1.SecretKeyReference{Name: "history", Key: "url"}}
			}), v1alpha1.SecretNotFoundReason, "spec.store.postgresURLSecretRef.name"},
			{suite("dc2", "badselector", func(s *v1alpha1.SuiteSpec) {
				s.Triggers = []v1alpha1.SuiteTrigger{{Kind: v1alpha1.TriggerPDU, Selector: &metav1.LabelSelector{
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "room", Operator: "Sometimes"}}}}}
			}), v1alpha1.InvalidSpecReason, "spec.triggers[0].selector"},
			{suite("dc2", "squatter", nil), v1alpha1.ChildConflictReason, "metadata.name: Service dc2/wattson-suite-squatter"},
		}
		for _, tc := range cases {
			g.Expect(c.Create(ctx, tc.suite)).To(Succeed(), tc.suite.Name)
		}
		for _, tc := range cases {
			cond := suiteCondition(t, c, tc.suite, v1alpha1.ReadyCondition, metav1.ConditionFalse, tc.reason)
			g.Expect(cond.Message).To(HavePrefix(tc.field), tc.suite.Name)
			suiteCondition(t, c, tc.suite, v1alpha1.PassingCondition, metav1.ConditionUnknown, v1alpha1.NotReadyReason)
			err := c.Get(ctx, types.NamespacedName{Namespace: tc.suite.Namespace, Name: render.SuiteObjectName(tc.suite)}, &appsv1.Deployment{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s: no runtime for a bad Suite: %v", tc.suite.Name, err)
		}
		var svc corev1.Service
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(squat), &svc)).To(Succeed())
		g.Expect(svc.OwnerReferences).To(BeEmpty(), "someone else's Service is left alone")
		// The good Suite is untouched.
		suiteCondition(t, c, good, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.DeployedReason)
		suiteCondition(t, c, good, v1alpha1.PassingCondition, metav1.ConditionTrue, v1alpha1.LastRunPassedReason)

		// Fixes heal: the Secret appears.
		g.Expect(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "dc1", Name: "history"},
			StringData: map[string]string{"url": "postgres://wattson@127.0.0.1:1/wattson"}})).To(Succeed())
		suiteCondition(t, c, cases[3].suite, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.DeployedReason)
	})

	t.Run("a bad edit keeps the last good runtime", func(t *testing.T) {
		g := NewWithT(t)
		var before appsv1.Deployment
		g.Expect(c.Get(ctx, key, &before)).To(Succeed())
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(good), good)).To(Succeed())
		good.Spec.LabelFilter = "payments &&"
		g.Expect(c.Update(ctx, good)).To(Succeed())
		cond := suiteCondition(t, c, good, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.InvalidLabelFilterReason)
		g.Expect(cond.Message).To(HavePrefix("spec.labelFilter"))
		var after appsv1.Deployment
		g.Expect(c.Get(ctx, key, &after)).To(Succeed())
		g.Expect(after.Spec.Template.Spec.Containers[0].Args).To(Equal(before.Spec.Template.Spec.Containers[0].Args))
		// Its runtime still runs and reports.
		suiteCondition(t, c, good, v1alpha1.PassingCondition, metav1.ConditionTrue, v1alpha1.LastRunPassedReason)
	})

	t.Run("the name passes on", func(t *testing.T) {
		twin := &v1alpha1.Suite{ObjectMeta: metav1.ObjectMeta{Namespace: "dc2", Name: "twin"}}
		NewWithT(t).Expect(c.Delete(ctx, good)).To(Succeed())
		suiteCondition(t, c, twin, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.DeployedReason)
	})
}

// TestSuiteValidation: the apiserver itself refuses what the CRD's schema and CEL rules know to
// be wrong, naming the field.
func TestSuiteValidation(t *testing.T) {
	_, c := startKube(t, false)
	ctx := context.Background()
	g := NewWithT(t)
	three := int32(3)
	cases := []struct {
		name string
		edit func(*v1alpha1.Suite)
		want string
	}{
		{"replicas without store", func(s *v1alpha1.Suite) { s.Spec.Replicas = &three }, "replicas above 1 need store"},
		{"namespace on a PDUModel trigger", func(s *v1alpha1.Suite) {
			s.Spec.Triggers = []v1alpha1.SuiteTrigger{{Kind: v1alpha1.TriggerPDUModel, Namespace: "dc1"}}
		}, "namespace is only for PDU"},
		{"unknown trigger kind", func(s *v1alpha1.Suite) { s.Spec.Triggers = []v1alpha1.SuiteTrigger{{Kind: "Pod"}} }, "spec.triggers[0].kind"},
		{"specLabel twice", func(s *v1alpha1.Suite) {
			s.Spec.Alerts = []v1alpha1.SuiteAlert{{SpecLabel: "pdu"}, {SpecLabel: "pdu", Severity: "info"}}
		}, "each specLabel may appear once"},
		{"two catch-alls", func(s *v1alpha1.Suite) { s.Spec.Alerts = []v1alpha1.SuiteAlert{{}, {FailedRuns: 3}} }, "one entry at most may omit it"},
		{"label filter syntax in a specLabel", func(s *v1alpha1.Suite) { s.Spec.Alerts = []v1alpha1.SuiteAlert{{SpecLabel: "pdu && slow"}} }, "spec.alerts[0].specLabel"},
		{"bad severity", func(s *v1alpha1.Suite) { s.Spec.Alerts = []v1alpha1.SuiteAlert{{Severity: "page"}} }, "spec.alerts[0].severity"},
		{"bad for", func(s *v1alpha1.Suite) { s.Spec.Alerts = []v1alpha1.SuiteAlert{{For: "soon"}} }, "spec.alerts[0].for"},
		{"zero interval", func(s *v1alpha1.Suite) { s.Spec.Interval = "0s" }, "spec.interval"},
		{"store URL in env", func(s *v1alpha1.Suite) { s.Spec.Env = []corev1.EnvVar{{Name: render.StoreURLEnv, Value: "x"}} }, "is set from spec.store"},
		{"long name", func(s *v1alpha1.Suite) { s.Name = strings.Repeat("a", 50) }, "metadata.name must be a DNS label of at most 49 characters"},
		{"dotted name", func(s *v1alpha1.Suite) { s.Name = "energy.v2" }, "metadata.name must be a DNS label"},
		{"bad suite name", func(s *v1alpha1.Suite) { s.Spec.SuiteName = "energy suite" }, "spec.suiteName"},
	}
	for _, tc := range cases {
		s := suite("dc1", "invalid", nil)
		tc.edit(s)
		g.Expect(c.Create(ctx, s)).To(MatchError(ContainSubstring(tc.want)), tc.name)
	}
	// And the defaults land.
	s := suite("dc1", "defaults", func(s *v1alpha1.SuiteSpec) { s.Interval = ""; s.Alerts = []v1alpha1.SuiteAlert{{SpecLabel: "pdu"}} })
	g.Expect(c.Create(ctx, s)).To(Succeed())
	g.Expect(s.Spec.Interval).To(Equal(v1alpha1.Duration("1m")))
	g.Expect(s.Spec.Binary).To(Equal("/specs.test"))
	g.Expect(*s.Spec.Replicas).To(Equal(int32(1)))
	g.Expect(s.Spec.Alerts[0].FailedRuns).To(Equal(int32(2)))
	g.Expect(s.Spec.Alerts[0].Severity).To(Equal(v1alpha1.SeverityWarning))
}
