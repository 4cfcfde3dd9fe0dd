package specs_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/specs/prom"
)

var _ = Describe("Monitoring stack", Label("stack"), func() {
	It("Prometheus has Wattson's rules loaded and evaluating", func(ctx SpecContext) {
		groups := []string{"wattson.pdu.totals", "wattson.pdu"}
		var models v1alpha1.PDUModelList
		Expect(k8s.List(ctx, &models)).To(Succeed())
		for _, m := range models.Items {
			if len(m.Spec.Energy) > 0 {
				groups = append(groups, "wattson.pdumodel."+m.Name) // the operator's recording rules
			}
		}
		for _, g := range groups {
			Eventually(ctx, prom.Rules()).Should(prom.HaveRuleGroup(g))
		}
		// The runtime's alerts: from its Suite's PrometheusRule (wattson.suite.NAMESPACE.NAME, the
		// kit) or from monitoring/rules/wattson-runtime.yaml (wattson.runtime, a runtime run
		// without the operator); the same rules either way.
		for _, a := range []string{"WattsonSpecFailing", "WattsonRuntimeAbsent", "WattsonRuntimeStale", "WattsonHarnessErrors"} {
			Eventually(ctx, prom.Rules()).Should(prom.HaveAlertingRule(a))
		}
	})

	It("Prometheus sends alerts to an Alertmanager", func(ctx SpecContext) {
		Eventually(ctx, promc.Alertmanagers).Should(Not(BeEmpty()), "Prometheus has no active Alertmanager")
	})

	It("Alertmanager answers", func(ctx SpecContext) {
		Expect(am.Ready(ctx)).To(Succeed())
		st, err := am.Status(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Config.Original).NotTo(BeEmpty(), "Alertmanager has no configuration loaded")
		Expect(st.Cluster.Status).To(BeElementOf("ready", "disabled"), "Alertmanager's cluster is %s", st.Cluster.Status)
	})

	It("the runtime's own metrics are scraped", Label("runtime"), func(ctx SpecContext) {
		// wattson_runtime_ready is exported from the runtime's start (0 until its first run), so
		// its presence means Prometheus scrapes the runtime.
		Eventually(ctx, prom.Query("wattson_runtime_ready")).Should(prom.EverySeries(BeNumerically(">=", 0)))
		// A sample older than five minutes means the scrapes stopped.
		Eventually(ctx, prom.Query("time() - timestamp(wattson_runtime_ready)")).Should(prom.EverySeries(BeNumerically("<", 300)),
			"the runtime's metrics are no longer scraped")
	})
})
