package monitoring_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/wattson-dev/wattson/internal/testenv"
)

type dashboardQuery struct {
	panel, expr string
}

// dashboardQueries returns every PromQL query of the dashboard: panel targets and template
// variables (label_values(...) becomes the series selector it reads).
func dashboardQueries(t testing.TB) []dashboardQuery {
	t.Helper()
	var d struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	data := mustRead(t, filepath.Join(root(t), "monitoring/dashboards/wattson.json"))
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("monitoring/dashboards/wattson.json: %v", err)
	}
	if d.UID == "" {
		t.Errorf("the dashboard needs a fixed uid, so links to it survive a reload")
	}
	var out []dashboardQuery
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, dashboardQuery{panel: p.Title, expr: tg.Expr})
		}
	}
	labelValues := strings.NewReplacer("label_values(", "")
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		s, _ := q["query"].(string)
		// label_values(SELECTOR, LABEL) -> SELECTOR
		sel := labelValues.Replace(s)
		if i := strings.LastIndex(sel, ","); i > 0 {
			sel = sel[:i]
		}
		out = append(out, dashboardQuery{panel: "variable " + v.Name, expr: sel})
	}
	return out
}

// grafanaVars replaces Grafana's variables with what Grafana sends for "All" and a 1h range.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__range_s", "3600",
	"$__range", "1h",
	"$site", ".*",
	"$room", ".*",
	"$rack", ".*",
)

// TestDashboard runs every dashboard query on a real Prometheus that scrapes a stand-in for the
// series Wattson exports (PDU series with the labels the operator's ScrapeConfigs add, under job
// wattson-pdu; the runtime's metrics) and evaluates the kit's rules. Every query must parse and
// return data: a panel that stays empty names a metric or label that does not exist.
func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	queries := dashboardQueries(t)
	testenv.Binary(t, "prometheus")

	start := time.Now()
	var scrapes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/pdu", func(w http.ResponseWriter, r *http.Request) {
		scrapes.Add(1)
		s := time.Since(start).Seconds()
		// Normalised series as the operator's recording rules write them, and snmp_exporter's own.
		fmt.Fprintf(w, "wattson_pdu_power_watts{scope=\"device\"} 1000\n")
		fmt.Fprintf(w, "wattson_pdu_power_watts{scope=\"outlet\",outlet=\"1\"} 400\n")
		fmt.Fprintf(w, "wattson_pdu_energy_joules_total{scope=\"device\"} %g\n", 1e6+1000*s)
		fmt.Fprintf(w, "snmp_scrape_duration_seconds{module=\"apc-rpdu2\"} 0.25\n")
	})
	mux.HandleFunc("/runtime", func(w http.ResponseWriter, r *http.Request) {
		now := float64(time.Now().UnixNano()) / 1e9
		fmt.Fprintf(w, "wattson_runtime_ready 1\nassertions_failed 1\ntests_run 3\n")
		fmt.Fprintf(w, "wattson_runtime_last_complete_run_timestamp_seconds %g\n", now-5)
		fmt.Fprintf(w, "wattson_runtime_runs_total{result=\"passed\"} %d\n", 10+scrapes.Load())
		fmt.Fprintf(w, "wattson_runtime_runs_total{result=\"failed\"} 1\nwattson_runtime_runs_total{result=\"error\"} 0\n")
		for _, s := range []struct {
			spec    string
			passing int
		}{{"reports power", 1}, {"reads energy", 1}, {"alerts route", 0}} {
			l := fmt.Sprintf(`{suite="wattson",spec=%q,labels="pdu"}`, s.spec)
			fmt.Fprintf(w, "wattson_spec_passing%s %d\nwattson_spec_consecutive_failures%s %d\n", l, s.passing, l, 1-s.passing)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with ErrServerClosed at Cleanup
	t.Cleanup(func() { srv.Close() })

	files := plainRules(t, loadRules(t), "")
	var ruleFiles []string
	for n := range files {
		ruleFiles = append(ruleFiles, fmt.Sprintf("  - %s", n))
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  extra_scrape_metrics: true
rule_files:
%s
scrape_configs:
  - job_name: wattson-pdu
    metrics_path: /pdu
    static_configs:
      - targets: [%[2]s]
        labels: {namespace: dc1, pdu: rack-a01-pdu1, model: apc-rpdu2, site: ams1, room: r1, rack: a01}
  - job_name: wattson-runtime
    metrics_path: /runtime
    static_configs:
      - targets: [%[2]s]
        labels: {namespace: wattson-system, pod: wattson-runtime-0}
`, strings.Join(ruleFiles, "\n"), ln.Addr().String())
	prom := testenv.Prometheus(t, cfg, files)

	// Rate over 5m needs two samples and the recording rules one evaluation after that.
	deadline := time.Now().Add(60 * time.Second)
	var empty []dashboardQuery
	for {
		empty = empty[:0]
		for _, q := range queries {
			n, err := instantQuery(prom.URL, grafanaVars.Replace(q.expr))
			if err != nil {
				t.Fatalf("panel %q: %v", q.panel, err)
			}
			if n == 0 {
				empty = append(empty, q)
			}
		}
		if len(empty) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, q := range empty {
		t.Errorf("panel %q stays empty: %s", q.panel, q.expr)
	}
	t.Logf("%d dashboard queries return data", len(queries)-len(empty))
}

// instantQuery runs an instant query and returns how many series or samples it returned.
func instantQuery(base, expr string) (int, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("query %q: %w", expr, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", expr, r.Error)
	}
	if r.Data.ResultType != "vector" && r.Data.ResultType != "matrix" {
		return 1, nil
	}
	var res []json.RawMessage
	if err := json.Unmarshal(r.Data.Result, &res); err != nil {
		return 0, err
	}
	return len(res), nil
}

func httpGet(t testing.TB, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	return string(b)
}

// TestDashboardConfigMap checks the rendered ConfigMap: the Grafana sidecar's label, and the JSON
// unchanged.
func TestDashboardConfigMap(t *testing.T) {
	repo := root(t)
	testenv.Binary(t, "kustomize")
	objs := decode(t, kustomizeBuild(t, repo, "monitoring/dashboards"))
	if len(objs) != 1 || objs[0].GetKind() != "ConfigMap" {
		t.Fatalf("monitoring/dashboards renders %d objects, want one ConfigMap", len(objs))
	}
	cm := objs[0]
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("ConfigMap %s lacks the label grafana_dashboard: \"1\"", cm.GetName())
	}
	data, _, _ := unstructured.NestedString(cm.Object, "data", "wattson.json")
	if data != string(mustRead(t, filepath.Join(repo, "monitoring/dashboards/wattson.json"))) {
		t.Errorf("the ConfigMap's wattson.json differs from monitoring/dashboards/wattson.json")
	}
}
