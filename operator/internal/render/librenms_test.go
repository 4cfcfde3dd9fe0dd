package render_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/snmp_exporter/config"

	"github.com/wattson-dev/wattson/internal/testenv"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/suggest"
)

// librenmsModels says which sample model reads each shared recording that has LibreNMS's
// expected sensors (snmprec/expected/NAME.json).
var librenmsModels = map[string]string{
	"apc_ap7900b":         "apc-rpdu",
	"cyberpower_pdu81005": "cyberpower-epdu",
	"raritan-pdu_px2":     "raritan-px",
}

type librenmsSensor struct {
	Class   string  `json:"sensor_class"`
	OID     string  `json:"sensor_oid"`
	Descr   string  `json:"sensor_descr"`
	Current float64 `json:"sensor_current"`
}

var classMetric = map[string]string{
	"power":   v1alpha1.MetricPower,
	"current": v1alpha1.MetricCurrent,
	"voltage": v1alpha1.MetricVoltage,
}

// TestSamplesEqualLibreNMS serves every shared recording that LibreNMS has expected sensors for
// through the real chain (simulator, snmp_exporter with the compiled sample model, Prometheus
// evaluating the rendered rules) and requires, for every power, current and voltage sensor
// LibreNMS lists, exactly one wattson_pdu_* series at that sensor's place (scope, inlet/phase/
// outlet, unit) equal to LibreNMS's value in SI units; and every voltage series is one sensor,
// never a sum. The two-unit APC daisy chain rides along with the apc-rpdu2 sample.
func TestSamplesEqualLibreNMS(t *testing.T) {
	fx := testenv.Fixtures(t)
	expected, _ := filepath.Glob(filepath.Join(fx, "snmprec", "expected", "*.json"))
	if len(expected) == 0 {
		t.Fatal("no LibreNMS expectations in the shared fixtures")
	}
	models, _ := samples(t)
	var pdus []chainPDU
	sensors := map[string][]librenmsSensor{}
	for _, e := range expected {
		name := strings.TrimSuffix(filepath.Base(e), ".json")
		model, ok := librenmsModels[name]
		if !ok {
			t.Errorf("recording %s has LibreNMS expectations but no sample model in librenmsModels", name)
			continue
		}
		pdus = append(pdus, chainPDU{name: name, model: model, recording: filepath.Join(fx, "snmprec", name+".snmprec")})
		sensors[name] = loadLibreNMS(t, e)
	}
	twoUnits, _ := filepath.Abs("testdata/snmprec/apc-rpdu2-two-units.snmprec")
	pdus = append(pdus, chainPDU{name: "apc-two-units", model: "apc-rpdu2", recording: twoUnits})
	src := vendorMIBs(t)
	modules := compileModels(t, src, models)
	ch := startChain(t, src, models, pdus)

	var table []string
	for _, p := range pdus {
		model := ch.models[p.model]
		volts, line := checkLibreNMS(t, ch, model, modules[model.Status.Module], p, sensors[p.name], nil)
		table = append(table, line)
		if p.name == "apc-two-units" {
			// Two units, each one phase at about 208 V: two voltage series, per unit.
			if len(volts) != 2 || volts[0].Labels["unit"] == volts[1].Labels["unit"] || volts[0].Value > 240 || volts[1].Value > 240 {
				t.Errorf("two daisy-chained units: want two ~208 V series, one per unit; got %v", volts)
			}
			outlets, _ := ch.query(fmt.Sprintf(`%s{pdu=%q, scope="outlet"}`, v1alpha1.MetricPower, p.name))
			if len(outlets) != 4 {
				t.Errorf("two units with two outlets each: want 4 outlet power series (outlet 1, 2 of unit 1, 2), got %v", outlets)
			}
		}
	}
	if errs := ch.ruleErrors(t); len(errs) > 0 {
		t.Errorf("recording rules failed: %v", errs)
	}
	for _, line := range strings.Split(string(ch.rules), "\n") {
		if strings.Contains(line, "expr:") && strings.Contains(line, "Voltage") && strings.Contains(line, "sum") {
			t.Errorf("a voltage rule sums: %s", line)
		}
	}
	t.Logf("power/current/voltage through the real chain:\n%-22s %-30s %8s %8s %8s %9s\n%s", "recording", "model", "LibreNMS", "series", "matches", "undecided", strings.Join(table, "\n"))
}

