package generator

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/snmp_exporter/config"

	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// Quantity is what an energy metric measures.
type Quantity string

// Quantities and, in Unit, their SI units.
const (
	QuantityPower         Quantity = "power"
	QuantityEnergy        Quantity = "energy"
	QuantityCurrent       Quantity = "current"
	QuantityVoltage       Quantity = "voltage"
	QuantityApparentPower Quantity = "apparent_power"
	QuantityPowerFactor   Quantity = "power_factor"
	QuantityTemperature   Quantity = "temperature"
)

// Unit is the SI unit a Quantity is converted to, spelled as Prometheus
// metric name suffixes spell it.
type Unit string

// Units.
const (
	UnitWatts       Unit = "watts"
	UnitJoules      Unit = "joules"
	UnitAmperes     Unit = "amperes"
	UnitVolts       Unit = "volts"
	UnitVoltAmperes Unit = "volt_amperes"
	UnitRatio       Unit = "ratio"
	UnitCelsius     Unit = "celsius"
)

var quantityUnits = map[Quantity]Unit{
	QuantityPower:         UnitWatts,
	QuantityEnergy:        UnitJoules,
	QuantityCurrent:       UnitAmperes,
	QuantityVoltage:       UnitVolts,
	QuantityApparentPower: UnitVoltAmperes,
	QuantityPowerFactor:   UnitRatio,
	QuantityTemperature:   UnitCelsius,
}

// Unit returns the SI unit of q, or "" for an unknown quantity.
func (q Quantity) Unit() Unit { return quantityUnits[q] }

func (q Quantity) valid() error {
	if _, ok := quantityUnits[q]; !ok {
		known := make([]string, 0, len(quantityUnits))
		for k := range quantityUnits {
			known = append(known, string(k))
		}
		sort.Strings(known)
		return fmt.Errorf("unknown quantity %q, want one of %s", q, strings.Join(known, ", "))
	}
	return nil
}

// EnergyAnnotation says what a metric measures and how to reach SI units.
// It goes in a generator.yml module under x-wattson-energy:
//
//	x-wattson-energy:
//	  - metric: rPDU2DeviceStatusPower   # hundredths of kW
//	    quantity: power
//	    scale: 10
//	  - metric: measurementsInletSensorValue
//	    decimal_digits_from: inletSensorDecimalDigits
//	    quantity_by_index:
//	      label: sensorType
//	      values: {rmsCurrent: current, rmsVoltage: voltage, activePower: power}
//
// The SI value is exported value × scale ÷ 10^digits, where the exported
// value already has snmp_exporter's own scale and offset applied.
type EnergyAnnotation struct {
	// metric is the MIB label of a metric the module generates.
	Metric string `yaml:"metric" json:"metric"`
	// quantity is what every row measures. Set this or quantity_by_index.
	Quantity Quantity `yaml:"quantity,omitempty" json:"quantity,omitempty"`
	// quantity_by_index picks the quantity per row from an index label.
	QuantityByIndex *QuantityByIndex `yaml:"quantity_by_index,omitempty" json:"quantityByIndex,omitempty"`
	// scale multiplies the exported value to reach the SI unit; 0 means 1.
	Scale float64 `yaml:"scale,omitempty" json:"scale,omitempty"`
	// decimal_digits_from names a column with the same indexes whose value d
	// divides each row by 10^d (Raritan's *SensorDecimalDigits). The column
	// is added to the module's walk if it is not already there.
	DecimalDigitsFrom string `yaml:"decimal_digits_from,omitempty" json:"decimalDigitsFrom,omitempty"`
	// scope is where the reading is taken: device (default), inlet, phase or outlet.
	Scope string `yaml:"scope,omitempty" json:"scope,omitempty"`
	// location_label numbers the inlet, phase or outlet below device scope: an index label of
	// the metric, or a column of the same row (APC's rPDU2PhaseStatusNumber), which is then
	// looked up. Default: the last index label other than quantity_by_index.label.
	LocationLabel string `yaml:"location_label,omitempty" json:"locationLabel,omitempty"`
	// unit_label tells daisy-chained units behind one address apart (a master and its link
	// units): an index label or a column of the same row, looked up like location_label; its
	// value becomes the unit label of every series. Default: an integer index or column whose
	// name ends in Module, Unit, UnitId, UnitNumber, Strapping, StrappingIndex or pduId
	// (APC's rPDU2*Module, Eaton's strappingIndex, Raritan's pduId); "none" for no unit label.
	UnitLabel string `yaml:"unit_label,omitempty" json:"unitLabel,omitempty"`
	// missing_values are exported values that mean "not measured" (APC answers -1): rows with
	// them get no normalised series.
	MissingValues []float64 `yaml:"missing_values,omitempty" json:"missingValues,omitempty"`
}

