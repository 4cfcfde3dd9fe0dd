package testenv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/testenv"
)

func TestKubeAppliesCRDAndCreatesObject(t *testing.T) {
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{})
	ctx := t.Context()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/crd/widgets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(raw, crd); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, crd); err != nil {
		t.Fatalf("create CRD: %v", err)
	}
	gvk := schema.GroupVersionKind{Group: "test.wattson.dev", Version: "v1", Kind: "Widget"}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	obj.SetNamespace("default")
	obj.SetName("w1")
	obj.Object["spec"] = map[string]any{"watts": int64(230)}
	// The CRD becomes servable shortly after it is established.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = c.Create(ctx, obj)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create Widget: %v", err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(gvk)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "w1"}, got); err != nil {
		t.Fatal(err)
	}
	if w, _, _ := unstructured.NestedInt64(got.Object, "spec", "watts"); w != 230 {
		t.Fatalf("spec.watts = %d, want 230", w)
	}
	// The real apiserver enforces the CRD's schema.
	bad := obj.DeepCopy()
	bad.SetName("w2")
	bad.SetResourceVersion("")
	bad.Object["spec"] = map[string]any{"watts": int64(-1)}
	if err := c.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "spec.watts") {
		t.Fatalf("negative watts: got %v, want a validation error naming spec.watts", err)
	}
}

func TestPostgresRunsAQuery(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE readings (pdu text, watts double precision)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO readings VALUES ('rack1', 1200.5), ('rack2', 799.5)`); err != nil {
		t.Fatal(err)
	}
	var total float64
	if err := conn.QueryRow(ctx, `SELECT sum(watts) FROM readings`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != 2000 {
		t.Fatalf("sum = %v, want 2000", total)
	}
}

func TestPrometheusScrapesItselfAndAnswersUp(t *testing.T) {
	// Prometheus scrapes its own port; the config needs the address, so start with a placeholder
	// job and read the address back from the target list.
	prom := testenv.Prometheus(t, `
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: self
  static_configs: [{targets: ["PLACEHOLDER"]}]
`, nil)
	// Point the job at Prometheus itself and reload through the lifecycle API.
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: self\n  static_configs: [{targets: [%q]}]\n", prom.Addr)
	if err := os.WriteFile(prom.Dir+"/prometheus.yml", []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(prom.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %s", resp.Status)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := queryScalar(t.Context(), prom.URL, `up{job="self"}`)
		if err == nil && v == "1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("up{job=\"self\"} never became 1: value %q, err %v", v, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestAlertmanagerAcceptsAnAlert(t *testing.T) {
	am := testenv.Alertmanager(t, "route: {receiver: devnull}\nreceivers: [{name: devnull}]\n")
	body := `[{"labels":{"alertname":"WattsonTest","pdu":"rack1"}}]`
	resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post alert: %s", resp.Status)
	}
	resp, err = http.Get(am.URL + "/api/v2/alerts?filter=alertname%3D%22WattsonTest%22")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Labels["pdu"] != "rack1" {
		t.Fatalf("alerts = %+v, want the one posted", alerts)
	}
}

func TestSNMPExporterServesAModule(t *testing.T) {
	exp := testenv.SNMPExporter(t, `
auths:
  public_v2: {community: public, version: 2}
modules:
  sys:
    walk: [1.3.6.1.2.1.1.3]
    metrics:
    - {name: sysUpTime, oid: 1.3.6.1.2.1.1.3, type: gauge, help: time since boot}
`)
	resp, err := http.Get(exp.URL + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "sysUpTime") {
		t.Fatalf("snmp_exporter /config does not show the loaded module:\n%s", b)
	}
}

func queryScalar(ctx context.Context, base, q string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", err
	}
	if len(r.Data.Result) == 0 {
		return "", fmt.Errorf("no result")
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return s, nil
}
