package specs_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/specs/kube"
	"github.com/wattson-dev/wattson/specs/prom"
)

var _ = Describe("PDUs", Label("pdu"), func() {
	It("are all Ready and Collecting", func(ctx SpecContext) {
		for _, p := range listPDUs(ctx) {
			Eventually(ctx, kube.Get(k8s, &p)).Should(And(
				kube.HaveCondition(v1alpha1.ReadyCondition, metav1.ConditionTrue),
				kube.HaveCondition(v1alpha1.CollectingCondition, metav1.ConditionTrue),
			))
		}
	})

	It("are scraped through the ScrapeConfig or Probe their status names, which they control", func(ctx SpecContext) {
		checked := 0
		for _, p := range listPDUs(ctx) {
			if kube.ScrapeObjectKind(&p) == "" {
				continue // a plain scrape job (no prometheus-operator): the scrape specs cover it
			}
			Eventually(ctx, kube.ScrapeObject(k8s, mon, &p)).Should(kube.BeControlledBy(&p),
				"PDU %s/%s: its %s is not the operator's", p.Namespace, p.Name, p.Status.ScrapeObject)
			checked++
		}
		if checked == 0 {
			Skip("no PDU is scraped through prometheus-operator here: the operator writes a plain scrape job")
		}
	})

	It("are scraped: target up, with fresh samples", func(ctx SpecContext) {
		for _, p := range listPDUs(ctx) {
			sel := pduLabels(p)
			sel["job"] = v1alpha1.PDUJob
			up := prom.Selector("up", sel)
			Eventually(ctx, prom.Query(up)).Should(prom.HaveSeries(sel, Equal(1.0)),
				"PDU %s/%s is not scraped successfully", p.Namespace, p.Name)
			// A sample older than StaleAfterIntervals intervals means the scrapes stopped (the
			// operator's SamplesStale reason uses the same bound).
			Eventually(ctx, prom.Query("time() - timestamp("+up+")")).Should(
				prom.EverySeries(BeNumerically("<", v1alpha1.StaleAfterIntervals*interval(p).Seconds())),
				"the last scrape of PDU %s/%s (interval %s) is too old, in seconds", p.Namespace, p.Name, interval(p))
			Eventually(ctx, prom.Query(prom.Selector("scrape_samples_scraped", sel))).Should(
				prom.EverySeries(BeNumerically(">", 0)), "scrapes of PDU %s/%s return no samples", p.Namespace, p.Name)
		}
	})

	It("are scraped by snmp_exporter within their timeout", func(ctx SpecContext) {
		for _, p := range listPDUs(ctx) {
			sel := pduLabels(p)
			sel["job"] = v1alpha1.PDUJob
			limit := timeout(p).Seconds()
			// The slowest scrape of the last 10 minutes, as Prometheus timed it and as
			// snmp_exporter timed its SNMP walk.
			for _, metric := range []string{"scrape_duration_seconds", "snmp_scrape_duration_seconds"} {
				q := fmt.Sprintf("max_over_time(%s[10m])", prom.Selector(metric, sel))
				Eventually(ctx, prom.Query(q)).Should(prom.Lookback(prom.EverySeries(BeNumerically("<", limit))),
					"PDU %s/%s: %s reached its timeout of %s", p.Namespace, p.Name, metric, timeout(p))
			}
		}
	})
})

var _ = Describe("PDUModels", Label("pdu"), func() {
	It("are all Ready", func(ctx SpecContext) {
		var list v1alpha1.PDUModelList
		Expect(k8s.List(ctx, &list)).To(Succeed())
		Expect(list.Items).NotTo(BeEmpty(), "no PDUModel objects")
		for _, m := range list.Items {
			Eventually(ctx, kube.Get(k8s, &m)).Should(kube.HaveCondition(v1alpha1.ReadyCondition, metav1.ConditionTrue))
		}
	})
})
