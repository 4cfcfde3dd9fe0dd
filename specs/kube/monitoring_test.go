package kube_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/specs/kube"
)

// TestScrapeObjectThroughPrometheusOperatorClient reads PDUs' ScrapeConfigs and Probes with
// prometheus-operator's clientset on a real apiserver serving its CRDs, as the PDU spec does in a
// cluster, and checks who controls them.
func TestScrapeObjectThroughPrometheusOperatorClient(t *testing.T) {
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{filepath.Join(root, "operator", "config", "crd", "bases")}, PrometheusOperatorCRDs: true})
	c, err := kube.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := kube.NewMonitoringClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	g := NewWithT(t)
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dc1"}})).To(Succeed())

	newPDU := func(name, scrapeObject string) *v1alpha1.PDU {
		p := &v1alpha1.PDU{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "dc1"},
			Spec: v1alpha1.PDUSpec{Address: "192.0.2.1", Model: "apc-rpdu2",
				SNMP: v1alpha1.SNMP{SecretRef: v1alpha1.SecretReference{Name: "snmp"}}},
		}
		g.Expect(c.Create(ctx, p)).To(Succeed())
		p.Status.ScrapeObject = scrapeObject
		g.Expect(c.Status().Update(ctx, p)).To(Succeed())
		return p
	}
	controlled := func(p *v1alpha1.PDU) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: v1alpha1.GroupVersion.String(), Kind: "PDU", Name: p.Name, UID: p.UID, Controller: new(true),
		}}}
	}

	// A ScrapeConfig the PDU controls.
	a := newPDU("a", "ScrapeConfig dc1/a")
	g.Expect(kube.ScrapeObjectKind(a)).To(Equal("ScrapeConfig"))
	sc := &monitoringv1alpha1.ScrapeConfig{ObjectMeta: controlled(a), Spec: monitoringv1alpha1.ScrapeConfigSpec{
		StaticConfigs: []monitoringv1alpha1.StaticConfig{{Targets: []monitoringv1alpha1.Target{"192.0.2.1:161"}}}}}
	_, err = mc.MonitoringV1alpha1().ScrapeConfigs("dc1").Create(ctx, sc, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	obj, err := kube.ScrapeObject(c, mc, &v1alpha1.PDU{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "dc1"}})(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(obj).To(BeAssignableToTypeOf(&monitoringv1alpha1.ScrapeConfig{}))
	g.Expect(obj).To(kube.BeControlledBy(a))
	g.Expect(obj).To(kube.MatchYAML(`spec: {staticConfigs: [{targets: ["192.0.2.1:161"]}]}`))

	// A Probe controlled by another PDU: the message names both.
	b := newPDU("b", "Probe dc1/b")
	probe := &monitoringv1.Probe{ObjectMeta: controlled(a), Spec: monitoringv1.ProbeSpec{Module: "apc-rpdu2", ProberSpec: monitoringv1.ProberSpec{URL: "snmp-exporter:9116"}}}
	probe.Name = "b"
	_, err = mc.MonitoringV1().Probes("dc1").Create(ctx, probe, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	obj, err = kube.ScrapeObject(c, mc, b)(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(obj).To(BeAssignableToTypeOf(&monitoringv1.Probe{}))
	assertFails(t, kube.BeControlledBy(b), obj, "Expected Probe dc1/b to be controlled by PDU dc1/b", "its controller is PDU a (uid "+string(a.UID)+")")

	// The status names a ScrapeConfig that is not there: an error naming it and the PDU.
	gone := newPDU("gone", "ScrapeConfig dc1/gone")
	_, err = kube.ScrapeObject(c, mc, gone)(ctx)
	g.Expect(err).To(MatchError(And(ContainSubstring("get ScrapeConfig dc1/gone (status.scrapeObject of PDU dc1/gone)"), ContainSubstring("not found"))))

	// An object nobody controls.
	orphan := newPDU("orphan", "ScrapeConfig dc1/orphan")
	_, err = mc.MonitoringV1alpha1().ScrapeConfigs("dc1").Create(ctx, &monitoringv1alpha1.ScrapeConfig{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "dc1"}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	obj, err = kube.ScrapeObject(c, mc, orphan)(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	assertFails(t, kube.BeControlledBy(orphan), obj, "it has no controller reference")

	// A plain scrape job stops Eventually at once.
	plain := newPDU("plain", "job "+v1alpha1.PDUJob+" in Secret "+v1alpha1.ScrapeConfigsName)
	g.Expect(kube.ScrapeObjectKind(plain)).To(BeEmpty())
	start := time.Now()
	msg := failure(func(g Gomega) {
		g.Eventually(ctx, kube.ScrapeObject(c, mc, plain)).WithTimeout(time.Minute).Should(kube.BeControlledBy(plain))
	})
	if took := time.Since(start); took > 10*time.Second || !strings.Contains(msg, "PDU dc1/plain names no ScrapeConfig or Probe") {
		t.Errorf("after %s: %s", took, msg)
	}
}

// failure runs fn with a Gomega whose failure is captured instead of failing the test.
func failure(fn func(g Gomega)) (msg string) {
	g := NewGomega(func(message string, _ ...int) {
		msg = message
		panic(captured{})
	})
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(captured); !ok {
				panic(r)
			}
		}
	}()
	fn(g)
	return ""
}

type captured struct{}
