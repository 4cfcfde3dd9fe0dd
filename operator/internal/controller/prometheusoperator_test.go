package controller_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/controller"
)

// TestPipelinePrometheusOperator runs the operator with prometheus-operator's CRDs installed:
// one ScrapeConfig (or Probe) per PDU, owned by it, and a PrometheusRule; no plain config.
func TestPipelinePrometheusOperator(t *testing.T) {
	cfg, c := startKube(t, true)
	startOperator(t, cfg, nil)
	ctx := context.Background()
	g := NewWithT(t)

	g.Expect(c.Create(ctx, mibConfigMap(t))).To(Succeed())
	g.Expect(c.Create(ctx, rackModel("rackpdu"))).To(Succeed())
	g.Expect(c.Create(ctx, communitySecret("dc1", "snmp", "s3cret"))).To(Succeed())
	p := pdu("dc1", "rack1", "192.0.2.1", "rackpdu", "snmp")
	g.Expect(c.Create(ctx, p)).To(Succeed())
	expectCondition(t, c, p, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.ConfiguredReason)
	g.Expect(p.Status.ScrapeObject).To(Equal("ScrapeConfig dc1/rack1"))

	var sc monitoringv1alpha1.ScrapeConfig
	g.Expect(c.Get(ctx, types.NamespacedName{Namespace: "dc1", Name: "rack1"}, &sc)).To(Succeed())
	g.Expect(metav1.IsControlledBy(&sc, p)).To(BeTrue(), "the ScrapeConfig is owned by its PDU")
	g.Expect(sc.Spec.Params).To(Equal(map[string][]string{"module": {"rackpdu"}, "auth": {p.Status.Auth}}))
	g.Expect(sc.Spec.StaticConfigs[0].Targets).To(ConsistOf(monitoringv1alpha1.Target("192.0.2.1:161")))
	g.Expect(sc.Spec.StaticConfigs[0].Labels).To(HaveKeyWithValue("site", "ams1"))
	g.Expect(sc.Spec.StaticConfigs[0].Labels).To(HaveKeyWithValue("pdu", "rack1"))
	g.Expect(*sc.Spec.ScrapeInterval).To(Equal(monitoringv1.Duration("60s")))
	g.Expect(sc.Labels).To(HaveKeyWithValue(v1alpha1.ManagedByLabel, v1alpha1.ManagedBy))

	g.Eventually(func(g Gomega) {
		var pr monitoringv1.PrometheusRule
		g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: v1alpha1.RecordingRulesName}, &pr)).To(Succeed())
		g.Expect(pr.Spec.Groups).To(HaveLen(1))
		g.Expect(pr.Spec.Groups[0].Rules[0].Record).To(Equal("wattson_pdu_power_watts"))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	err := c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: v1alpha1.ScrapeConfigsName}, &corev1.Secret{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no plain scrape config with prometheus-operator: %v", err)

	// Switching to a Probe replaces the ScrapeConfig.
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
	p.Spec.ScrapeResource = v1alpha1.ProbeResource
	g.Expect(c.Update(ctx, p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		var probe monitoringv1.Probe
		g.Expect(c.Get(ctx, types.NamespacedName{Namespace: "dc1", Name: "rack1"}, &probe)).To(Succeed())
		g.Expect(probe.Spec.Module).To(Equal("rackpdu"))
		g.Expect(probe.Spec.ProberSpec.URL).To(Equal(controller.ExporterAddress(opNamespace)))
		err := c.Get(ctx, types.NamespacedName{Namespace: "dc1", Name: "rack1"}, &monitoringv1alpha1.ScrapeConfig{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// Losing the Secret takes the PDU out: Ready=False and no scrape object.
	g.Expect(c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "dc1", Name: "snmp"}})).To(Succeed())
	expectCondition(t, c, p, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.SecretNotFoundReason)
	g.Eventually(func() bool {
		return apierrors.IsNotFound(c.Get(ctx, types.NamespacedName{Namespace: "dc1", Name: "rack1"}, &monitoringv1.Probe{}))
	}).WithTimeout(10 * time.Second).Should(BeTrue())
}
