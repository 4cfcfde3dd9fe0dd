package generator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/snmp_exporter/config"
	"go.yaml.in/yaml/v2"
)

// GeneratorConfig is snmp_exporter's generator.yml, unchanged, plus the
// optional x-wattson-energy key in each module.
type GeneratorConfig struct {
	Auths   map[string]*config.Auth     `yaml:"auths" json:"auths,omitempty"`
	Modules map[string]*GeneratorModule `yaml:"modules" json:"modules,omitempty"`
	Version int                         `yaml:"version,omitempty" json:"version,omitempty"`
}

// ParseGeneratorConfig parses generator.yml strictly: an unknown key is an
// error naming its line, as in snmp_exporter's generator.
func ParseGeneratorConfig(content []byte) (*GeneratorConfig, error) {
	cfg := &GeneratorConfig{}
	if err := yaml.UnmarshalStrict(content, cfg); err != nil {
		return nil, err
	}
	for name, m := range cfg.Modules {
		if m == nil {
			return nil, fmt.Errorf("module %q: empty module", name)
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("module %q: %w", name, err)
		}
	}
	return cfg, nil
}

// GeneratorModule is one module of generator.yml. Field names and meaning
// follow snmp_exporter's generator; JSON names are for embedding in CRDs.
type GeneratorModule struct {
	// walk lists MIB names (label or MODULE::label) or numeric OIDs to walk.
	Walk []string `yaml:"walk" json:"walk,omitempty"`
	// get lists scalars or table instances to fetch with GET, not walked.
	Get []string `yaml:"get,omitempty" json:"get,omitempty"`
	// lookups add labels looked up from other columns by shared indexes.
	Lookups []Lookup `yaml:"lookups" json:"lookups,omitempty"`
	// WalkParams are copied into the snmp_exporter module.
	WalkParams `yaml:",inline" json:",inline"`
	// overrides change a metric, keyed by MIB label.
	Overrides map[string]MetricOverrides `yaml:"overrides" json:"overrides,omitempty"`
	// filters restrict walked indexes.
	Filters Filters `yaml:"filters,omitempty" json:"filters,omitempty"`
	// mibs are the MIB modules the module is written against (a Wattson extension, a PDUModel's
	// spec.mibs): bare names resolve in them and what they import first. Empty: every loaded MIB.
	MIBs []string `yaml:"x-wattson-mibs,omitempty" json:"mibs,omitempty"`
	// energy annotates metrics with what they measure and how to reach SI
	// units. It is a Wattson extension, written separately from snmp.yml.
	Energy []EnergyAnnotation `yaml:"x-wattson-energy,omitempty" json:"energy,omitempty"`
}

// Validate checks what can be checked without MIBs.
func (m *GeneratorModule) Validate() error {
	for i, f := range m.Filters.Static {
		for _, idx := range f.Indices {
			if _, err := strconv.Atoi(idx); err != nil {
				return fmt.Errorf("filters.static[%d].indices: invalid index %q, index must be an integer", i, idx)
			}
		}
	}
	for name, o := range m.Overrides {
		if o.Type != "" {
			if t, ok := metricType(o.Type); !ok || t != o.Type {
				return fmt.Errorf("overrides.%s.type: invalid metric type override %q", name, o.Type)
			}
		}
		for label, res := range o.RegexpExtracts {
			for i, re := range res {
				if _, err := regexp.Compile("^(?:" + re.Regex + ")$"); err != nil {
					return fmt.Errorf("overrides.%s.regex_extracts.%s[%d].regex: %w", name, label, i, err)
				}
			}
		}
	}
	for i, l := range m.Lookups {
		if l.Lookup == "" {
			return fmt.Errorf("lookups[%d].lookup: required", i)
		}
	}
	for i := range m.Energy {
		if err := m.Energy[i].validate(); err != nil {
			return fmt.Errorf("x-wattson-energy[%d]: %w", i, err)
		}
	}
	return nil
}

