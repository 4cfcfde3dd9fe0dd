package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/specs/alerts"
	"github.com/wattson-dev/wattson/specs/prom"
)

// Status is a snapshot of the chain, for the demo's status line and the end-to-end test.
type Status struct {
	PDUs, PDUsReady, PDUsCollecting int
	// TargetsUp counts PDU scrape targets with up == 1.
	TargetsUp int
	// Watts is the total of wattson_pdu_power_watts, the normalised power of every PDU.
	Watts float64
	// SpecsPassed and SpecsFailed are from the runtime's last complete run; RunResult is its
	// result (passed, failed, error), empty before the first run.
	SpecsPassed, SpecsFailed int
	RunResult                string
	// Firing are the names of the alerts active in Alertmanager.
	Firing []string
}

func (st Status) String() string {
	run := st.RunResult
	if run == "" {
		run = "not yet run"
	}
	return fmt.Sprintf("PDUs %d/%d ready, %d collecting | targets up %d | %.0f W | specs %s (%d passed, %d failed) | alerts firing %d",
		st.PDUsReady, st.PDUs, st.PDUsCollecting, st.TargetsUp, st.Watts, run, st.SpecsPassed, st.SpecsFailed, len(st.Firing))
}

// Status reads the PDUs' conditions, Prometheus, the runtime and Alertmanager. Parts that cannot
// be read are left at zero.
func (s *Stack) Status(ctx context.Context) Status {
	var st Status
	var pdus v1alpha1.PDUList
	if err := s.Client.List(ctx, &pdus); err == nil {
		st.PDUs = len(pdus.Items)
		for _, p := range pdus.Items {
			if meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ReadyCondition) {
				st.PDUsReady++
			}
			if meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.CollectingCondition) {
				st.PDUsCollecting++
			}
		}
	}
	if v, err := s.QueryScalar(ctx, `count(up{job="`+v1alpha1.PDUJob+`"} == 1)`); err == nil {
		st.TargetsUp = int(v)
	}
	if v, err := s.QueryScalar(ctx, `sum(`+v1alpha1.MetricPower+`{`+v1alpha1.ScopeLabel+`=~"device|inlet|"})`); err == nil {
		st.Watts = v
	}
	var rs struct {
		LastRun *struct {
			Result         string `json:"result"`
			Passed, Failed int
		} `json:"last_run"`
	}
	if getJSON(ctx, s.Runtime.URL+"/api/status", &rs) == nil && rs.LastRun != nil {
		st.RunResult, st.SpecsPassed, st.SpecsFailed = rs.LastRun.Result, rs.LastRun.Passed, rs.LastRun.Failed
	}
	st.Firing, _ = s.FiringAlerts(ctx)
	return st
}

// statusHTTP is the HTTP client of the status reads: short timeouts, so a status line never
// hangs on a process that is restarting.
var statusHTTP = &http.Client{Timeout: 5 * time.Second}

// Prom is a client of the stack's Prometheus.
func (s *Stack) Prom() *prom.Client { return prom.NewWithHTTP(s.Prometheus.URL, statusHTTP) }

// Alerts is a client of the stack's Alertmanager.
func (s *Stack) Alerts() *alerts.Client { return &alerts.Client{URL: s.AlertMgr.URL, HTTP: statusHTTP} }

// QueryScalar runs an instant query and returns the first sample's value.
func (s *Stack) QueryScalar(ctx context.Context, q string) (float64, error) {
	v, err := s.Prom().QueryVector(ctx, q)
	if err != nil {
		return 0, err
	}
	if len(v.Samples) == 0 {
		return 0, fmt.Errorf("%s: no result", q)
	}
	return v.Samples[0].Value, nil
}

// FiringAlerts lists the active alerts in Alertmanager by name.
func (s *Stack) FiringAlerts(ctx context.Context) ([]string, error) {
	active, err := s.ActiveAlerts(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range active {
		// The dead man's switch always fires: it is the pipeline's heartbeat, not a problem.
		if l["alertname"] == WatchdogAlert {
			continue
		}
		names = append(names, l["alertname"])
	}
	return names, nil
}

// WatchdogAlert is the always-firing alert of monitoring/rules/wattson-kit.yaml.
const WatchdogAlert = "WattsonWatchdog"

// ActiveAlerts returns the label sets of the alerts active in Alertmanager: neither silenced nor
// inhibited. That includes alerts still "unprocessed": Alertmanager leaves a new alert in that
// state until its group is first notified (group_wait, group_interval) when no silence exists.
func (s *Stack) ActiveAlerts(ctx context.Context) ([]map[string]string, error) {
	list, err := s.Alerts().Alerts(ctx, alerts.Query{})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, 0, len(list.Alerts))
	for _, a := range list.Alerts {
		if len(a.Status.SilencedBy) == 0 && len(a.Status.InhibitedBy) == 0 {
			out = append(out, a.Labels)
		}
	}
	return out, nil
}

// getJSON reads one of the runtime's JSON endpoints.
func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := statusHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// Run is one of the runtime's runs, as its /api/runs lists them.
type Run struct {
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Result is passed, failed or error.
	Result         string `json:"result"`
	Passed, Failed int
}

// Complete reports whether the run passed or failed (an error checked nothing).
func (r Run) Complete() bool { return r.Result == "passed" || r.Result == "failed" }

// Runs returns the runtime's last runs, oldest first.
func (s *Stack) Runs(ctx context.Context) ([]Run, error) {
	var runs []Run
	if err := getJSON(ctx, s.Runtime.URL+"/api/runs?limit=1000", &runs); err != nil {
		return nil, err
	}
	slices.SortFunc(runs, func(a, b Run) int { return a.StartedAt.Compare(b.StartedAt) })
	return runs, nil
}

// AlertingRules returns the names of the alerting rules Prometheus has loaded.
func (s *Stack) AlertingRules(ctx context.Context) ([]string, error) {
	groups, err := s.Prom().Rules(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" {
				names = append(names, r.Name)
			}
		}
	}
	return names, nil
}
