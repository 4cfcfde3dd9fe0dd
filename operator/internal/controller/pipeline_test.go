package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/snmp_exporter/config"
	yaml "go.yaml.in/yaml/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// TestPipelinePlain runs the operator where prometheus-operator's CRDs are absent: it must fall
// back to a plain scrape configuration Secret and a rules ConfigMap, and handle every kind of bad
// input without disturbing the good PDUs.
func TestPipelinePlain(t *testing.T) {
	cfg, c := startKube(t, false)
	startOperator(t, cfg, nil)
	ctx := context.Background()
	g := NewWithT(t)

	g.Expect(c.Create(ctx, mibConfigMap(t))).To(Succeed())
	model := rackModel("rackpdu")
	g.Expect(c.Create(ctx, model)).To(Succeed())
	expectCondition(t, c, model, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.CompiledReason)
	g.Expect(model.Status.Module).To(Equal("rackpdu"))
	g.Expect(model.Status.Energy).To(HaveLen(3))
	g.Expect(model.Status.Energy[2].LocationLabel).To(Equal("wrpOutletIndex"))
	g.Expect(model.Status.MIBFiles).To(Equal([]string{"rackpdu-mibs/WATTSON-RACKPDU-MIB"}))

	g.Expect(c.Create(ctx, communitySecret("dc1", "snmp", "s3cret"))).To(Succeed())
	good := pdu("dc1", "rack1", "192.0.2.1", "rackpdu", "snmp")
	g.Expect(c.Create(ctx, good)).To(Succeed())
	expectCondition(t, c, good, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.ConfiguredReason)
	expectCondition(t, c, good, v1alpha1.CollectingCondition, metav1.ConditionUnknown, v1alpha1.PrometheusNotConfiguredReason)
	g.Expect(good.Status.Module).To(Equal("rackpdu"))
	g.Expect(good.Spec.Port).To(Equal(int32(161)), "the CRD defaults the port")
	g.Expect(good.Spec.Interval).To(Equal(v1alpha1.PrometheusDuration("60s")), "the CRD defaults the interval")

	// The whole snmp.yml, community included, is in a Secret, and snmp_exporter's config
	// package parses it with the module and the auth.
	var snmp config.Config
	var hash string
	g.Eventually(func(g Gomega) {
		raw := secretData(ctx, g, c, v1alpha1.ExporterConfigName, v1alpha1.SNMPConfigKey)
		snmp = config.Config{}
		g.Expect(yaml.UnmarshalStrict([]byte(raw), &snmp)).To(Succeed())
		g.Expect(snmp.Modules).To(HaveKey("rackpdu"))
		g.Expect(snmp.Auths).To(HaveKey(good.Status.Auth))
		g.Expect(string(snmp.Auths[good.Status.Auth].Community)).To(Equal("s3cret"))
		hash = exporterHash(ctx, g, c)
	}).WithTimeout(20 * time.Second).Should(Succeed())
	var cms corev1.ConfigMapList
	g.Expect(c.List(ctx, &cms)).To(Succeed())
	for _, cm := range cms.Items {
		for k, v := range cm.Data {
			g.Expect(v).NotTo(ContainSubstring("s3cret"), "community leaked into ConfigMap %s/%s key %s", cm.Namespace, cm.Name, k)
		}
	}
	var svc corev1.Service
	g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: v1alpha1.ExporterName}, &svc)).To(Succeed())
	g.Expect(svc.Spec.Ports[0].Port).To(Equal(int32(v1alpha1.ExporterPort)))

	// Plain mode: a scrape configuration Secret and a rules ConfigMap.
	g.Eventually(func(g Gomega) {
		scrape := secretData(ctx, g, c, v1alpha1.ScrapeConfigsName, v1alpha1.ScrapeConfigsKey)
		g.Expect(scrape).To(ContainSubstring("192.0.2.1:161"))
		g.Expect(scrape).To(ContainSubstring("site: ams1"))
		var rules corev1.ConfigMap
		g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: v1alpha1.RecordingRulesName}, &rules)).To(Succeed())
		g.Expect(rules.Data[v1alpha1.RecordingRulesKey]).To(ContainSubstring(`wrpDevicePower{model="rackpdu"} * 10`))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	t.Run("bad input", func(t *testing.T) {
		g := NewWithT(t)
		cases := []struct {
			name   string
			pdu    *v1alpha1.PDU
			reason string
			field  string
		}{
			{"missing secret", pdu("dc1", "nosecret", "192.0.2.2", "rackpdu", "absent"), v1alpha1.SecretNotFoundReason, "spec.snmp.secretRef.name"},
			{"unknown model", pdu("dc1", "nomodel", "192.0.2.3", "no-such-model", "snmp"), v1alpha1.ModelNotFoundReason, "spec.model"},
			{"duplicate address", pdu("dc2", "twin", "192.0.2.1", "rackpdu", "snmp"), v1alpha1.DuplicateAddressReason, "spec.address"},
			{"timeout above interval", func() *v1alpha1.PDU {
				p := pdu("dc1", "slow", "192.0.2.4", "rackpdu", "snmp")
				p.Spec.Interval, p.Spec.Timeout = "10s", "30s"
				return p
			}(), v1alpha1.InvalidSpecReason, "spec.timeout"},
			{"secret without community", pdu("dc1", "nokey", "192.0.2.5", "rackpdu", "v3only"), v1alpha1.SecretKeyMissingReason, "spec.snmp.secretRef"},
		}
		g.Expect(c.Create(ctx, communitySecret("dc2", "snmp", "other"))).To(Succeed())
		g.Expect(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "dc1", Name: "v3only"}, StringData: map[string]string{"username": "u"}})).To(Succeed())
		for _, tc := range cases {
			g.Expect(c.Create(ctx, tc.pdu)).To(Succeed(), tc.name)
		}
		for _, tc := range cases {
			cond := expectCondition(t, c, tc.pdu, v1alpha1.ReadyCondition, metav1.ConditionFalse, tc.reason)
			g.Expect(cond.Message).To(HavePrefix(tc.field), tc.name)
			expectCondition(t, c, tc.pdu, v1alpha1.CollectingCondition, metav1.ConditionFalse, v1alpha1.NotReadyReason)
		}
		// The twin in dc2 is told the address is taken, not which PDU of dc1 has it.
		dup := condition(ctx, g, c, cases[2].pdu, v1alpha1.ReadyCondition)
		g.Expect(dup.Message).To(ContainSubstring("is already read by another PDU"))
		g.Expect(dup.Message).NotTo(ContainSubstring("dc1"))
		// The apiserver itself refuses a malformed interval, naming the field.
		bad := pdu("dc1", "badinterval", "192.0.2.9", "rackpdu", "snmp")
		bad.Spec.Interval = "every minute"
		err := c.Create(ctx, bad)
		g.Expect(err).To(MatchError(ContainSubstring("spec.interval")))
		// A label that would overwrite Wattson's own is refused too.
		bad = pdu("dc1", "badlabel", "192.0.2.9", "rackpdu", "snmp")
		bad.Spec.Labels = map[string]string{"pdu": "x"}
		g.Expect(c.Create(ctx, bad)).To(MatchError(ContainSubstring("labels")))

		// The good PDU is untouched and is the only one in the exporter's and Prometheus' config.
		expectCondition(t, c, good, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.ConfiguredReason)
		g.Eventually(func(g Gomega) {
			scrape := secretData(ctx, g, c, v1alpha1.ScrapeConfigsName, v1alpha1.ScrapeConfigsKey)
			g.Expect(strings.Count(scrape, "targets:")).To(Equal(1), scrape)
		}).WithTimeout(10 * time.Second).Should(Succeed())

		// Fixing the input heals the PDU: the Secret appears, the PDU becomes Ready.
		g.Expect(c.Create(ctx, communitySecret("dc1", "absent", "late"))).To(Succeed())
		expectCondition(t, c, cases[0].pdu, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.ConfiguredReason)
		// The duplicate's owner goes away: the twin takes over the address.
		g.Expect(c.Delete(ctx, good)).To(Succeed())
		expectCondition(t, c, cases[2].pdu, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.ConfiguredReason)
	})

	t.Run("bad models", func(t *testing.T) {
		g := NewWithT(t)
		noMIB := rackModel("nomib")
		noMIB.Spec.MIBs = []v1alpha1.MIBModuleName{"WATTSON-RACKPDU-MIB", "NO-SUCH-MIB"}
		badWalk := rackModel("badwalk")
		badWalk.Spec.Walk = append(badWalk.Spec.Walk, "wrpNoSuchObject")
		badScale := rackModel("badscale")
		badScale.Spec.Energy[0].LocationLabel = "nope"
		badScale.Spec.Energy[0].Scope = v1alpha1.ScopeInlet
		for _, m := range []*v1alpha1.PDUModel{noMIB, badWalk, badScale} {
			g.Expect(c.Create(ctx, m)).To(Succeed())
		}
		cond := expectCondition(t, c, noMIB, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.MIBNotFoundReason)
		g.Expect(cond.Message).To(HavePrefix("spec.mibs[1]: MIB module NO-SUCH-MIB"))
		cond = expectCondition(t, c, badWalk, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.CompileFailedReason)
		g.Expect(cond.Message).To(ContainSubstring("wrpNoSuchObject"))
		cond = expectCondition(t, c, badScale, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.InvalidSpecReason)
		g.Expect(cond.Message).To(HavePrefix("spec.energy[0].locationLabel"))
		// Two vendors' MIBs define outletCurrent; listing both leaves it ambiguous.
		vendors := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "scoped-mibs", Namespace: opNamespace, Labels: map[string]string{v1alpha1.MIBLabel: "true"}},
			Data:       map[string]string{},
		}
		for _, f := range []string{"WATTSON-ALPHA-MIB", "WATTSON-BETA-MIB"} {
			b, err := os.ReadFile(filepath.Join("..", "generator", "testdata", "mibs", "scoped", f))
			g.Expect(err).NotTo(HaveOccurred())
			vendors.Data[f] = string(b)
		}
		g.Expect(c.Create(ctx, vendors)).To(Succeed())
		ambiguous := &v1alpha1.PDUModel{
			ObjectMeta: metav1.ObjectMeta{Name: "ambiguous"},
			Spec: v1alpha1.PDUModelSpec{
				MIBs: []v1alpha1.MIBModuleName{"WATTSON-ALPHA-MIB", "WATTSON-BETA-MIB"},
				Walk: []v1alpha1.ObjectName{"outletCurrent"},
			},
		}
		g.Expect(c.Create(ctx, ambiguous)).To(Succeed())
		cond = expectCondition(t, c, ambiguous, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.AmbiguousNameReason)
		g.Expect(cond.Message).To(And(ContainSubstring("WATTSON-ALPHA-MIB::outletCurrent"), ContainSubstring("WATTSON-BETA-MIB::outletCurrent"), ContainSubstring("write MODULE::outletCurrent")))
		p := pdu("dc1", "onbadmodel", "192.0.2.20", "badwalk", "snmp")
		g.Expect(c.Create(ctx, p)).To(Succeed())
		expectCondition(t, c, p, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.ModelNotReadyReason)
	})

	t.Run("last good module", func(t *testing.T) {
		g := NewWithT(t)
		before := hash
		g.Eventually(func(g Gomega) { before = exporterHash(ctx, g, c) }).Should(Succeed())
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(model), model)).To(Succeed())
		model.Spec.Walk = append(model.Spec.Walk, "wrpNoSuchObject")
		g.Expect(c.Update(ctx, model)).To(Succeed())
		expectCondition(t, c, model, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.CompileFailedReason)
		// The exporter keeps the module it had, and is not rolled.
		g.Consistently(func(g Gomega) {
			raw := secretData(ctx, g, c, v1alpha1.ExporterConfigName, v1alpha1.SNMPConfigKey)
			g.Expect(raw).To(ContainSubstring("wrpDevicePower"))
			g.Expect(exporterHash(ctx, g, c)).To(Equal(before))
		}).WithTimeout(3 * time.Second).Should(Succeed())
	})

	t.Run("config hash rolls the exporter", func(t *testing.T) {
		g := NewWithT(t)
		var before string
		g.Eventually(func(g Gomega) { before = exporterHash(ctx, g, c) }).Should(Succeed())
		var s corev1.Secret
		g.Expect(c.Get(ctx, types.NamespacedName{Namespace: "dc2", Name: "snmp"}, &s)).To(Succeed())
		s.Data[v1alpha1.CommunityKey] = []byte("rotated")
		g.Expect(c.Update(ctx, &s)).To(Succeed())
		g.Eventually(func(g Gomega) {
			g.Expect(secretData(ctx, g, c, v1alpha1.ExporterConfigName, v1alpha1.SNMPConfigKey)).To(ContainSubstring("rotated"))
			g.Expect(exporterHash(ctx, g, c)).NotTo(Equal(before))
		}).WithTimeout(10 * time.Second).Should(Succeed())
	})

	t.Run("snmpv3 keys go through the environment", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "dc1", Name: "v3"}, StringData: map[string]string{
			"username": "wattson", "authPassword": "auth-key-123", "privPassword": "priv-key-456",
		}})).To(Succeed())
		p := pdu("dc1", "secure", "192.0.2.30", "rackpdu", "v3")
		p.Spec.SNMP.Version, p.Spec.SNMP.SecurityLevel = v1alpha1.SNMPv3, v1alpha1.AuthPriv
		p.Spec.SNMP.AuthProtocol, p.Spec.SNMP.PrivProtocol = "SHA256", "AES"
		g.Expect(c.Create(ctx, p)).To(Succeed())
		// The model is broken from the previous step; fix it first.
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(model), model)).To(Succeed())
		model.Spec.Walk = model.Spec.Walk[:3]
		g.Expect(c.Update(ctx, model)).To(Succeed())
		expectCondition(t, c, p, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.ConfiguredReason)
		g.Eventually(func(g Gomega) {
			raw := secretData(ctx, g, c, v1alpha1.ExporterConfigName, v1alpha1.SNMPConfigKey)
			g.Expect(raw).NotTo(ContainSubstring("auth-key-123"))
			g.Expect(raw).To(ContainSubstring("${WATTSON_"))
			var env corev1.Secret
			g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: v1alpha1.ExporterEnvName}, &env)).To(Succeed())
			var values []string
			for _, v := range env.Data {
				values = append(values, string(v))
			}
			g.Expect(values).To(ConsistOf("wattson", "auth-key-123", "priv-key-456"))
			var dep appsv1.Deployment
			g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: v1alpha1.ExporterName}, &dep)).To(Succeed())
			g.Expect(dep.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--config.expand-environment-variables"))
			g.Expect(dep.Spec.Template.Spec.Containers[0].EnvFrom[0].SecretRef.Name).To(Equal(v1alpha1.ExporterEnvName))
		}).WithTimeout(10 * time.Second).Should(Succeed())
	})
}

func exporterHash(ctx context.Context, g Gomega, c client.Client) string {
	var dep appsv1.Deployment
	g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: v1alpha1.ExporterName}, &dep)).To(Succeed())
	h := dep.Spec.Template.Annotations[v1alpha1.ConfigHashAnnotation]
	g.Expect(h).NotTo(BeEmpty())
	return h
}