// Lookup adds a label taken from another column sharing source_indexes.
type Lookup struct {
	SourceIndexes     []string `yaml:"source_indexes" json:"sourceIndexes"`
	Lookup            string   `yaml:"lookup" json:"lookup"`
	DropSourceIndexes bool     `yaml:"drop_source_indexes,omitempty" json:"dropSourceIndexes,omitempty"`
}

// MetricOverrides changes one metric.
type MetricOverrides struct {
	Ignore          bool                       `yaml:"ignore,omitempty" json:"ignore,omitempty"`
	RegexpExtracts  map[string][]RegexpExtract `yaml:"regex_extracts,omitempty" json:"regexExtracts,omitempty"`
	DateTimePattern string                     `yaml:"datetime_pattern,omitempty" json:"datetimePattern,omitempty"`
	Offset          float64                    `yaml:"offset,omitempty" json:"offset,omitempty"`
	Scale           float64                    `yaml:"scale,omitempty" json:"scale,omitempty"`
	Type            string                     `yaml:"type,omitempty" json:"type,omitempty"`
	Help            string                     `yaml:"help,omitempty" json:"help,omitempty"`
	Name            string                     `yaml:"name,omitempty" json:"name,omitempty"`
}

// RegexpExtract derives a metric from a string value. Regex is anchored at
// both ends, as in snmp_exporter.
type RegexpExtract struct {
	Value string `yaml:"value" json:"value"`
	Regex string `yaml:"regex" json:"regex"`
}

// UnmarshalYAML applies snmp_exporter's default value "$1".
func (r *RegexpExtract) UnmarshalYAML(unmarshal func(any) error) error {
	type plain RegexpExtract
	*r = RegexpExtract{Value: "$1"}
	return unmarshal((*plain)(r))
}

func (r RegexpExtract) toConfig() config.RegexpExtract {
	return config.RegexpExtract{
		Value: r.Value,
		Regex: config.Regexp{Regexp: regexp.MustCompile("^(?:" + r.Regex + ")$")},
	}
}

// WalkParams are the SNMP walk settings of a module.
type WalkParams struct {
	MaxRepetitions          uint32   `yaml:"max_repetitions,omitempty" json:"maxRepetitions,omitempty"`
	Retries                 *int     `yaml:"retries,omitempty" json:"retries,omitempty"`
	Timeout                 Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	UseUnconnectedUDPSocket bool     `yaml:"use_unconnected_udp_socket,omitempty" json:"useUnconnectedUDPSocket,omitempty"`
	AllowNonIncreasingOIDs  bool     `yaml:"allow_nonincreasing_oids,omitempty" json:"allowNonIncreasingOIDs,omitempty"`
}

func (w WalkParams) toConfig() config.WalkParams {
	return config.WalkParams{
		MaxRepetitions:          w.MaxRepetitions,
		Retries:                 w.Retries,
		Timeout:                 time.Duration(w.Timeout),
		UseUnconnectedUDPSocket: w.UseUnconnectedUDPSocket,
		AllowNonIncreasingOIDs:  w.AllowNonIncreasingOIDs,
	}
}

// Duration is a time.Duration written as "5s" in YAML and JSON.
type Duration time.Duration

// UnmarshalYAML accepts "5s" (and plain nanoseconds, as yaml.v2 does).
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var td time.Duration
	if err := unmarshal(&td); err != nil {
		return err
	}
	*d = Duration(td)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string such as "5s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	td, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(td)
	return nil
}

// Filters restrict which indexes are fetched.
type Filters struct {
	Static  []StaticFilter  `yaml:"static,omitempty" json:"static,omitempty"`
	Dynamic []DynamicFilter `yaml:"dynamic,omitempty" json:"dynamic,omitempty"`
}

// StaticFilter fetches only the listed indices of the targets.
type StaticFilter struct {
	Targets []string `yaml:"targets,omitempty" json:"targets,omitempty"`
	Indices []string `yaml:"indices,omitempty" json:"indices,omitempty"`
}

// DynamicFilter is passed to snmp_exporter as is.
type DynamicFilter struct {
	Oid     string   `yaml:"oid" json:"oid"`
	Targets []string `yaml:"targets,omitempty" json:"targets,omitempty"`
	Values  []string `yaml:"values,omitempty" json:"values,omitempty"`
}
