package stack

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/specs/alerts"
)

// TestStatusClients reads a real Prometheus and Alertmanager through the stack's status methods:
// instant queries, the alerting rules loaded (not the recording ones), and the active alerts
// (unprocessed ones included, silenced ones not).
func TestStatusClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager")
	}
	rules := `groups:
  - name: test
    rules:
      - record: wattson_test:sum
        expr: vector(1)
      - alert: WattsonTestAlert
        expr: vector(1) > 2
`
	s := &Stack{
		Prometheus: testenv.Prometheus(t, "global: {evaluation_interval: 1s}\nrule_files: [rules.yml]\n", map[string]string{"rules.yml": rules}),
		AlertMgr:   testenv.Alertmanager(t, "route: {receiver: devnull}\nreceivers: [{name: devnull}]\n"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, tc := range []struct {
		query   string
		want    float64
		wantErr string
	}{
		{query: "vector(42)", want: 42},
		{query: "scalar(vector(2.5))", want: 2.5},
		{query: `absent_series_wattson_test{job="none"}`, wantErr: "no result"},
		{query: "sum(", wantErr: "parse error"},
	} {
		got, err := s.QueryScalar(ctx, tc.query)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("QueryScalar(%s) = %v, %v; want an error containing %q", tc.query, got, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("QueryScalar(%s) = %v, %v; want %v", tc.query, got, err, tc.want)
		}
	}

	names, err := s.AlertingRules(ctx)
	if err != nil || !slices.Equal(names, []string{"WattsonTestAlert"}) {
		t.Errorf("AlertingRules = %v, %v; want [WattsonTestAlert]", names, err)
	}

	am := s.Alerts()
	if err := am.Post(ctx,
		alerts.Alert{Labels: alerts.Labels{"alertname": "WattsonFiring", "pdu": "rack1"}},
		alerts.Alert{Labels: alerts.Labels{"alertname": "WattsonSilenced", "pdu": "rack2"}},
	); err != nil {
		t.Fatal(err)
	}
	// No silence exists yet: both alerts are firing, whatever state Alertmanager reports them in
	// (active, or unprocessed until their group is first notified).
	firing, err := s.FiringAlerts(ctx)
	slices.Sort(firing)
	if err != nil || !slices.Equal(firing, []string{"WattsonFiring", "WattsonSilenced"}) {
		t.Errorf("FiringAlerts before any silence = %v, %v; want both alerts", firing, err)
	}
	silence := `{"matchers":[{"name":"alertname","value":"WattsonSilenced","isRegex":false}],"startsAt":"` +
		time.Now().UTC().Format(time.RFC3339) + `","endsAt":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) +
		`","createdBy":"status_test","comment":"silenced"}`
	resp, err := http.Post(s.AlertMgr.URL+"/api/v2/silences", "application/json", strings.NewReader(silence))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create silence: %s", resp.Status)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		firing, err := s.FiringAlerts(ctx)
		if err == nil && slices.Equal(firing, []string{"WattsonFiring"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FiringAlerts = %v, %v; want [WattsonFiring] (the silenced alert left out)", firing, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
