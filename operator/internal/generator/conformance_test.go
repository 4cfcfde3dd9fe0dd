package generator

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/snmp_exporter/config"
	"go.yaml.in/yaml/v2"

	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// metricDiff describes how one metric differs between two modules.
type metricDiff struct {
	name   string
	fields []string // differing fields; "missing" or "extra" for absent ones
	// enumOnly lists enum keys present in only one side when the metric
	// differs in enum_values alone.
	enumOnlyOurs, enumOnlyTheirs []int
}

// compareModules compares metrics by OID, order-insensitively, on every
// field snmp_exporter uses, and also the walk and get lists.
func compareModules(ours, theirs *config.Module) (identical, total int, diffs []metricDiff, other []string) {
	index := func(m *config.Module) map[string]*config.Metric {
		out := map[string]*config.Metric{}
		for _, x := range m.Metrics {
			out[x.Oid+" "+x.Name] = x
		}
		return out
	}
	o, th := index(ours), index(theirs)
	keys := slices.Sorted(maps.Keys(th))
	for k := range o {
		if _, ok := th[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		total++
		a, b := o[k], th[k]
		switch {
		case a == nil:
			diffs = append(diffs, metricDiff{name: b.Name, fields: []string{"missing"}})
			continue
		case b == nil:
			diffs = append(diffs, metricDiff{name: a.Name, fields: []string{"extra"}})
			continue
		}
		d := metricDiff{name: a.Name}
		check := func(field string, x, y any) {
			if !reflect.DeepEqual(x, y) {
				d.fields = append(d.fields, field)
			}
		}
		check("type", a.Type, b.Type)
		check("help", a.Help, b.Help)
		check("indexes", yamlOf(a.Indexes), yamlOf(b.Indexes))
		check("lookups", yamlOf(a.Lookups), yamlOf(b.Lookups))
		check("enum_values", yamlOf(a.EnumValues), yamlOf(b.EnumValues))
		check("regex_extracts", yamlOf(a.RegexpExtracts), yamlOf(b.RegexpExtracts))
		check("datetime_pattern", a.DateTimePattern, b.DateTimePattern)
		check("scale", a.Scale, b.Scale)
		check("offset", a.Offset, b.Offset)
		if len(d.fields) == 0 {
			identical++
			continue
		}
		if len(d.fields) == 1 && d.fields[0] == "enum_values" {
			for v := range a.EnumValues {
				if _, ok := b.EnumValues[v]; !ok {
					d.enumOnlyOurs = append(d.enumOnlyOurs, v)
				}
			}
			for v := range b.EnumValues {
				if _, ok := a.EnumValues[v]; !ok {
					d.enumOnlyTheirs = append(d.enumOnlyTheirs, v)
				}
			}
			sort.Ints(d.enumOnlyOurs)
			sort.Ints(d.enumOnlyTheirs)
		}
		diffs = append(diffs, d)
	}
	sortedCopy := func(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }
	if !slices.Equal(sortedCopy(ours.Walk), sortedCopy(theirs.Walk)) {
		other = append(other, fmt.Sprintf("walk: ours %v, theirs %v", ours.Walk, theirs.Walk))
	}
	if !slices.Equal(sortedCopy(ours.Get), sortedCopy(theirs.Get)) {
		other = append(other, fmt.Sprintf("get: ours %v, theirs %v", ours.Get, theirs.Get))
	}
	if !reflect.DeepEqual(yamlOf(ours.WalkParams), yamlOf(theirs.WalkParams)) {
		other = append(other, "walk params differ")
	}
	return identical, total, diffs, other
}

func yamlOf(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func loadSnmpYAML(t *testing.T, path string) *config.Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	if err := yaml.UnmarshalStrict(b, cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg
}

// knownOfficialDifferences are the differences between our output and
// snmp_exporter's published modules that come from different MIB versions
// (see the fixtures README). Anything else fails the test.
var knownOfficialDifferences = map[string]func(metricDiff) bool{
	// CPS-MIB 2.13 (ours) adds two objects that 2.11 (official) lacks.
	"cyberpower": func(d metricDiff) bool {
		return slices.Equal(d.fields, []string{"extra"}) && (d.name == "upsAdvanceApparentOutputPower" || d.name == "upsFaultCode")
	},
	// PDU2-MIB 4.3.10 (official) has *SensorState values 37-39 that 4.3.0 lacks.
	"raritan_pdu2": func(d metricDiff) bool {
		return len(d.enumOnlyOurs) == 0 && slices.Equal(d.enumOnlyTheirs, []int{37, 38, 39}) && strings.HasSuffix(d.name, "SensorState")
	},
	// A newer IANAifType-MIB (official) has ifType values 304-308.
	"if_mib": func(d metricDiff) bool {
		return d.name == "ifType" && len(d.enumOnlyOurs) == 0 && slices.Equal(d.enumOnlyTheirs, []int{304, 305, 306, 307, 308})
	},
}

// TestConformance generates every fixture module from the fixture MIBs and
// compares it with the reference generator's output (oracle: must be
// identical) and with snmp_exporter's published modules (only the MIB
// version differences listed in the fixtures README are allowed).
func TestConformance(t *testing.T) {
	fx := fixturesDir(t)
	inputs, err := filepath.Glob(filepath.Join(fx, "snmp_exporter", "generator-modules", "*.generator.yml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no generator inputs found: %v", err)
	}
	c, _, err := NewCompiler(context.Background(), mib.Dirs(fixtureMIBDirs(t, fx)...))
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-14s %-22s %-22s %s\n", "module", "vs oracle", "vs official", "differences vs official")
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".generator.yml")
		t.Run(name, func(t *testing.T) {
			content, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			gen, err := ParseGeneratorConfig(content)
			if err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			res, _, err := c.Compile(gen)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			// The output must round-trip through snmp_exporter's schema.
			reparsed := &config.Config{}
			if err := yaml.UnmarshalStrict(res.SnmpYAML, reparsed); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			ours := reparsed.Modules[name]
			if ours == nil {
				t.Fatalf("module %s not generated", name)
			}
			if !reflect.DeepEqual(yamlOf(reparsed.Auths), yamlOf(loadSnmpYAML(t, filepath.Join(fx, "snmp_exporter", "oracle", name+".snmp.yml")).Auths)) {
				t.Errorf("auths differ from oracle")
			}

			oracle := loadSnmpYAML(t, filepath.Join(fx, "snmp_exporter", "oracle", name+".snmp.yml")).Modules[name]
			oi, ot, odiffs, oother := compareModules(ours, oracle)
			for _, d := range odiffs {
				t.Errorf("vs oracle: %s: %v (enum only ours %v, only oracle %v)", d.name, d.fields, d.enumOnlyOurs, d.enumOnlyTheirs)
			}
			for _, o := range oother {
				t.Errorf("vs oracle: %s", o)
			}

			official := loadSnmpYAML(t, filepath.Join(fx, "snmp_exporter", "modules", name+".snmp.yml")).Modules[name]
			fi, ft, fdiffs, fother := compareModules(ours, official)
			var notes []string
			for _, d := range fdiffs {
				note := fmt.Sprintf("%s %v", d.name, d.fields)
				if len(d.enumOnlyTheirs)+len(d.enumOnlyOurs) > 0 {
					note = fmt.Sprintf("%s enum values only in official %v, only ours %v", d.name, d.enumOnlyTheirs, d.enumOnlyOurs)
				}
				notes = append(notes, note)
				if ok := knownOfficialDifferences[name]; ok == nil || !ok(d) {
					t.Errorf("vs official: unexpected difference: %s", note)
				}
			}
			for _, o := range fother {
				t.Errorf("vs official: %s", o)
			}
			if len(notes) > 4 {
				notes = append(notes[:3], fmt.Sprintf("... %d more of the same kind", len(notes)-3))
			}
			fmt.Fprintf(&table, "%-14s %-22s %-22s %s\n", name,
				fmt.Sprintf("%d/%d (%.1f%%)", oi, ot, 100*float64(oi)/float64(ot)),
				fmt.Sprintf("%d/%d (%.1f%%)", fi, ft, 100*float64(fi)/float64(ft)),
				strings.Join(notes, "; "))
		})
	}
	t.Logf("identical metrics / total:\n%s", table.String())
}
