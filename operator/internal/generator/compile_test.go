package generator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/snmp_exporter/config"
	"go.yaml.in/yaml/v2"

	"github.com/wattson-dev/wattson/operator/internal/mib"
)

func compileTestdata(t *testing.T) (*Result, Diagnostics) {
	t.Helper()
	content, err := os.ReadFile("testdata/generator.yml")
	if err != nil {
		t.Fatal(err)
	}
	gen, err := ParseGeneratorConfig(content)
	if err != nil {
		t.Fatal(err)
	}
	res, diags, err := Compile(context.Background(), mib.Dirs("testdata/mibs/good"), gen)
	if err != nil {
		t.Fatal(err)
	}
	return res, diags
}

// TestCompileTypesAndIndexes checks each type and index rule on our own MIB.
func TestCompileTypesAndIndexes(t *testing.T) {
	res, _ := compileTestdata(t)
	// The output is valid for snmp_exporter's strict parser.
	parsed := &config.Config{}
	if err := yaml.UnmarshalStrict(res.SnmpYAML, parsed); err != nil {
		t.Fatalf("output does not parse strictly: %v", err)
	}
	mod := parsed.Modules["test"]
	metrics := map[string]*config.Metric{}
	for _, m := range mod.Metrics {
		metrics[m.Name] = m
	}
	type index struct {
		label, typ string
		fixed      int
		implied    bool
	}
	tests := []struct {
		name    string
		typ     string // "" means the metric must be absent
		help    string
		indexes []index
		enums   bool
	}{
		{name: "testName", typ: "DisplayString", help: "The device name - 1.3.6.1.4.1.99999.1.1"},
		{name: "testMac", typ: "PhysAddress48"},
		{name: "testClock", typ: "DateAndTime"},
		{name: "testEnergy", typ: "counter"},
		{name: "testPowerHundredthsKW", typ: "gauge", help: "Power in hundredths of kW."},
		{name: "testFlags", typ: "Bits", enums: true},
		{name: "testRatio", typ: "Float"},
		{name: "testState", typ: "EnumAsStateSet", enums: true},
		{name: "testSecret"},      // accessible-for-notify
		{name: "testSensorLabel"}, // ignored
		{name: "testSensorValue", typ: "gauge", indexes: []index{{"testSensorId", "gauge", 0, false}, {"testSensorKind", "EnumAsInfo", 0, false}}},
		{name: "testSensorId", typ: "gauge", indexes: []index{{"testSensorId", "gauge", 0, false}, {"testSensorKind", "EnumAsInfo", 0, false}}},
		{name: "testSensorPeak", typ: "gauge", indexes: []index{{"testSensorId", "gauge", 0, false}, {"testSensorKind", "EnumAsInfo", 0, false}}},
		{name: "testPeerBytes", typ: "counter", indexes: []index{{"testPeerAddr", "InetAddress", 0, false}, {"testPeerMac", "PhysAddress48", 6, false}, {"testPeerName", "DisplayString", 0, true}}},
		{name: "testPeerNext", typ: "InetAddress"},
		{name: "testPeerAlone", typ: "OctetString"},
		{name: "vendorOutletLoad", typ: "gauge", indexes: []index{{"vendorBankIndex", "gauge", 0, false}, {"vendorOutletIndex", "gauge", 0, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics[tt.name]
			if tt.typ == "" {
				if m != nil {
					t.Fatalf("metric %s should not be generated", tt.name)
				}
				return
			}
			if m == nil {
				t.Fatalf("metric %s not generated", tt.name)
			}
			if m.Type != tt.typ {
				t.Errorf("type = %s, want %s", m.Type, tt.typ)
			}
			if tt.help != "" && m.Help != tt.help {
				t.Errorf("help = %q, want %q", m.Help, tt.help)
			}
			if (len(m.EnumValues) > 0) != tt.enums {
				t.Errorf("enum values = %v, want present=%v", m.EnumValues, tt.enums)
			}
			if tt.indexes != nil {
				var got []index
				for _, ix := range m.Indexes {
					got = append(got, index{ix.Labelname, ix.Type, ix.FixedSize, ix.Implied})
				}
				if !reflect.DeepEqual(got, tt.indexes) {
					t.Errorf("indexes = %v, want %v", got, tt.indexes)
				}
			}
		})
	}

	t.Run("lookup with drop_source_indexes", func(t *testing.T) {
		m := metrics["vendorOutletLoad"]
		want := []string{"vendorOutletName", "vendorOutletIndex"}
		var got []string
		for _, l := range m.Lookups {
			got = append(got, l.Labelname)
		}
		if !reflect.DeepEqual(got, want) || m.Lookups[0].Oid != "1.3.6.1.4.1.99998.1.1.3" || m.Lookups[1].Oid != "" {
			t.Errorf("lookups = %+v", m.Lookups)
		}
		if m.Scale != 0.1 {
			t.Errorf("scale = %v, want 0.1", m.Scale)
		}
	})
	t.Run("regex_extracts are anchored", func(t *testing.T) {
		re := metrics["testName"].RegexpExtracts["Version"]
		if len(re) != 1 || re[0].Value != "$1" || re[0].Regex.String() != `^(?:^(?:.*v(\d+))$)$` {
			t.Errorf("regex_extracts = %+v", re)
		}
	})
	t.Run("walk, get and walk params", func(t *testing.T) {
		wantWalk := []string{"1.3.6.1.4.1.99998.1", "1.3.6.1.4.1.99999.1", "1.3.6.1.4.1.99999.2", "1.3.6.1.4.1.99999.3", "1.3.6.1.4.1.99999.4"}
		if !reflect.DeepEqual(mod.Walk, wantWalk) || len(mod.Get) != 0 {
			t.Errorf("walk = %v get = %v, want walk %v", mod.Walk, mod.Get, wantWalk)
		}
		if wp := mod.WalkParams; wp.MaxRepetitions != 10 || *wp.Retries != 2 || wp.Timeout != 3*time.Second {
			t.Errorf("walk params = %+v", mod.WalkParams)
		}
	})
}

// TestTolerance checks that a vendor defect net-snmp accepts is a warning
// with file:line, and that MIB errors fail only modules that need them.
func TestTolerance(t *testing.T) {
	_, diags := compileTestdata(t)
	var found bool
	for _, d := range diags {
		if d.Code == "index-empty-element" {
			found = true
			if want := "testdata/mibs/good/WATTSON-VENDOR-MIB:24:30"; d.Location() != want || d.Severity != mib.SeverityWarning {
				t.Errorf("diagnostic %s, want warning at %s", d, want)
			}
		}
	}
	if !found {
		t.Errorf("no index-empty-element warning in %v", diags)
	}
	if diags.HasErrors() {
		t.Errorf("good MIBs gave errors: %v", diags.Errors())
	}
}

func TestDiagnosticsFileLine(t *testing.T) {
	_, diags, err := mib.Load(context.Background(), mib.Dirs("testdata/mibs/broken"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, location, code string
	}{
		{"syntax error", "testdata/mibs/broken/WATTSON-SYNTAX-MIB:19:46", "parse-error"},
		{"missing import module", "testdata/mibs/broken/WATTSON-MISSING-MIB:6:5", "import-module-not-found"},
		{"type from missing import", "testdata/mibs/broken/WATTSON-MISSING-MIB:24:1", "type-unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, d := range diags {
				if d.Code == tt.code && d.Location() == tt.location && d.Severity == mib.SeverityError {
					return
				}
			}
			t.Errorf("no %s error at %s in:\n%v", tt.code, tt.location, diags)
		})
	}
}

