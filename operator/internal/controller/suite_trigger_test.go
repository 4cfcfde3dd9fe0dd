package controller_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/manager"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

// operatorToken makes the operator's ServiceAccount with the ClusterRole `make manifests`
// generates from the markers (config/rbac/role.yaml) and returns a token of it: what the
// operator sends in a cluster.
func operatorToken(t *testing.T, cfg *rest.Config, c client.Client) string {
	t.Helper()
	ctx := context.Background()
	raw, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var role *rbacv1.ClusterRole
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc["kind"] == "ClusterRole" {
			b, _ := yaml.Marshal(doc)
			role = &rbacv1.ClusterRole{}
			if err := yaml.UnmarshalStrict(b, role); err != nil {
				t.Fatal(err)
			}
		}
	}
	if role == nil {
		t.Fatal("config/rbac/role.yaml has no ClusterRole")
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: opNamespace, Name: "wattson-operator"}}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "wattson-operator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: opNamespace, Name: sa.Name}},
	}
	for _, obj := range []client.Object{role, sa, binding} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(opNamespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// TestSuiteTriggers runs the shipped energy Suite (config/samples) on the real runtime and the
// compiled energy suite (bin/specs.test), without prometheus-operator: PDUs and PDUModels
// created or edited in the apiserver rerun it within seconds, a burst of changes is one rerun,
// and status or annotation writes rerun nothing. With a runtime that authenticates
// (--web.auth=kubernetes), the operator's token and generated RBAC are what let it in, and the
// run records what changed.
func TestSuiteTriggers(t *testing.T) {
	cfg, c, kubeconfig := startKubeEnv(t, false)
	rtBin := testenv.Binary(t, "wattson-runtime")
	specsBin := testenv.Binary(t, "specs.test")
	strict := runtimeHasAuth(t, rtBin)
	var token string
	var extraArgs []string
	if strict {
		token = operatorToken(t, cfg, c)
		extraArgs = []string{"--web.auth=kubernetes", "--kubeconfig=" + kubeconfig}
	} else {
		t.Logf("bin/wattson-runtime has no --web.auth: it records reruns as %q and checks no token", "rerun")
	}
	rt := newRuntimes()
	const defaultImage = "ghcr.io/wattson-dev/wattson:test"
	startOperator(t, cfg, func(o *manager.Options) {
		o.SuiteURL, o.SuiteDefaultImage = rt.URL, defaultImage
		if strict {
			o.RerunToken = func() (string, error) { return token, nil }
		}
	})
	ctx := context.Background()
	g := NewWithT(t)

	// The energy suite needs a Prometheus and an Alertmanager to reach; the specs then check
	// the PDUs in this apiserver and fail fast.
	prom := testenv.Prometheus(t, "global: {scrape_interval: 1s}\n", nil)
	am := testenv.Alertmanager(t, "route: {receiver: none}\nreceivers: [{name: none}]\n")
	energy := &v1alpha1.Suite{}
	raw, err := os.ReadFile("../../../runtime/config/suite.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(yaml.UnmarshalStrict(raw, energy)).To(Succeed())
	energy.Spec.Image = "" // the operator's --suite.default-image
	energy.Spec.Interval = "1h"
	energy.Spec.LabelFilter = "pdu"
	energy.Spec.Args = []string{"--wattson.eventually-timeout=2s", "--wattson.poll-interval=500ms"}
	energy.Spec.Env = []corev1.EnvVar{
		{Name: "WATTSON_PROMETHEUS_URL", Value: prom.URL},
		{Name: "WATTSON_ALERTMANAGER_URL", Value: am.URL},
		{Name: "WATTSON_KUBECONFIG", Value: kubeconfig},
	}
	g.Expect(c.Create(ctx, energy)).To(Succeed())
	ready := suiteCondition(t, c, energy, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.DeployedReason)
	g.Expect(ready.Message).To(ContainSubstring("Service, rules ConfigMap and Deployment"))
	g.Expect(ready.Message).To(ContainSubstring(defaultImage))
	var rules corev1.ConfigMap
	g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: "wattson-suite-energy"}, &rules)).To(Succeed())
	g.Expect(rules.Data[render.SuiteRulesKey]).To(ContainSubstring(`labels=~"(.*,)?pdu(,.*)?"`))

	url := runDeployment(t, c, rt, energy, specsBin, nil, extraArgs...)
	runs := func(g Gomega) []apiRun {
		list, err := runtimeRuns(url, token)
		g.Expect(err).NotTo(HaveOccurred())
		return list
	}
	g.Eventually(func(g Gomega) {
		list := runs(g)
		g.Expect(list).NotTo(BeEmpty())
		g.Expect(list[len(list)-1].Trigger).To(Equal("start"))
	}).WithTimeout(60 * time.Second).Should(Succeed())

	// rerunAfter waits for the run started after t0 and returns it with how long after t0 it
	// started; exactly one such run must come.
	rerunAfter := func(t0 time.Time, want string) (apiRun, time.Duration) {
		t.Helper()
		var run apiRun
		g.Eventually(func(g Gomega) {
			var after []apiRun
			for _, r := range runs(g) {
				if r.StartedAt.After(t0) {
					after = append(after, r)
				}
			}
			g.Expect(after).To(HaveLen(1), "runs started after the change")
			run = after[0]
		}).WithTimeout(90 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		if strict {
			g.Expect(run.Trigger).To(Equal(want))
		} else {
			g.Expect(run.Trigger).To(Equal("rerun"))
		}
		// Nothing else follows.
		g.Consistently(func(g Gomega) {
			n := 0
			for _, r := range runs(g) {
				if r.StartedAt.After(t0) {
					n++
				}
			}
			g.Expect(n).To(Equal(1))
		}).WithTimeout(4 * time.Second).Should(Succeed())
		return run, run.StartedAt.Sub(t0)
	}

	g.Expect(c.Create(ctx, communitySecret("dc1", "snmp", "public"))).To(Succeed())
	t0 := time.Now()
	rack1 := pdu("dc1", "rack1", "192.0.2.1", "apc-rpdu2", "snmp")
	g.Expect(c.Create(ctx, rack1)).To(Succeed())
	_, created := rerunAfter(t0, "PDU dc1/rack1")
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(energy), energy)).To(Succeed())
		g.Expect(energy.Status.LastTrigger).NotTo(BeNil())
		g.Expect(energy.Status.LastTrigger.Trigger).To(Equal("PDU dc1/rack1"))
		g.Expect(energy.Status.LastTrigger.Error).To(BeEmpty())
	}).WithTimeout(30 * time.Second).Should(Succeed())

	// An edit in the apiserver reruns it within seconds.
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(rack1), rack1)).To(Succeed())
	rack1.Spec.Labels["room"] = "r2"
	t1 := time.Now()
	g.Expect(c.Update(ctx, rack1)).To(Succeed())
	_, edited := rerunAfter(t1, "PDU dc1/rack1")
	g.Expect(edited).To(BeNumerically("<", 10*time.Second), "edit to rerun")

	// A burst is one rerun naming every PDU.
	t2 := time.Now()
	var names []string
	for _, n := range []string{"p1", "p2", "p3", "p4", "p5"} {
		g.Expect(c.Create(ctx, pdu("dc1", n, "192.0.2.1"+n[1:], "apc-rpdu2", "snmp"))).To(Succeed())
		names = append(names, "PDU dc1/"+n)
	}
	_, burst := rerunAfter(t2, strings.Join(names, "; "))

	// Annotations and status are not changes.
	t3 := time.Now()
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(rack1), rack1)).To(Succeed())
	rack1.Annotations = map[string]string{"note": "looked at"}
	g.Expect(c.Update(ctx, rack1)).To(Succeed())
	g.Consistently(func(g Gomega) {
		for _, r := range runs(g) {
			g.Expect(r.StartedAt.After(t3)).To(BeFalse(), "run %s (%s) after an annotation", r.ID, r.Trigger)
		}
	}).WithTimeout(5 * time.Second).Should(Succeed())

	// PDUModels trigger too.
	t4 := time.Now()
	g.Expect(c.Create(ctx, rackModel("rackpdu"))).To(Succeed())
	_, model := rerunAfter(t4, "PDUModel rackpdu")
	t.Logf("change to rerun start: PDU created %s, PDU edited %s, 5 PDUs in a burst %s, PDUModel created %s (operator debounce 500ms, plus the runtime's own)",
		created.Round(time.Millisecond), edited.Round(time.Millisecond), burst.Round(time.Millisecond), model.Round(time.Millisecond))

	if strict {
		// Without the operator's token the runtime refuses.
		resp, err := http.Post(url+"/rerun?trigger=anonymous", "", nil)
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
	}
}
