package kube_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/specs/kube"
)

func TestAgainstRealAPIServer(t *testing.T) {
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{filepath.Join(root, "operator", "config", "crd", "bases")}})
	c, err := kube.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	g := NewWithT(t)

	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dc1"}})).To(Succeed())
	pdu := &v1alpha1.PDU{
		ObjectMeta: metav1.ObjectMeta{Name: "rack-a01-pdu1", Namespace: "dc1"},
		Spec: v1alpha1.PDUSpec{
			Address: "10.0.1.11", Model: "apc-rpdu2",
			SNMP:   v1alpha1.SNMP{SecretRef: v1alpha1.SecretReference{Name: "pdu-community"}},
			Labels: map[string]string{"site": "ams1", "room": "r1", "rack": "a01"},
		},
	}
	g.Expect(c.Create(ctx, pdu)).To(Succeed())

	// Before the status is written there is no condition.
	fresh := &v1alpha1.PDU{ObjectMeta: metav1.ObjectMeta{Name: "rack-a01-pdu1", Namespace: "dc1"}}
	get := kube.Get(c, fresh)
	obj, err := get(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	assertFails(t, kube.HaveCondition(v1alpha1.ReadyCondition, metav1.ConditionTrue), obj,
		"Expected condition Ready=True: PDU dc1/rack-a01-pdu1 has no condition Ready; its conditions: []")

	now := metav1.Now()
	pdu.Status.Conditions = []metav1.Condition{
		{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ConfiguredReason, Message: "scraped", ObservedGeneration: pdu.Generation, LastTransitionTime: now},
		{Type: v1alpha1.CollectingCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.TargetDownReason, Message: "up is 0", ObservedGeneration: pdu.Generation, LastTransitionTime: now},
	}
	g.Expect(c.Status().Update(ctx, pdu)).To(Succeed())

	// The defaults the apiserver filled in (port 161, interval 60s) are visible to MatchYAML.
	g.Eventually(ctx, get).WithTimeout(5 * time.Second).Should(And(
		kube.HaveCondition(v1alpha1.ReadyCondition, metav1.ConditionTrue),
		kube.HaveCondition(v1alpha1.ReadyCondition, metav1.ConditionTrue, "Other", v1alpha1.ConfiguredReason),
		kube.HaveCondition(v1alpha1.CollectingCondition, metav1.ConditionFalse),
		kube.MatchYAML(`
apiVersion: wattson.dev/v1alpha1
kind: PDU
metadata: {name: rack-a01-pdu1, labels: null}
spec:
  port: 161
  interval: 60s
  labels: {site: ams1}
  snmp: {version: v2c}
status:
  conditions:           # a subset, in any order
  - {type: Collecting, status: "False"}
  - {type: Ready, reason: Configured}
`)))

	obj, _ = get(ctx)
	for _, tc := range []struct {
		name    string
		matcher types.GomegaMatcher
		want    []string
	}{
		{"wrong status", kube.HaveCondition(v1alpha1.CollectingCondition, metav1.ConditionTrue),
			[]string{"PDU dc1/rack-a01-pdu1: condition Collecting is Collecting=False (TargetDown: up is 0), want True"}},
		{"wrong reason", kube.HaveCondition(v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.CompiledReason),
			[]string{`has reason "Configured", want Compiled`}},
		{"scalar", kube.MatchYAML("spec: {address: 10.0.1.12}"),
			[]string{`PDU dc1/rack-a01-pdu1 does not match the expected YAML`, `spec.address: want "10.0.1.12", got "10.0.1.11"`}},
		{"missing field", kube.MatchYAML("spec: {labels: {row: '7'}}"),
			[]string{`spec.labels.row: missing, want "7"`}},
		{"number", kube.MatchYAML("spec: {port: 162}"),
			[]string{"spec.port: want 162, got 161"}},
		{"list element nobody matches, with the closest", kube.MatchYAML("status: {conditions: [{type: Collecting, status: 'True'}]}"),
			[]string{`status.conditions: no element of 2 matches {"status":"True","type":"Collecting"}; closest is [1]: status.conditions[1].status: want "True", got "False"`}},
		{"one live element cannot match two", kube.MatchYAML("status: {conditions: [{type: Ready}, {status: 'True'}, {status: 'True'}]}"),
			[]string{"status.conditions: the 3 wanted elements cannot each match a different one of the 2 elements"}},
		{"shape", kube.MatchYAML("spec: {labels: [a]}"),
			[]string{`spec.labels: want a list, got {"rack":"a01","room":"r1","site":"ams1"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) { assertFails(t, tc.matcher, obj, tc.want...) })
	}

	t.Run("stale condition", func(t *testing.T) {
		g := NewWithT(t)
		pdu.Spec.Interval = "30s" // a spec change bumps the generation; the status still describes the old one
		g.Expect(c.Update(ctx, pdu)).To(Succeed())
		obj, err := get(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(obj.Generation).To(BeNumerically(">", obj.Status.Conditions[0].ObservedGeneration))
		assertFails(t, kube.HaveCondition(v1alpha1.ReadyCondition, metav1.ConditionTrue), obj,
			"describes generation 1, but the object is at generation 2")
	})

	t.Run("unstructured and core objects", func(t *testing.T) {
		g := NewWithT(t)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mibs", Namespace: "dc1", Labels: map[string]string{v1alpha1.MIBLabel: "true"}},
			Data: map[string]string{"PowerNet-MIB": "PowerNet-MIB DEFINITIONS ::= BEGIN END"}}
		g.Expect(c.Create(ctx, cm)).To(Succeed())
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("ConfigMap")
		u.SetNamespace("dc1")
		u.SetName("mibs")
		g.Eventually(ctx, kube.Get[client.Object](c, u)).WithTimeout(5 * time.Second).
			Should(kube.MatchYAML(`{metadata: {labels: {wattson.dev/mib: "true"}}, data: {PowerNet-MIB: "PowerNet-MIB DEFINITIONS ::= BEGIN END"}}`))
	})

	t.Run("not found names the object", func(t *testing.T) {
		_, err := kube.Get(c, &v1alpha1.PDU{ObjectMeta: metav1.ObjectMeta{Name: "ghost", Namespace: "dc1"}})(ctx)
		if err == nil || !strings.Contains(err.Error(), "get PDU dc1/ghost") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("bad YAML is an error, not a failure", func(t *testing.T) {
		_, err := kube.MatchYAML("spec: [unclosed").Match(obj)
		if err == nil || !strings.Contains(err.Error(), "not YAML") {
			t.Errorf("err = %v", err)
		}
	})
}

func assertFails(t *testing.T, m types.GomegaMatcher, actual any, want ...string) {
	t.Helper()
	ok, err := m.Match(actual)
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	if ok {
		t.Fatalf("matcher succeeded, want a failure containing %q", want)
	}
	msg := m.FailureMessage(actual)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("failure message lacks %q:\n%s", w, msg)
		}
	}
}

func TestPartialMatchRules(t *testing.T) {
	for _, tc := range []struct {
		name, want, got string
		diffs           int
	}{
		{"extra live fields are fine", "{a: 1}", `{"a": 1, "b": 2}`, 0},
		{"null wants absent", "{a: null}", `{"b": 2}`, 0},
		{"null rejects a value", "{a: null}", `{"a": 2}`, 1},
		{"lists in any order", "[2, 1]", `[1, 2, 3]`, 0},
		{"list subset needs distinct partners", "[1, 1]", `[1, 2]`, 1},
		{"types differ", `{a: "1"}`, `{"a": 1}`, 1},
		{"nested", "{a: {b: [{c: x}]}}", `{"a": {"b": [{"c": "y"}, {"c": "x", "d": 1}]}}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got any
			if err := yamlUnmarshal(tc.want, &want); err != nil {
				t.Fatal(err)
			}
			if err := yamlUnmarshal(tc.got, &got); err != nil {
				t.Fatal(err)
			}
			if d := kube.PartialMatch(want, got); len(d) != tc.diffs {
				t.Errorf("PartialMatch(%s, %s) = %q, want %d differences", tc.want, tc.got, d, tc.diffs)
			}
		})
	}
}

func yamlUnmarshal(s string, v any) error { return yaml.Unmarshal([]byte(s), v) }
