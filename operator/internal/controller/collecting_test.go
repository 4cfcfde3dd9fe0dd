package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/manager"
)

// TestCollecting runs the real Prometheus on exactly the scrape configuration and recording rules
// the operator wrote (plain mode), scraping a stand-in for snmp_exporter on loopback, and checks
// that the PDU's Collecting condition and Watts follow what Prometheus really has.
func TestCollecting(t *testing.T) {
	testenv.Binary(t, "prometheus")
	var failing atomic.Bool
	var lastQuery atomic.Value
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastQuery.Store(r.URL.RawQuery)
		if failing.Load() || r.URL.Path != "/snmp" || r.URL.Query().Get("module") != "rackpdu" {
			http.Error(w, "SNMP timeout", http.StatusInternalServerError)
			return
		}
		// What snmp_exporter answers for the test MIB: hundredths of kW, tenths of kWh, W.
		fmt.Fprint(w, "wrpDevicePower{wrpDeviceIndex=\"1\"} 123\n"+
			"wrpDeviceEnergy{wrpDeviceIndex=\"1\"} 5000\n"+
			"wrpOutletPower{wrpOutletIndex=\"1\",wrpOutletName=\"srv1\"} 600\n"+
			"wrpOutletPower{wrpOutletIndex=\"2\",wrpOutletName=\"srv2\"} 630\n")
	}))
	defer exporter.Close()
	prom := testenv.Prometheus(t, "global: {scrape_interval: 1s, evaluation_interval: 1s}\n", nil)

	cfg, c := startKube(t, false)
	startOperator(t, cfg, func(o *manager.Options) {
		o.PrometheusURL = prom.URL
		o.ExporterAddr = strings.TrimPrefix(exporter.URL, "http://")
		o.PollInterval = time.Second
	})
	ctx := context.Background()
	g := NewWithT(t)
	g.Expect(c.Create(ctx, mibConfigMap(t))).To(Succeed())
	g.Expect(c.Create(ctx, rackModel("rackpdu"))).To(Succeed())
	g.Expect(c.Create(ctx, communitySecret("dc1", "snmp", "public"))).To(Succeed())
	p := pdu("dc1", "rack1", "192.0.2.1", "rackpdu", "snmp")
	p.Spec.Interval, p.Spec.Timeout = "1s", "1s"
	g.Expect(c.Create(ctx, p)).To(Succeed())
	expectCondition(t, c, p, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.ConfiguredReason)
	expectCondition(t, c, p, v1alpha1.CollectingCondition, metav1.ConditionFalse, v1alpha1.TargetMissingReason)

	// Load the operator's own output into Prometheus, as the demo does.
	var scrape string
	var rules corev1.ConfigMap
	g.Eventually(func(g Gomega) {
		scrape = secretData(ctx, g, c, v1alpha1.ScrapeConfigsName, v1alpha1.ScrapeConfigsKey)
		g.Expect(scrape).To(ContainSubstring("192.0.2.1:161"))
		g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: v1alpha1.RecordingRulesName}, &rules)).To(Succeed())
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(os.WriteFile(filepath.Join(prom.Dir, "wattson.rules.yml"), []byte(rules.Data[v1alpha1.RecordingRulesKey]), 0o644)).To(Succeed())
	config := "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [wattson.rules.yml]\n" + scrape
	g.Expect(os.WriteFile(filepath.Join(prom.Dir, "prometheus.yml"), []byte(config), 0o644)).To(Succeed())
	resp, err := http.Post(prom.URL+"/-/reload", "", nil)
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	// Device power is 123 hundredths of kW: 1230 W.
	cond := expectCondition(t, c, p, v1alpha1.CollectingCondition, metav1.ConditionTrue, v1alpha1.PowerReportedReason)
	g.Expect(cond.Message).To(ContainSubstring("1230.0 W at scope device"))
	g.Expect(p.Status.LastPower).NotTo(BeNil())
	g.Expect(p.Status.LastPower.Watts).To(Equal("1230.0"))
	g.Expect(lastQuery.Load()).To(ContainSubstring("target=192.0.2.1%3A161"))
	g.Expect(lastQuery.Load()).To(ContainSubstring("auth=" + p.Status.Auth))

	// The exporter fails: up drops to 0 and Collecting follows.
	failing.Store(true)
	expectCondition(t, c, p, v1alpha1.CollectingCondition, metav1.ConditionFalse, v1alpha1.TargetDownReason)
	failing.Store(false)
	expectCondition(t, c, p, v1alpha1.CollectingCondition, metav1.ConditionTrue, v1alpha1.PowerReportedReason)

	// Prometheus goes away: Collecting becomes Unknown, not False.
	g.Expect(prom.Stop()).To(Succeed())
	expectCondition(t, c, p, v1alpha1.CollectingCondition, metav1.ConditionUnknown, v1alpha1.PrometheusUnavailableReason)
}