func TestWalkErrors(t *testing.T) {
	c, _, err := NewCompiler(context.Background(), mib.Dirs("testdata/mibs/good", "testdata/mibs/broken"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		module  GeneratorModule
		wantErr string // "" means success
		check   func(t *testing.T, err error)
	}{
		{name: "typo gets closest matches", module: GeneratorModule{Walk: []string{"testSensorVlaue"}},
			wantErr: `module m: walk: cannot find "testSensorVlaue" in the loaded MIBs; closest matches: testSensorValue`,
			check: func(t *testing.T, err error) {
				var nf *NotFoundError
				if !errors.As(err, &nf) || nf.Module != "m" || nf.Name != "testSensorVlaue" {
					t.Errorf("error %#v is not a NotFoundError for m/testSensorVlaue", err)
				}
			}},
		{name: "unknown MIB module", module: GeneratorModule{Walk: []string{"NO-SUCH-MIB::testName"}},
			wantErr: "MIB module NO-SUCH-MIB is not in any mibs dir"},
		{name: "syntax error drops only its object", module: GeneratorModule{Walk: []string{"syntaxBad"}},
			wantErr: `cannot find "syntaxBad"`},
		{name: "object after syntax error still works", module: GeneratorModule{Walk: []string{"syntaxAfter"}}},
		{name: "object not needing missing import works", module: GeneratorModule{Walk: []string{"missingFine"}}},
		{name: "object needing missing import fails", module: GeneratorModule{Walk: []string{"wattsonMissing"}},
			wantErr: "walk 1.3.6.1.4.1.99997 needs missingBroken, which a MIB problem made unusable\n  testdata/mibs/broken/WATTSON-MISSING-MIB:24:1: error"},
		{name: "leading dot", module: GeneratorModule{Walk: []string{".1.3.6.1"}}, wantErr: "prefix of '.' should be removed"},
		{name: "unknown OID", module: GeneratorModule{Walk: []string{"1.3.6.1.4.1.424242"}}, wantErr: `cannot find "1.3.6.1.4.1.424242"`},
		{name: "get of a table is refused", module: GeneratorModule{Get: []string{"testSensorTable"}}, wantErr: "not a scalar or a table instance"},
		{name: "get of an instance", module: GeneratorModule{Get: []string{"1.3.6.1.4.1.99999.2.1.3.1.5"}}},
		{name: "bad lookup", module: GeneratorModule{Walk: []string{"testSensorTable"}, Lookups: []Lookup{{SourceIndexes: []string{"testSensorId"}, Lookup: "testSensorLabl"}}},
			wantErr: `lookup: cannot find "testSensorLabl" in the loaded MIBs; closest matches: testSensorLabel`},
		{name: "energy on unknown index label", module: GeneratorModule{Walk: []string{"testSensorTable"}, Energy: []EnergyAnnotation{{Metric: "testSensorValue", QuantityByIndex: &QuantityByIndex{Label: "kind", Values: map[string]Quantity{"current": QuantityCurrent}}}}},
			wantErr: `x-wattson-energy[0].quantity_by_index.label: "kind" is not an index of testSensorValue`},
		{name: "energy on unknown enum value", module: GeneratorModule{Walk: []string{"testSensorTable"}, Energy: []EnergyAnnotation{{Metric: "testSensorValue", QuantityByIndex: &QuantityByIndex{Label: "testSensorKind", Values: map[string]Quantity{"curent": QuantityCurrent}}}}},
			wantErr: `"curent" is not a value of testSensorKind (closest: current)`},
		{name: "energy on a metric not walked", module: GeneratorModule{Walk: []string{"testScalars"}, Energy: []EnergyAnnotation{{Metric: "testSensorValue", Quantity: QuantityPower}}},
			wantErr: "is not a metric of this module"},
		{name: "energy with unknown digits column", module: GeneratorModule{Walk: []string{"testSensorTable"}, Energy: []EnergyAnnotation{{Metric: "testSensorValue", Quantity: QuantityPower, DecimalDigitsFrom: "testSensorDigit"}}},
			wantErr: `x-wattson-energy.decimal_digits_from: cannot find "testSensorDigit" in the loaded MIBs; closest matches: testSensorDigits`},
		{name: "energy with unknown quantity", module: GeneratorModule{Walk: []string{"testScalars"}, Energy: []EnergyAnnotation{{Metric: "testPower", Quantity: "watts"}}},
			wantErr: `x-wattson-energy[0]: quantity: unknown quantity "watts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := c.Module("m", &tt.module)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

// TestEnergyAnnotations checks the resolved annotations and the SI maths.
func TestEnergyAnnotations(t *testing.T) {
	res, _ := compileTestdata(t)
	byMetric := map[string]EnergyMetric{}
	for _, e := range res.Energy.Metrics {
		byMetric[e.Metric] = e
	}
	// The digits column was not walked explicitly; it lies in the walked
	// table, so it is a metric already.
	tests := []struct {
		metric    string
		value     float64
		labels    map[string]string
		digits    float64
		wantQ     Quantity
		wantUnit  Unit
		wantValue float64
		wantOK    bool
	}{
		{"testPowerHundredthsKW", 123, nil, 0, QuantityPower, UnitWatts, 1230, true},
		{"testEnergy", 5, nil, 0, QuantityEnergy, UnitJoules, 1800000, true},
		{"vendorOutletLoad", 2.8, nil, 0, QuantityCurrent, UnitAmperes, 2.8, true},
		{"testSensorValue", 680, map[string]string{"testSensorKind": "current"}, 3, QuantityCurrent, UnitAmperes, 0.68, true},
		{"testSensorValue", 138, map[string]string{"testSensorKind": "activePower"}, 0, QuantityPower, UnitWatts, 138, true},
		{"testSensorValue", 1, map[string]string{"testSensorKind": "activeEnergy"}, 0, "", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			e, ok := byMetric[tt.metric]
			if !ok {
				t.Fatalf("no energy metric %s in %+v", tt.metric, res.Energy)
			}
			q, u, v, ok := e.SI(tt.value, tt.labels, tt.digits)
			if q != tt.wantQ || u != tt.wantUnit || ok != tt.wantOK || !approx(v, tt.wantValue) {
				t.Errorf("SI(%v) = %s %s %v %v, want %s %s %v %v", tt.value, q, u, v, ok, tt.wantQ, tt.wantUnit, tt.wantValue, tt.wantOK)
			}
		})
	}
	sv := byMetric["testSensorValue"]
	if sv.DecimalDigits == nil || sv.DecimalDigits.Metric != "testSensorDigits" || !reflect.DeepEqual(sv.DecimalDigits.Labels, []string{"testSensorId", "testSensorKind"}) {
		t.Errorf("decimal digits = %+v", sv.DecimalDigits)
	}
}

// TestEnergyAddsDigitsColumn checks that a decimal_digits_from column
// outside the walk is walked too.
func TestEnergyAddsDigitsColumn(t *testing.T) {
	c, _, err := NewCompiler(context.Background(), mib.Dirs("testdata/mibs/good"))
	if err != nil {
		t.Fatal(err)
	}
	m, energy, _, err := c.Module("m", &GeneratorModule{
		Walk:   []string{"testSensorValue"},
		Energy: []EnergyAnnotation{{Metric: "testSensorValue", DecimalDigitsFrom: "testSensorDigits", Quantity: QuantityVoltage}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.3.6.1.4.1.99999.2.1.3", "1.3.6.1.4.1.99999.2.1.4"}
	if !reflect.DeepEqual(m.Walk, want) || len(energy) != 1 || energy[0].DecimalDigits.OID != want[1] {
		t.Errorf("walk = %v, energy = %+v; want walk %v", m.Walk, energy, want)
	}
}

// TestInMemorySource compiles from file contents, as the operator does with
// ConfigMaps, and checks the result equals the directory-based one.
func TestInMemorySource(t *testing.T) {
	files := map[string][]byte{}
	entries, err := os.ReadDir("testdata/mibs/good")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/mibs/good", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// ConfigMap keys need not match module names.
		files[strings.ToLower(e.Name())+".txt"] = b
	}
	content, err := os.ReadFile("testdata/generator.yml")
	if err != nil {
		t.Fatal(err)
	}
	gen, err := ParseGeneratorConfig(content)
	if err != nil {
		t.Fatal(err)
	}
	mem, _, err := Compile(context.Background(), mib.Files(files), gen)
	if err != nil {
		t.Fatal(err)
	}
	disk, _ := compileTestdata(t)
	if string(mem.SnmpYAML) != string(disk.SnmpYAML) {
		t.Errorf("in-memory and on-disk outputs differ")
	}
}

func TestParseGeneratorConfigErrors(t *testing.T) {
	tests := []struct {
		name, yml, wantErr string
	}{
		{"unknown key", "modules:\n  m:\n    walk: [a]\n    wlak: [b]\n", "line 4: field wlak not found"},
		{"bad override type", "modules:\n  m:\n    overrides:\n      x:\n        type: Gauge\n", `overrides.x.type: invalid metric type override "Gauge"`},
		{"bad filter index", "modules:\n  m:\n    filters:\n      static:\n        - targets: [a]\n          indices: [x]\n", `filters.static[0].indices: invalid index "x"`},
		{"bad regex", "modules:\n  m:\n    overrides:\n      x:\n        regex_extracts:\n          y:\n            - regex: '('\n", "overrides.x.regex_extracts.y[0].regex"},
		{"energy without quantity", "modules:\n  m:\n    x-wattson-energy:\n      - metric: x\n", "x-wattson-energy[0]: quantity or quantity_by_index: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGeneratorConfig([]byte(tt.yml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func approx(a, b float64) bool {
	d := a - b
	return d < 1e-9*max(1, abs64(a), abs64(b)) && d > -1e-9*max(1, abs64(a), abs64(b))
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestCompilerConcurrent compiles on one Compiler from several goroutines,
// as the operator's reconcilers may; run with -race.
func TestCompilerConcurrent(t *testing.T) {
	content, err := os.ReadFile("testdata/generator.yml")
	if err != nil {
		t.Fatal(err)
	}
	gen, err := ParseGeneratorConfig(content)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := NewCompiler(context.Background(), mib.Dirs("testdata/mibs/good"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := c.Compile(gen)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			res, _, err := c.Compile(gen)
			if err == nil && string(res.SnmpYAML) != string(want.SnmpYAML) {
				err = errors.New("concurrent compile gave a different result")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
