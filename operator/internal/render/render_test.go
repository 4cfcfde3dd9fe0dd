package render_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/snmp_exporter/config"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const exporterAddr = "wattson-snmp-exporter.wattson-system.svc:9116"

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the renderer's output (run go test ./operator/internal/render -update and review the diff):\n%s", path, got)
	}
}

// samples reads the PDUModels and PDUs in config/samples.
func samples(t *testing.T) ([]v1alpha1.PDUModel, []v1alpha1.PDU) {
	t.Helper()
	files, err := filepath.Glob("../../config/samples/wattson_*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	var models []v1alpha1.PDUModel
	var pdus []v1alpha1.PDU
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLReader(bufioReader(raw))
		for {
			doc, err := dec.Read()
			if err != nil {
				break
			}
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch meta.Kind {
			case "PDUModel":
				var m v1alpha1.PDUModel
				if err := yaml.UnmarshalStrict(doc, &m); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				models = append(models, m)
			case "PDU":
				var p v1alpha1.PDU
				if err := yaml.UnmarshalStrict(doc, &p); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				pdus = append(pdus, p)
			case "", "Suite": // suite_test.go reads the Suites
			default:
				t.Fatalf("%s: unexpected kind %q", f, meta.Kind)
			}
		}
	}
	return models, pdus
}

// compiled is what the MIB compiler made of the samples, kept as a golden so the renderer tests
// below run without the third-party MIBs.
type compiled struct {
	Models  []v1alpha1.PDUModel `json:"models"`
	SnmpYML string              `json:"snmpYML"`
}

// TestSamplesCompile compiles every sample PDUModel against the real vendor MIBs and keeps the
// result (status.energy and the snmp_exporter modules) in testdata/compiled.golden.yaml.
func TestSamplesCompile(t *testing.T) {
	models, _ := samples(t)
	modules := compileModels(t, vendorMIBs(t), models)
	for i := range models {
		if render.BroadestPowerScope(&models[i]) == "" {
			t.Errorf("%s: sample model reports no power", models[i].Name)
		}
	}
	snmp, err := render.SNMPConfig(modules, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(compiled{Models: models, SnmpYML: string(snmp)})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "compiled.golden.yaml", out)
}

func loadCompiled(t *testing.T) compiled {
	t.Helper()
	raw, err := os.ReadFile("testdata/compiled.golden.yaml")
	if err != nil {
		t.Fatalf("%v (run TestSamplesCompile with -update and the shared fixtures)", err)
	}
	var c compiled
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecordingRules(t *testing.T) {
	c := loadCompiled(t)
	out, err := render.RecordingRules(c.Models)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "rules.golden.yaml", out)
	for _, want := range []string{
		// APC: hundredths of kW to W, with the scope label.
		`record: wattson_pdu_power_watts`,
		// APC: each daisy-chained unit (rPDU2DeviceStatusModule) keeps its own series; -1 is
		// "not supported", not -10 W.
		`sum without(rPDU2DeviceStatusIndex, rPDU2DeviceStatusModule) (label_replace((rPDU2DeviceStatusPower{model="apc-rpdu2"} != -1) * 10, "unit", "$1", "rPDU2DeviceStatusModule", "(.*)"))`,
		// Raritan: per-row decimal digits joined on the row's labels, Wh to J.
		`measurementsInletSensorValue{model="raritan-px", sensorType="activeEnergy"} * 3600 / on(namespace, pdu, pduId, inletId, sensorType) group_left() (10 ^ inletSensorDecimalDigits{model="raritan-px", sensorType="activeEnergy"})`,
		`record: wattson_pdu_energy_joules_total`,
		`label_replace(`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rules lack %q", want)
		}
	}
	// Voltage is never summed.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "Voltage") && strings.Contains(line, "sum without") {
			t.Errorf("a voltage rule sums: %s", line)
		}
	}
	promtool := testenv.Binary(t, "promtool")
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, b)
	}
}

func TestPlainScrapeConfigs(t *testing.T) {
	c := loadCompiled(t)
	_, pdus := samples(t)
	// A second PDU sharing module, auth, interval and timeout joins the first one's job.
	extra := pdus[0].DeepCopy()
	extra.Name, extra.Spec.Address = "rack-a01-pdu2", "10.0.1.21"
	pdus = append(pdus, *extra)
	out, err := render.PlainScrapeConfigs(pdus, c.Models, exporterAddr)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "scrape-configs.golden.yaml", out)
	if n := strings.Count(string(out), "job_name:"); n != 3 {
		t.Errorf("got %d jobs, want 3 (two PDUs share one)", n)
	}
	promtool := testenv.Binary(t, "promtool")
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(promtool, "check", "config", "--syntax-only", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, b)
	}
}

func TestPlainScrapeConfigsUnknownModel(t *testing.T) {
	_, pdus := samples(t)
	_, err := render.PlainScrapeConfigs(pdus, nil, exporterAddr)
	if err == nil || !strings.Contains(err.Error(), "spec.model") {
		t.Fatalf("got %v, want an error naming spec.model", err)
	}
}