// Scopes of an energy reading, from the broadest.
const (
	ScopeDevice = "device"
	ScopeInlet  = "inlet"
	ScopePhase  = "phase"
	ScopeOutlet = "outlet"
)

// NoUnit as unit_label turns the default unit label off.
const NoUnit = "none"

// Additive reports whether readings of q may be added up across sensors into a broader total:
// power, energy, current and apparent power are; voltage, power factor and temperature never are.
func (q Quantity) Additive() bool {
	switch q {
	case QuantityPower, QuantityEnergy, QuantityCurrent, QuantityApparentPower:
		return true
	}
	return false
}

// QuantityByIndex selects the quantity of a row by the value of one of its
// labels. Rows whose value is not listed are not energy readings.
type QuantityByIndex struct {
	// label is an index label of the metric, for example sensorType.
	Label string `yaml:"label" json:"label"`
	// values maps the label's value (enum name, or number) to a quantity.
	Values map[string]Quantity `yaml:"values" json:"values"`
	// scales multiplies rows with this label value on top of scale, for
	// rows whose unit differs (Raritan's activeEnergy is in Wh: 3600).
	Scales map[string]float64 `yaml:"scales,omitempty" json:"scales,omitempty"`
}

func (a *EnergyAnnotation) validate() error {
	if a.Metric == "" {
		return fmt.Errorf("metric: required")
	}
	switch {
	case a.Quantity != "" && a.QuantityByIndex != nil:
		return fmt.Errorf("quantity and quantity_by_index: set only one")
	case a.Quantity != "":
		if err := a.Quantity.valid(); err != nil {
			return fmt.Errorf("quantity: %w", err)
		}
	case a.QuantityByIndex != nil:
		if a.QuantityByIndex.Label == "" {
			return fmt.Errorf("quantity_by_index.label: required")
		}
		if len(a.QuantityByIndex.Values) == 0 {
			return fmt.Errorf("quantity_by_index.values: required")
		}
		for k, q := range a.QuantityByIndex.Values {
			if err := q.valid(); err != nil {
				return fmt.Errorf("quantity_by_index.values.%s: %w", k, err)
			}
		}
		for k, sc := range a.QuantityByIndex.Scales {
			if _, ok := a.QuantityByIndex.Values[k]; !ok {
				return fmt.Errorf("quantity_by_index.scales.%s: not listed in values", k)
			}
			if sc <= 0 || math.IsInf(sc, 0) {
				return fmt.Errorf("quantity_by_index.scales.%s: must be a positive number, got %v", k, sc)
			}
		}
	default:
		return fmt.Errorf("quantity or quantity_by_index: required")
	}
	switch a.Scope {
	case "", ScopeDevice, ScopeInlet, ScopePhase, ScopeOutlet:
	default:
		return fmt.Errorf("scope: unknown scope %q, want device, inlet, phase or outlet", a.Scope)
	}
	if a.Scope == ScopeDevice && a.LocationLabel != "" {
		return fmt.Errorf("location_label: only below device scope (scope: inlet, phase or outlet)")
	}
	if a.Scale < 0 || math.IsNaN(a.Scale) || math.IsInf(a.Scale, 0) {
		return fmt.Errorf("scale: must be a positive number, got %v", a.Scale)
	}
	return nil
}

