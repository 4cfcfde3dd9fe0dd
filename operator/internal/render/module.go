package render

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/generator"
)

// FieldError is an invalid field of a spec; Field is its path, e.g. spec.energy[1].scale.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// ParseDecimal reads a Decimal; empty means def.
func ParseDecimal(field string, d v1alpha1.Decimal, def float64) (float64, error) {
	if d == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(string(d), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fieldErr(field, "%q is not a decimal number", d)
	}
	return f, nil
}

// ModuleName is the snmp_exporter module of a model: its name, which is unique cluster-wide.
func ModuleName(model *v1alpha1.PDUModel) string { return model.Name }

// GeneratorModule converts a PDUModel's spec into the MIB compiler's generator module. Errors are
// *FieldError naming the spec field.
func GeneratorModule(spec *v1alpha1.PDUModelSpec) (*generator.GeneratorModule, error) {
	gm := &generator.GeneratorModule{
		Walk: objectNames(spec.Walk),
		Get:  objectNames(spec.Get),
	}
	for _, l := range spec.Lookups {
		gm.Lookups = append(gm.Lookups, generator.Lookup{
			SourceIndexes: l.SourceIndexes, Lookup: string(l.Lookup), DropSourceIndexes: l.DropSourceIndexes,
		})
	}
	if spec.MaxRepetitions != nil {
		gm.MaxRepetitions = uint32(*spec.MaxRepetitions)
	}
	if spec.Retries != nil {
		r := int(*spec.Retries)
		gm.Retries = &r
	}
	if spec.Timeout != "" {
		d, err := time.ParseDuration(string(spec.Timeout))
		if err != nil || d <= 0 {
			return nil, fieldErr("spec.timeout", "%q is not a positive duration", spec.Timeout)
		}
		gm.Timeout = generator.Duration(d)
	}
	if len(spec.Overrides) > 0 {
		gm.Overrides = map[string]generator.MetricOverrides{}
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Overrides)) {
		o := spec.Overrides[name]
		field := "spec.overrides." + name
		scale, err := ParseDecimal(field+".scale", o.Scale, 0)
		if err != nil {
			return nil, err
		}
		offset, err := ParseDecimal(field+".offset", o.Offset, 0)
		if err != nil {
			return nil, err
		}
		mo := generator.MetricOverrides{
			Ignore: o.Ignore, Type: string(o.Type), Name: o.Name, Help: o.Help, Scale: scale, Offset: offset,
		}
		for suffix, res := range o.RegexExtracts {
			if mo.RegexpExtracts == nil {
				mo.RegexpExtracts = map[string][]generator.RegexpExtract{}
			}
			for _, re := range res {
				v := re.Value
				if v == "" {
					v = "$1"
				}
				mo.RegexpExtracts[suffix] = append(mo.RegexpExtracts[suffix], generator.RegexpExtract{Regex: re.Regex, Value: v})
			}
		}
		gm.Overrides[name] = mo
	}
	for i, a := range spec.Energy {
		field := fmt.Sprintf("spec.energy[%d]", i)
		scale, err := ParseDecimal(field+".scale", a.Scale, 0)
		if err != nil {
			return nil, err
		}
		if scale < 0 {
			return nil, fieldErr(field+".scale", "must be positive, got %s", a.Scale)
		}
		ga := generator.EnergyAnnotation{
			Metric: string(a.Metric), Quantity: generator.Quantity(a.Quantity), Scale: scale,
			DecimalDigitsFrom: string(a.DecimalDigitsFrom),
		}
		if q := a.QuantityByIndex; q != nil {
			gq := &generator.QuantityByIndex{Label: q.Label, Values: map[string]generator.Quantity{}}
			for k, v := range q.Values {
				gq.Values[k] = generator.Quantity(v)
			}
			for _, k := range slices.Sorted(maps.Keys(q.Scales)) {
				s, err := ParseDecimal(fmt.Sprintf("%s.quantityByIndex.scales.%s", field, k), q.Scales[k], 1)
				if err != nil {
					return nil, err
				}
				if gq.Scales == nil {
					gq.Scales = map[string]float64{}
				}
				gq.Scales[k] = s
			}
			ga.QuantityByIndex = gq
		}
		gm.Energy = append(gm.Energy, ga)
	}
	if err := gm.Validate(); err != nil {
		return nil, &FieldError{Field: "spec", Err: err}
	}
	return gm, nil
}

// EnergyStatus joins the compiler's resolved annotations (one per spec.energy entry, in order)
// with the scope and location of each entry.
func EnergyStatus(spec *v1alpha1.PDUModelSpec, resolved []generator.EnergyMetric) ([]v1alpha1.EnergyMetric, error) {
	if len(resolved) != len(spec.Energy) {
		return nil, fmt.Errorf("compiler resolved %d energy annotations, spec has %d", len(resolved), len(spec.Energy))
	}
	out := make([]v1alpha1.EnergyMetric, 0, len(resolved))
	for i, r := range resolved {
		a := spec.Energy[i]
		field := fmt.Sprintf("spec.energy[%d]", i)
		em := v1alpha1.EnergyMetric{
			Metric:   r.Metric,
			Labels:   r.Labels,
			Quantity: v1alpha1.Quantity(r.Quantity),
			Scale:    formatFloat(r.Scale),
			Scope:    a.Scope,
		}
		if em.Scope == "" {
			em.Scope = v1alpha1.ScopeDevice
		}
		if q := r.QuantityByLabel; q != nil {
			em.QuantityLabel = q.Label
			em.Quantities = map[string]v1alpha1.Quantity{}
			for k, v := range q.Values {
				em.Quantities[k] = v1alpha1.Quantity(v)
			}
			for k, s := range q.Scales {
				if em.Scales == nil {
					em.Scales = map[string]v1alpha1.Decimal{}
				}
				em.Scales[k] = formatFloat(s)
			}
		}
		if d := r.DecimalDigits; d != nil {
			em.DecimalDigitsMetric = d.Metric
			em.DecimalDigitsLabels = d.Labels
		}
		if em.Scope != v1alpha1.ScopeDevice {
			em.LocationLabel = a.LocationLabel
			if em.LocationLabel == "" {
				for j := len(r.Labels) - 1; j >= 0; j-- {
					if r.Labels[j] != em.QuantityLabel {
						em.LocationLabel = r.Labels[j]
						break
					}
				}
			}
			if em.LocationLabel == "" {
				return nil, fieldErr(field+".locationLabel", "metric %s has no index label to number the %s; use scope device", r.Metric, em.Scope)
			}
			if !contains(r.Labels, em.LocationLabel) {
				return nil, fieldErr(field+".locationLabel", "%q is not an index label of %s (labels: %v)", em.LocationLabel, r.Metric, r.Labels)
			}
		}
		out = append(out, em)
	}
	return out, nil
}

func formatFloat(f float64) v1alpha1.Decimal {
	return v1alpha1.Decimal(strconv.FormatFloat(f, 'g', -1, 64))
}

func objectNames(in []v1alpha1.ObjectName) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, n := range in {
		out[i] = string(n)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
