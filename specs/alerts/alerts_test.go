package alerts_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/specs/alerts"
)

const amConfig = `
route: {receiver: none, group_wait: 1s}
receivers: [{name: none}]
`

func TestAgainstRealAlertmanager(t *testing.T) {
	srv := testenv.Alertmanager(t, amConfig)
	am := alerts.New(srv.URL)
	ctx := t.Context()
	g := NewWithT(t)

	g.Expect(am.Ready(ctx)).To(Succeed())
	st, err := am.Status(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.Uptime).NotTo(BeZero())
	g.Expect(st.Config.Original).To(ContainSubstring("receiver: none"))

	down := alerts.Alert{Labels: alerts.Labels{"alertname": "WattsonPDUScrapeDown", "pdu": "rack-a01-pdu1", "namespace": "dc1"}}
	other := alerts.Alert{Labels: alerts.Labels{"alertname": "WattsonPDUScrapeDown", "pdu": "rack-a02-pdu1", "namespace": "dc1"}}
	g.Expect(am.Post(ctx, down, other)).To(Succeed())

	poll := am.Poll("WattsonPDUScrapeDown", alerts.Labels{"pdu": "rack-a01-pdu1"})
	g.Eventually(ctx, poll).WithTimeout(10 * time.Second).WithPolling(100 * time.Millisecond).Should(alerts.BeFiring())
	list, err := poll(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list.Alerts).To(HaveLen(1), "the label filter selects one of the two alerts")
	g.Expect(list.Alerts[0].Name()).To(Equal("WattsonPDUScrapeDown"))
	g.Expect(list.Alerts[0].Receivers).To(ContainElement(HaveField("Name", "none")))

	all, err := am.Alerts(ctx, alerts.Query{Name: "WattsonPDUScrapeDown"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(all.Alerts).To(HaveLen(2))

	t.Run("a silenced alert is not firing", func(t *testing.T) {
		g := NewWithT(t)
		silence := map[string]any{
			"matchers": []map[string]any{{"name": "pdu", "value": "rack-a02-pdu1", "isRegex": false, "isEqual": true}},
			"startsAt": time.Now().UTC().Format(time.RFC3339), "endsAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"createdBy": "test", "comment": "maintenance",
		}
		b, _ := json.Marshal(silence)
		resp, err := http.Post(srv.URL+"/api/v2/silences", "application/json", bytes.NewReader(b))
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		silenced := am.Poll("WattsonPDUScrapeDown", alerts.Labels{"pdu": "rack-a02-pdu1"})
		g.Eventually(ctx, silenced).WithTimeout(10 * time.Second).WithPolling(100 * time.Millisecond).
			Should(HaveField("Alerts", ConsistOf(HaveField("Status.State", "suppressed"))))
		l, _ := silenced(ctx)
		m := alerts.BeFiring()
		ok, err := m.Match(l)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(BeFalse())
		g.Expect(m.FailureMessage(l)).To(And(
			ContainSubstring(`Expected alert {alertname="WattsonPDUScrapeDown", pdu="rack-a02-pdu1"} to be firing (state active), but none is`),
			ContainSubstring("suppressed")))
	})

	t.Run("resolve", func(t *testing.T) {
		g := NewWithT(t)
		// Still firing: BeResolved fails and says so.
		l, _ := poll(ctx)
		r := alerts.BeResolved()
		ok, _ := r.Match(l)
		g.Expect(ok).To(BeFalse())
		g.Expect(r.FailureMessage(l)).To(ContainSubstring(`Alertmanager still holds it`))

		resolved := down
		resolved.EndsAt = time.Now().Add(-time.Second)
		g.Expect(am.Post(ctx, resolved)).To(Succeed())
		g.Eventually(ctx, poll).WithTimeout(10 * time.Second).WithPolling(100 * time.Millisecond).Should(alerts.BeResolved())

		l, _ = poll(ctx)
		f := alerts.BeFiring()
		ok, _ = f.Match(l)
		g.Expect(ok).To(BeFalse())
		g.Expect(f.FailureMessage(l)).To(ContainSubstring("Alertmanager holds no such alert"))
	})

	t.Run("bad input is reported with Alertmanager's answer", func(t *testing.T) {
		err := am.Post(ctx, alerts.Alert{Labels: alerts.Labels{}})
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("posting an alert without labels: %v, want a 400 error", err)
		}
		_, err = am.Alerts(ctx, alerts.Query{Labels: alerts.Labels{"bad label": "x"}})
		if err == nil || !strings.Contains(err.Error(), "list alerts") {
			t.Errorf("bad filter: %v, want an error naming the query", err)
		}
	})
}

func TestUnreachableAlertmanager(t *testing.T) {
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if err := alerts.New("http://" + addr).Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "alertmanager ready") {
		t.Errorf("Ready = %v", err)
	}
}