// EnergyMetric is a resolved annotation: everything the operator needs to
// write a Prometheus recording rule that yields SI values.
type EnergyMetric struct {
	// Module is the snmp_exporter module.
	Module string `json:"module" yaml:"module"`
	// Metric is the metric name snmp_exporter exports (after overrides).
	Metric string `json:"metric" yaml:"metric"`
	OID    string `json:"oid" yaml:"oid"`
	// Labels are the metric's index labels, for joins.
	Labels []string `json:"labels,omitempty" yaml:"labels,omitempty"`
	// Quantity and Unit are set when every row measures the same thing.
	Quantity Quantity `json:"quantity,omitempty" yaml:"quantity,omitempty"`
	Unit     Unit     `json:"unit,omitempty" yaml:"unit,omitempty"`
	// QuantityByLabel selects the quantity per row.
	QuantityByLabel *QuantityByLabel `json:"quantityByLabel,omitempty" yaml:"quantity_by_label,omitempty"`
	// Scale multiplies the exported value (always set, 1 when unscaled).
	Scale float64 `json:"scale" yaml:"scale"`
	// DecimalDigits, when set, names the metric whose value d divides the
	// row by 10^d; join on its Labels.
	DecimalDigits *DecimalDigits `json:"decimalDigits,omitempty" yaml:"decimal_digits,omitempty"`
	// Scope is where the reading is taken (device, inlet, phase, outlet).
	Scope string `json:"scope" yaml:"scope"`
	// LocationLabel is the exported label numbering the inlet, phase or outlet.
	LocationLabel string `json:"locationLabel,omitempty" yaml:"location_label,omitempty"`
	// UnitLabel is the exported label telling daisy-chained units apart.
	UnitLabel string `json:"unitLabel,omitempty" yaml:"unit_label,omitempty"`
	// Drop are the vendor labels the normalised series do not keep: the index labels (Labels)
	// and the lookups added for LocationLabel and UnitLabel.
	Drop []string `json:"drop,omitempty" yaml:"drop,omitempty"`
	// MissingValues are exported values that mean "not measured".
	MissingValues []float64 `json:"missingValues,omitempty" yaml:"missing_values,omitempty"`
}

// QuantityByLabel maps the exported value of Label to a quantity.
type QuantityByLabel struct {
	Label  string              `json:"label" yaml:"label"`
	Values map[string]Quantity `json:"values" yaml:"values"`
	// Scales are extra multipliers for some label values.
	Scales map[string]float64 `json:"scales,omitempty" yaml:"scales,omitempty"`
}