// checkLibreNMS requires, for every LibreNMS sensor of the PDU, exactly one series at its place
// equal to its value, unless its object is undecided (listed by suggest-model as such), and that
// every voltage series is exactly one LibreNMS voltage sensor. It returns the voltage series and a
// table line: sensors LibreNMS lists, series Wattson produced, matches, undecided.
func checkLibreNMS(t *testing.T, ch *chain, model *v1alpha1.PDUModel, module *config.Module, p chainPDU, sensors []librenmsSensor, undecided map[string]bool) ([]series, string) {
	t.Helper()
	walk := readRecording(t, p.recording)
	produced := 0
	for _, metric := range classMetric {
		got, err := ch.query(fmt.Sprintf(`%s{pdu=%q}`, metric, p.name))
		if err != nil {
			t.Fatal(err)
		}
		produced += len(got)
	}
	matched, skipped := 0, 0
	for _, s := range sensors {
		place, err := sensorPlace(model, module, walk, s)
		if err != nil {
			if undecided[strings.TrimPrefix(s.OID, ".")] {
				skipped++
				continue
			}
			t.Errorf("%s: %s sensor %s (%s): %v", p.name, s.Class, s.OID, s.Descr, err)
			continue
		}
		got, err := ch.query(fmt.Sprintf(`%s{pdu=%q}`, classMetric[s.Class], p.name))
		if err != nil {
			t.Fatal(err)
		}
		var at []series
		for _, g := range got {
			if samePlace(g.Labels, place) {
				at = append(at, g)
			}
		}
		if len(at) != 1 || !approx(at[0].Value, s.Current) {
			t.Errorf("%s: %s sensor %s (%s) = %v: want exactly one %s series at %v equal to it, got %v",
				p.name, s.Class, s.OID, s.Descr, s.Current, classMetric[s.Class], place, at)
			continue
		}
		matched++
	}
	// No voltage series is a sum: each is exactly one LibreNMS voltage sensor.
	volts, err := ch.query(fmt.Sprintf(`%s{pdu=%q}`, v1alpha1.MetricVoltage, p.name))
	if err != nil {
		t.Fatal(err)
	}
	if len(sensors) > 0 {
		for _, v := range volts {
			n := 0
			for _, s := range sensors {
				if place, err := sensorPlace(model, module, walk, s); err == nil && s.Class == "voltage" && samePlace(v.Labels, place) && approx(v.Value, s.Current) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: voltage series %v is %d LibreNMS voltage sensors, want exactly 1", p.name, v, n)
			}
		}
	}
	return volts, fmt.Sprintf("%-22s %-30s %8d %8d %8d %9d", p.name, p.model, len(sensors), produced, matched, skipped)
}

// place is where a sensor's normalised series must be: its scope and, below device, its
// inlet/phase/outlet number, and its unit when the model has daisy-chained units.
type place map[string]string

func samePlace(labels map[string]string, p place) bool {
	for _, l := range []string{v1alpha1.ScopeLabel, "inlet", "phase", "outlet", v1alpha1.UnitLabel} {
		if labels[l] != p[l] {
			return false
		}
	}
	return true
}

// sensorPlace finds the model's annotation that covers the sensor's OID and where its series must
// be: index labels are decoded from the OID (integer and enum indexes, as these devices use);
// labels the model looks up from a column are read from the recording, as snmp_exporter does.
func sensorPlace(model *v1alpha1.PDUModel, module *config.Module, walk map[string]string, s librenmsSensor) (place, error) {
	oid := strings.TrimPrefix(s.OID, ".")
	for _, em := range model.Status.Energy {
		var metric *config.Metric
		for _, m := range module.Metrics {
			if m.Name == em.Metric {
				metric = m
			}
		}
		if metric == nil || !strings.HasPrefix(oid, metric.Oid+".") {
			continue
		}
		suffix := strings.TrimPrefix(oid, metric.Oid)
		labels, err := decodeIndexes(metric, suffix)
		if err != nil {
			return nil, err
		}
		for _, l := range metric.Lookups {
			if l.Oid != "" {
				labels[l.Labelname] = walk[l.Oid+suffix]
			}
		}
		if em.QuantityLabel != "" {
			if q := em.Quantities[labels[em.QuantityLabel]]; string(q) != s.Class {
				continue
			}
		} else if string(em.Quantity) != s.Class {
			continue
		}
		p := place{v1alpha1.ScopeLabel: string(em.Scope)}
		if em.Scope != v1alpha1.ScopeDevice {
			p[string(em.Scope)] = labels[em.LocationLabel]
		}
		if em.UnitLabel != "" {
			p[v1alpha1.UnitLabel] = labels[em.UnitLabel]
		}
		return p, nil
	}
	return nil, fmt.Errorf("no spec.energy entry of model %s reads it", model.Name)
}