func TestScrapeObjects(t *testing.T) {
	_, pdus := samples(t)
	var docs [][]byte
	for i := range pdus {
		p := &pdus[i]
		var obj any = render.ScrapeConfig(p, p.Spec.Model, exporterAddr)
		if p.Spec.ScrapeResource == v1alpha1.ProbeResource {
			obj = render.Probe(p, p.Spec.Model, exporterAddr)
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	golden(t, "scrape-objects.golden.yaml", bytes.Join(docs, []byte("---\n")))
}

// sampleAuths renders the auths of the sample PDUs and the SNMPv3 environment they need, with
// made-up credentials.
func sampleAuths(t *testing.T) (map[string]*config.Auth, map[string]string) {
	t.Helper()
	_, pdus := samples(t)
	auths := map[string]*config.Auth{}
	env := map[string]string{}
	for i := range pdus {
		p := &pdus[i]
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Spec.SNMP.SecretRef.Name}, Data: map[string][]byte{
			"community": []byte("s3cret-community"), "username": []byte("wattson"),
			"authPassword": []byte("auth-key-123"), "privPassword": []byte("priv-key-456"),
		}}
		creds, err := render.CredentialsFrom(&p.Spec.SNMP, secret)
		if err != nil {
			t.Fatal(err)
		}
		a, e := render.Auth(p, creds)
		auths[render.AuthName(p)] = a
		for k, v := range e {
			env[k] = v
		}
	}
	return auths, env
}

// TestSNMPConfig renders snmp.yml with a v2c and a v3 auth and has the real snmp_exporter load it,
// expanding the v3 secrets from the environment as the exporter Deployment does.
func TestSNMPConfig(t *testing.T) {
	c := loadCompiled(t)
	var cfg config.Config
	if err := yaml.Unmarshal([]byte(c.SnmpYML), &cfg); err != nil {
		t.Fatal(err)
	}
	auths, env := sampleAuths(t)
	if len(auths) != 2 {
		t.Errorf("got %d auths, want 2 (two PDUs share the v2c Secret)", len(auths))
	}
	out, err := render.SNMPConfig(cfg.Modules, auths)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "snmp.golden.yml", out)
	if strings.Contains(string(out), "auth-key-123") || strings.Contains(string(out), "priv-key-456") {
		t.Error("v3 keys are written into snmp.yml; they must come from the environment")
	}
	if !strings.Contains(string(out), "s3cret-community") {
		t.Error("the v2c community is missing from snmp.yml")
	}
	exporter := testenv.Binary(t, "snmp_exporter")
	path := filepath.Join(t.TempDir(), "snmp.yml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exporter, "--dry-run", "--config.expand-environment-variables", "--config.file="+path)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("snmp_exporter --dry-run: %v\n%s", err, b)
	}
	// Without the environment the exporter refuses the config: the keys really come from env.
	cmd = exec.Command(exporter, "--dry-run", "--config.expand-environment-variables", "--config.file="+path)
	if b, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("snmp_exporter accepted the config without the v3 environment:\n%s", b)
	}
}

// TestRecordingRulesKeepTargetLabels runs the rendered rules in promtool: a normalised series
// keeps the PDU's target labels (site, room, rack, ...), which the totals per rack and the
// long-term store's kWh per rack group by. A one-to-one `/ on(...)` keeps only the on() labels;
// the decimal-digits join must be many-to-one (group_left).
func TestRecordingRulesKeepTargetLabels(t *testing.T) {
	c := loadCompiled(t)
	out, err := render.RecordingRules(c.Models)
	if err != nil {
		t.Fatal(err)
	}
	promtool := testenv.Binary(t, "promtool")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	target := `namespace="dc1", pdu="rack-a02-pdu1", model="raritan-px", site="s1", room="r1", rack="a02", job="wattson-pdu", instance="127.0.0.1:9116"`
	test := `rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'measurementsInletSensorValue{` + target + `, pduId="1", inletId="1", sensorType="activeEnergy"}'
        values: '1000+10x5'
      - series: 'inletSensorDecimalDigits{` + target + `, pduId="1", inletId="1", sensorType="activeEnergy"}'
        values: '1x5'
      - series: 'rPDU2DeviceStatusPower{namespace="dc1", pdu="rack-a01-pdu1", model="apc-rpdu2", site="s1", room="r1", rack="a01", rPDU2DeviceStatusIndex="1"}'
        values: '117x5'
    promql_expr_test:
      - expr: wattson_pdu_energy_joules_total{model="raritan-px"}
        eval_time: 2m
        exp_samples:
          - labels: 'wattson_pdu_energy_joules_total{` + target + `, inlet="1", scope="inlet", unit="1"}'
            value: 367200
      - expr: wattson_pdu_power_watts{model="apc-rpdu2"}
        eval_time: 2m
        exp_samples:
          - labels: 'wattson_pdu_power_watts{namespace="dc1", pdu="rack-a01-pdu1", model="apc-rpdu2", site="s1", room="r1", rack="a01", scope="device"}'
            value: 1170
`
	if err := os.WriteFile(filepath.Join(dir, "test.yaml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "test.yaml")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, b)
	}
}