// DecimalDigits is the per-row decimal exponent column.
type DecimalDigits struct {
	Metric string   `json:"metric" yaml:"metric"`
	OID    string   `json:"oid" yaml:"oid"`
	Labels []string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// Energy is the energy output of a compilation, written next to snmp.yml.
type Energy struct {
	Metrics []EnergyMetric `json:"metrics" yaml:"metrics"`
}

// SI converts one exported sample to SI units. labels are the sample's
// labels; digits is the value of the DecimalDigits metric for the same row
// (ignored when the metric has none). ok is false when the row is not an
// energy reading (its label value is not mapped).
func (e EnergyMetric) SI(value float64, labels map[string]string, digits float64) (Quantity, Unit, float64, bool) {
	q, scale := e.Quantity, e.Scale
	if sel := e.QuantityByLabel; sel != nil {
		var ok bool
		q, ok = sel.Values[labels[sel.Label]]
		if !ok {
			return "", "", 0, false
		}
		if s, ok := sel.Scales[labels[sel.Label]]; ok {
			scale *= s
		}
	}
	v := value * scale
	if e.DecimalDigits != nil {
		v /= math.Pow(10, digits)
	}
	return q, q.Unit(), v, true
}

// EnergyFieldError is an x-wattson-energy entry (a PDUModel's spec.energy entry) whose field
// does not fit the MIB, such as a location_label that is neither an index nor a column.
type EnergyFieldError struct {
	Module string
	// Index is the entry's position; Field its YAML field name (location_label, unit_label).
	Index int
	Field string
	Msg   string
}

func (e *EnergyFieldError) Error() string {
	return fmt.Sprintf("module %s: x-wattson-energy[%d].%s: %s", e.Module, e.Index, e.Field, e.Msg)
}

// SpecField is the field's path in a PDUModel, e.g. spec.energy[0].locationLabel.
func (e *EnergyFieldError) SpecField() string {
	name := map[string]string{"location_label": "locationLabel", "unit_label": "unitLabel"}[e.Field]
	if name == "" {
		name = e.Field
	}
	return fmt.Sprintf("spec.energy[%d].%s", e.Index, name)
}

// energyPlan is what an annotation needs before the module is built: its location and unit
// labels, and the lookups that bring columns of the metric's row in as labels.
type energyPlan struct {
	location, unit string // MIB labels; "" if none
	lookups        []Lookup
}

// unitColumnRE matches the names vendors give the column or index that numbers daisy-chained
// units behind one address.
var unitColumnRE = regexp.MustCompile(`(?i)(module|unit|unitid|unitindex|unitnumber|strapping|strappingindex|pduid)$`)

// planEnergy resolves each annotation's location and unit label against the MIB: an index label
// of the metric, or a column of its row, which becomes a lookup (added to the module's own).
func (b *moduleBuilder) planEnergy() ([]energyPlan, []Lookup, error) {
	plans := make([]energyPlan, len(b.cfg.Energy))
	var extra []Lookup
	have := map[string]bool{}
	for _, l := range b.cfg.Lookups {
		have[l.Lookup+"|"+strings.Join(l.SourceIndexes, ",")] = true
	}
	for i, a := range b.cfg.Energy {
		n, err := b.lookupName(a.Metric)
		if err != nil {
			return nil, nil, err
		}
		if n == nil {
			continue // resolveEnergy reports it
		}
		qlabel := ""
		if a.QuantityByIndex != nil {
			qlabel = a.QuantityByIndex.Label
		}
		var columns []*mib.Node
		if n.Parent != nil && len(n.Indexes) > 0 {
			columns = n.Parent.Children
		}
		// pick finds name among the metric's indexes, else among its row's columns.
		pick := func(what, name string) (string, error) {
			if slices.Contains(n.Indexes, name) {
				return name, nil
			}
			for _, c := range columns {
				if c.Label == name {
					return name, b.addLookup(&plans[i], &extra, have, n, name)
				}
			}
			var cols []string
			for _, c := range columns {
				cols = append(cols, c.Label)
			}
			return "", &EnergyFieldError{Module: b.name, Index: i, Field: what, Msg: fmt.Sprintf("%q is neither an index label of %s (indexes: %s) nor a column of its row (columns: %s)",
				name, a.Metric, strings.Join(n.Indexes, ", "), strings.Join(cols, ", "))}
		}
		scope := a.Scope
		if scope == "" {
			scope = ScopeDevice
		}
		p := &plans[i]
		if scope != ScopeDevice {
			if a.LocationLabel != "" {
				if p.location, err = pick("location_label", a.LocationLabel); err != nil {
					return nil, nil, err
				}
			} else {
				for j := len(n.Indexes) - 1; j >= 0; j-- {
					if n.Indexes[j] != qlabel {
						p.location = n.Indexes[j]
						break
					}
				}
				if p.location == "" {
					return nil, nil, &EnergyFieldError{Module: b.name, Index: i, Field: "location_label", Msg: fmt.Sprintf("%s has no index label to number the %s; use scope device", a.Metric, scope)}
				}
			}
		}
		switch {
		case a.UnitLabel == NoUnit:
		case a.UnitLabel != "":
			if p.unit, err = pick("unit_label", a.UnitLabel); err != nil {
				return nil, nil, err
			}
		default:
			for _, ix := range n.Indexes {
				if ix != qlabel && ix != p.location && unitColumnRE.MatchString(ix) {
					p.unit = ix
					break
				}
			}
			if p.unit != "" {
				break
			}
			for _, c := range columns {
				if c == n || c.Label == p.location || slices.Contains(n.Indexes, c.Label) || !unitColumnRE.MatchString(c.Label) {
					continue
				}
				if t, ok := metricType(b.typeOf(c)); !ok || t != "gauge" || !metricAccess(c.Access) {
					continue
				}
				p.unit = c.Label
				if err := b.addLookup(p, &extra, have, n, c.Label); err != nil {
					return nil, nil, err
				}
				break
			}
		}
	}
	return plans, extra, nil
}

func (b *moduleBuilder) addLookup(p *energyPlan, extra *[]Lookup, have map[string]bool, n *mib.Node, column string) error {
	l := Lookup{SourceIndexes: slices.Clone(n.Indexes), Lookup: column}
	p.lookups = append(p.lookups, l)
	key := l.Lookup + "|" + strings.Join(l.SourceIndexes, ",")
	if !have[key] {
		have[key] = true
		*extra = append(*extra, l)
	}
	return nil
}

// resolveEnergy checks the module's annotations against its metrics.
func (b *moduleBuilder) resolveEnergy(out *config.Module, plans []energyPlan) ([]EnergyMetric, error) {
	var res []EnergyMetric
	for i, a := range b.cfg.Energy {
		field := fmt.Sprintf("x-wattson-energy[%d]", i)
		metric, err := b.energyMetric(out, field+".metric", a.Metric)
		if err != nil {
			return nil, err
		}
		em := EnergyMetric{Module: b.name, Metric: metric.Name, OID: metric.Oid, Quantity: a.Quantity, Unit: a.Quantity.Unit(), Scale: a.Scale}
		if em.Scale == 0 {
			em.Scale = 1
		}
		em.Labels = metricLabels(metric)
		em.Scope = a.Scope
		if em.Scope == "" {
			em.Scope = ScopeDevice
		}
		em.MissingValues = a.MissingValues
		em.Drop = slices.Clone(em.Labels)
		if i < len(plans) {
			p := plans[i]
			em.LocationLabel, em.UnitLabel = sanitizeLabelName(p.location), sanitizeLabelName(p.unit)
			for _, l := range p.lookups {
				if name := sanitizeLabelName(l.Lookup); !slices.Contains(em.Drop, name) {
					em.Drop = append(em.Drop, name)
				}
			}
		}
		if qb := a.QuantityByIndex; qb != nil {
			var index *config.Index
			for _, ix := range metric.Indexes {
				if ix.Labelname == qb.Label {
					index = ix
				}
			}
			if index == nil {
				return nil, fmt.Errorf("module %s: %s.quantity_by_index.label: %q is not an index of %s (indexes: %s)",
					b.name, field, qb.Label, metric.Name, strings.Join(em.Labels, ", "))
			}
			sel := &QuantityByLabel{Label: qb.Label, Values: map[string]Quantity{}}
			for k, q := range qb.Values {
				key := k
				scale, scaled := qb.Scales[k]
				if index.Type == "EnumAsInfo" {
					// The exporter writes the enum name; accept the number too.
					if n, err := strconv.Atoi(k); err == nil && index.EnumValues[n] != "" {
						key = index.EnumValues[n]
					} else if !enumHas(index.EnumValues, k) {
						return nil, fmt.Errorf("module %s: %s.quantity_by_index.values: %q is not a value of %s (closest: %s)",
							b.name, field, k, qb.Label, strings.Join(closest(k, enumNames(index.EnumValues), 3), ", "))
					}
				}
				sel.Values[key] = q
				if scaled {
					if sel.Scales == nil {
						sel.Scales = map[string]float64{}
					}
					sel.Scales[key] = scale
				}
			}
			em.QuantityByLabel = sel
		}
		if a.DecimalDigitsFrom != "" {
			dm, err := b.energyMetric(out, field+".decimal_digits_from", a.DecimalDigitsFrom)
			if err != nil {
				return nil, err
			}
			em.DecimalDigits = &DecimalDigits{Metric: dm.Name, OID: dm.Oid, Labels: metricLabels(dm)}
		}
		res = append(res, em)
	}
	return res, nil
}

func (b *moduleBuilder) energyMetric(out *config.Module, field, name string) (*config.Metric, error) {
	n, err := b.lookupName(name)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, b.notFound(field, name)
	}
	for _, m := range out.Metrics {
		if m.Oid == n.OID {
			return m, nil
		}
	}
	return nil, fmt.Errorf("module %s: %s: %s (%s) is not a metric of this module; walk it or remove the annotation", b.name, field, name, n.OID)
}

// energyWalks returns the columns energy annotations need but the module
// does not list, so they are walked too.
func energyWalks(cfg *GeneratorModule) []string {
	var out []string
	for _, a := range cfg.Energy {
		if a.DecimalDigitsFrom != "" {
			out = append(out, a.DecimalDigitsFrom)
		}
	}
	return out
}

func metricLabels(m *config.Metric) []string {
	var out []string
	for _, ix := range m.Indexes {
		out = append(out, ix.Labelname)
	}
	return out
}

func enumHas(values map[int]string, name string) bool {
	for _, v := range values {
		if v == name {
			return true
		}
	}
	return false
}

func enumNames(values map[int]string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