func decodeIndexes(m *config.Metric, suffix string) (map[string]string, error) {
	arcs := strings.Split(strings.TrimPrefix(suffix, "."), ".")
	if suffix == ".0" {
		arcs = nil
	}
	if len(arcs) != len(m.Indexes) {
		return nil, fmt.Errorf("%s: instance %q does not match its %d indexes", m.Name, suffix, len(m.Indexes))
	}
	labels := map[string]string{}
	for i, ix := range m.Indexes {
		switch ix.Type {
		case "gauge":
			labels[ix.Labelname] = arcs[i]
		case "EnumAsInfo":
			n, _ := strconv.Atoi(arcs[i])
			if labels[ix.Labelname] = ix.EnumValues[n]; labels[ix.Labelname] == "" {
				labels[ix.Labelname] = arcs[i]
			}
		default:
			return nil, fmt.Errorf("%s: index type %s not decoded by this test", m.Name, ix.Type)
		}
	}
	return labels, nil
}

// readRecording reads OID -> value of an snmprec file (lookups read their labels from it).
func readRecording(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if parts := strings.SplitN(sc.Text(), "|", 3); len(parts) == 3 && !strings.HasPrefix(parts[0], "#") {
			out[parts[0]] = parts[2]
		}
	}
	return out
}

// loadLibreNMS reads the power, current and voltage sensors of a LibreNMS expectation file.
func loadLibreNMS(t *testing.T, path string) []librenmsSensor {
	t.Helper()
	var doc struct {
		Sensors struct {
			Discovery struct {
				Sensors []librenmsSensor `json:"sensors"`
			} `json:"discovery"`
		} `json:"sensors"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []librenmsSensor
	for _, s := range doc.Sensors.Discovery.Sensors {
		if classMetric[s.Class] != "" {
			out = append(out, s)
		}
	}
	return out
}

// vendorMIB is the vendor MIB module of each shared recording's maker.
var vendorMIB = map[string]string{"apc": "PowerNet-MIB", "cyberpower": "CPS-MIB", "raritan": "PDU2-MIB"}

// TestSuggestedModelsEqualLibreNMS runs suggest-model on each shared vendor MIB with the
// recording, serves the recording through the real chain read with the suggested model, and
// requires every power, current and voltage sensor LibreNMS lists to have exactly one series
// equal to it, unless suggest-model listed its object as undecided.
func TestSuggestedModelsEqualLibreNMS(t *testing.T) {
	fx := testenv.Fixtures(t)
	expected, _ := filepath.Glob(filepath.Join(fx, "snmprec", "expected", "*.json"))
	if len(expected) == 0 {
		t.Fatal("no LibreNMS expectations in the shared fixtures")
	}
	src := vendorMIBs(t)
	var (
		models    []v1alpha1.PDUModel
		pdus      []chainPDU
		sensors   = map[string][]librenmsSensor{}
		undecided = map[string]map[string]bool{}
		reports   []string
	)
	for _, e := range expected {
		name := strings.TrimSuffix(filepath.Base(e), ".json")
		vendor, _, _ := strings.Cut(name, "_")
		vendor, _, _ = strings.Cut(vendor, "-")
		module := vendorMIB[vendor]
		if module == "" {
			t.Errorf("%s: no vendor MIB known for %q", name, vendor)
			continue
		}
		recording := filepath.Join(fx, "snmprec", name+".snmprec")
		rec, err := suggest.ReadRecording(recording)
		if err != nil {
			t.Fatal(err)
		}
		res, err := suggest.Suggest(context.Background(), src, suggest.Options{Name: "suggested-" + name, MIBs: []string{module}, Recording: rec})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		doc, err := suggest.Render(res)
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, string(doc))
		undecided[name] = map[string]bool{}
		for _, u := range res.Undecided {
			for _, s := range loadLibreNMS(t, e) {
				if strings.Contains(s.OID, u.Object) {
					undecided[name][strings.TrimPrefix(s.OID, ".")] = true
				}
			}
		}
		models = append(models, *res.Model)
		pdus = append(pdus, chainPDU{name: name, model: res.Model.Name, recording: recording})
		sensors[name] = loadLibreNMS(t, e)
	}
	modules := compileModels(t, src, models)
	ch := startChain(t, src, models, pdus)
	var table []string
	for _, p := range pdus {
		model := ch.models[p.model]
		_, line := checkLibreNMS(t, ch, model, modules[model.Status.Module], p, sensors[p.name], undecided[p.name])
		table = append(table, line)
	}
	if errs := ch.ruleErrors(t); len(errs) > 0 {
		t.Errorf("recording rules failed: %v", errs)
	}
	if t.Failed() {
		t.Logf("suggested models:\n%s", strings.Join(reports, "---\n"))
	}
	t.Logf("suggested models through the real chain:\n%-22s %-30s %8s %8s %8s %9s\n%s", "recording", "model", "LibreNMS", "series", "matches", "undecided", strings.Join(table, "\n"))
}
