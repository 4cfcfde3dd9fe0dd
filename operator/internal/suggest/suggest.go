package suggest

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// Options say what to suggest a model from.
type Options struct {
	// Name is the PDUModel's name.
	Name string
	// MIBs are the vendor's MIB modules to look in (e.g. PowerNet-MIB); their objects are the
	// candidates.
	MIBs []string
	// Recording, when set, is the device's variables (OID without leading dot -> value as
	// written in the .snmprec): objects the device does not answer, or answers only with a
	// "not supported" value, are left out, and every proposed series gets its SI value.
	Recording map[string]string
}

// Result is a proposed model and what the suggester could not decide.
type Result struct {
	Model *v1alpha1.PDUModel
	// Readings are the SI values each proposed series takes on the recording.
	Readings []Reading
	// Undecided are objects that look like energy readings but whose unit (or quantity) could
	// not be read from the MIB; they are not in the model.
	Undecided []Finding
	// Notes are decisions the user should check (duplicates, assumptions).
	Notes []string
}

// Reading is one series of the proposed model on the recording.
type Reading struct {
	Object   string
	Instance string // the OID suffix
	Quantity v1alpha1.Quantity
	Scope    v1alpha1.Scope
	Raw      float64
	SI       float64
}

// Finding is an object the suggester left out, and why.
type Finding struct {
	Object string
	Reason string
}

// unitRule maps a unit phrase in UNITS or DESCRIPTION to a quantity and the scale to its SI unit.
type unitRule struct {
	re    *regexp.Regexp
	q     v1alpha1.Quantity
	scale float64
}

// unitRules, most specific first. Each is matched against "UNITS DESCRIPTION", lower-cased.
var unitRules = func() []unitRule {
	r := func(expr string, q v1alpha1.Quantity, scale float64) unitRule {
		return unitRule{regexp.MustCompile(expr), q, scale}
	}
	return []unitRule{
		r(`(tenths? of (a )?kilo ?watt[- ]?hours?|0\.1 ?kwh|tenth kwh)`, "energy", 360000),
		r(`(hundredths? of (a )?kilo ?watt[- ]?hours?|0\.01 ?kwh)`, "energy", 36000),
		r(`(kilo ?watt[- ]?hours?|\bkwh\b)`, "energy", 3.6e6),
		r(`(tenths? of (a )?watt[- ]?hours?|0\.1 ?wh\b)`, "energy", 360),
		r(`(watt[- ]?hours?|\bwh\b)`, "energy", 3600),
		r(`(hundredths? of (a )?kilo ?volt ?-?amp(ere)?s?|0\.01 ?kva\b)`, "apparent_power", 10),
		r(`(tenths? of (a )?kilo ?volt ?-?amp(ere)?s?|0\.1 ?kva\b)`, "apparent_power", 100),
		r(`(kilo ?volt ?-?amp(ere)?s?|\bkva\b)`, "apparent_power", 1000),
		r(`(volt ?-?amp(ere)?s?|\bva\b)`, "apparent_power", 1),
		r(`(hundredths? of (a )?kilo ?watts?|0\.01 ?kw\b)`, "power", 10),
		r(`(tenths? of (a )?kilo ?watts?|0\.1 ?kw\b)`, "power", 100),
		r(`(kilo ?watts?|\bkw\b)`, "power", 1000),
		r(`(tenths? of (a )?watts?|0\.1 ?w\b)`, "power", 0.1),
		r(`(\bwatts?\b|\bw\b)`, "power", 1),
		r(`(milli ?amp(ere)?s?|\bma\b)`, "current", 0.001),
		r(`(hundredths? (of )?(an? )?amp(ere)?s?|0\.01 ?a(mps?)?\b)`, "current", 0.01),
		r(`(tenths? (of )?(an? )?amp(ere)?s?|0\.1 ?a(mps?)?\b)`, "current", 0.1),
		r(`(\bamp(ere)?s?\b)`, "current", 1),
		r(`(milli ?volts?|\bmv\b)`, "voltage", 0.001),
		r(`(tenths? (of )?(a )?volts?|0\.1 ?v(olts?)?\b)`, "voltage", 0.1),
		r(`(\bvolts?\b|\bvac\b)`, "voltage", 1),
		r(`(tenths? of (a )?degrees? c(elsius)?|0\.1 ?(deg(rees)? ?)?c\b)`, "temperature", 0.1),
		r(`(degrees? c(elsius)?|celsius)`, "temperature", 1),
		r(`(hundredths?)`, "power_factor", 0.01), // only with a power-factor name, see quantityHint
	}
}()

// quantityHint reads what an object measures from its name, for objects whose description has
// no unit and to confirm the unit rule.
func quantityHint(label string) v1alpha1.Quantity {
	l := strings.ToLower(label)
	switch {
	case strings.Contains(l, "powerfactor"):
		return "power_factor"
	case strings.Contains(l, "apparentpower"), strings.HasSuffix(l, "va"):
		return "apparent_power"
	case strings.Contains(l, "energy"), strings.Contains(l, "kwh"), strings.Contains(l, "watthour"):
		return "energy"
	case strings.Contains(l, "power"), strings.Contains(l, "watts"):
		return "power"
	case strings.Contains(l, "current"), strings.Contains(l, "amps"):
		return "current"
	case strings.Contains(l, "voltage"), strings.Contains(l, "volts"):
		return "voltage"
	case strings.Contains(l, "temperature"), strings.HasSuffix(l, "temp"):
		return "temperature"
	}
	return ""
}

// notReadings are names of settings and statistics, not live readings.
var notReadings = regexp.MustCompile(`(?i)(peak|max|min|threshold|limit|rating|rated|alarm|state|status$|timestamp|starttime|hyst|lower|upper|critical|warning|config|reset|supply|index$|number$|decimaldigits|resolution|accuracy|tolerance|offset|nominal)`)

// missingRE finds the value a description says means "not supported".
var missingRE = regexp.MustCompile(`(?i)(not support|unable|unavailable|not available|not applicable)[^.]*?(value of|with|returns?|respond[a-z]*)?[^.0-9-]*(-\d+)|(-\d+)[^.]*(not support|unable|unavailable)`)

// sensorTypes maps a sensor-type enum name (Raritan's SensorTypeEnumeration) to a quantity.
var sensorTypes = map[string]v1alpha1.Quantity{
	"rmsCurrent": "current", "rmsVoltage": "voltage", "activePower": "power", "apparentPower": "apparent_power",
	"powerFactor": "power_factor", "activeEnergy": "energy", "temperature": "temperature",
}

// unitEnums maps a sensor-units enum name (Raritan's SensorUnitsEnumeration) to the quantity
// and scale to SI.
var unitEnums = map[string]struct {
	q     v1alpha1.Quantity
	scale float64
}{
	"volt": {"voltage", 1}, "amp": {"current", 1}, "watt": {"power", 1}, "voltamp": {"apparent_power", 1},
	"wattHour": {"energy", 3600}, "degreeC": {"temperature", 1},
}

var decimalDigitsRE = regexp.MustCompile(`\b([a-z][A-Za-z0-9]*DecimalDigits)\b`)

// Suggest proposes a model from the MIBs in src.
func Suggest(ctx context.Context, src mib.Source, o Options) (*Result, error) {
	if len(o.MIBs) == 0 {
		return nil, fmt.Errorf("no MIB module given: name the vendor's modules (e.g. PowerNet-MIB)")
	}
	tree, _, err := mib.Load(ctx, src)
	if err != nil {
		return nil, err
	}
	for _, m := range o.MIBs {
		if _, ok := tree.Modules[m]; !ok {
			return nil, fmt.Errorf("MIB module %s is not in the MIB directories", m)
		}
	}
	own := map[string]bool{}
	for _, m := range o.MIBs {
		own[m] = true
	}
	res := &Result{}
	spec := v1alpha1.PDUModelSpec{}
	for _, m := range o.MIBs {
		spec.MIBs = append(spec.MIBs, v1alpha1.MIBModuleName(m))
	}
	type placeKey struct {
		q     v1alpha1.Quantity
		scope v1alpha1.Scope
	}
	seen := map[placeKey][]string{}
	tree.Root.Walk(func(n *mib.Node) {
		if !own[n.Module] || !numeric(n) || !readable(n.Access) {
			return
		}
		hint := quantityHint(n.Label)
		text := strings.ToLower(n.Units + " " + strings.Join(strings.Fields(n.Description), " "))
		digits := ""
		if m := decimalDigitsRE.FindStringSubmatch(n.Description); m != nil {
			digits = m[1]
		}
		qIndex, qEnum := sensorTypeIndex(tree, n)
		if hint == "" && qIndex == "" && !hasUnitPhrase(text) {
			return // not an energy reading
		}
		if notReadings.MatchString(n.Label) {
			return
		}
		instances := recorded(n, o.Recording)
		if o.Recording != nil && len(instances) == 0 {
			return // the device does not have it
		}
		a := v1alpha1.EnergyAnnotation{Metric: v1alpha1.ObjectName(n.Label)}
		var missing []float64
		if m := missingRE.FindStringSubmatch(strings.Join(strings.Fields(n.Description), " ")); m != nil {
			v := m[3]
			if v == "" {
				v = m[4]
			}
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				missing = append(missing, f)
				a.MissingValues = []v1alpha1.Decimal{v1alpha1.Decimal(v)}
			}
		}
		if o.Recording != nil && allMissing(instances, o.Recording, n.OID, missing) {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: left out, the device answers only %v (not supported)", n.Label, missing))
			return
		}
		scales := map[string]float64{}
		switch {
		case qIndex != "":
			// Each row says what it measures (Raritan): quantity by the sensor-type index.
			qb := &v1alpha1.QuantityByIndex{Label: qIndex, Values: map[string]v1alpha1.Quantity{}}
			units := unitsColumn(tree, n)
			for _, name := range qEnum {
				q, ok := sensorTypes[name]
				if !ok {
					continue
				}
				scale, how := 1.0, "assumed in its SI base unit"
				if q == "energy" {
					scale, how = 3600, "assumed in Wh"
				}
				if units != nil && o.Recording != nil {
					if u, ok := recordedUnit(units, n, name, qEnumValue(tree, n, qIndex, name), o.Recording); ok {
						e, known := unitEnums[u]
						if !known || e.q != q {
							res.Undecided = append(res.Undecided, Finding{n.Label + "{" + qIndex + "=" + name + "}", fmt.Sprintf("%s reports unit %q, which is not %s's", units.Label, u, q)})
							continue
						}
						scale, how = e.scale, "unit "+u+" from "+units.Label
					}
				}
				if o.Recording != nil && !rowsHave(n, qEnumValue(tree, n, qIndex, name), len(indexesOf(n)), o.Recording) {
					continue
				}
				qb.Values[name] = q
				if scale != 1 {
					if qb.Scales == nil {
						qb.Scales = map[string]v1alpha1.Decimal{}
					}
					qb.Scales[name] = decimal(scale)
				}
				scales[name] = scale
				res.Notes = append(res.Notes, fmt.Sprintf("%s{%s=%s}: %s, %s", n.Label, qIndex, name, q, how))
			}
			if len(qb.Values) == 0 {
				return
			}
			a.QuantityByIndex = qb
		default:
			q, scale, ok := readUnit(text, hint)
			if !ok {
				if hint != "" {
					why := "no unit in its UNITS clause or description"
					if hasUnitPhrase(text) {
						why = "its unit does not match its name (" + string(hint) + ")"
					}
					res.Undecided = append(res.Undecided, Finding{n.Label, why + ": " + snippet(n.Description)})
				}
				return
			}
			a.Quantity = q
			if scale != 1 {
				a.Scale = decimal(scale)
			}
			scales[""] = scale
		}
		if digits != "" {
			a.DecimalDigitsFrom = v1alpha1.ObjectName(digits)
		}
		if n.Parent != nil && strings.Contains(strings.ToLower(n.Parent.Label), "bank") {
			// Breaker banks are neither a phase nor an outlet; as another scope they would
			// add up with the phases into a wrong total.
			res.Undecided = append(res.Undecided, Finding{n.Label, "a bank (breaker group) reading: Wattson has no bank scope; add it with the scope it stands for, if any"})
			return
		}
		a.Scope, a.LocationLabel = scopeOf(tree, n)
		if a.LocationLabel != "" && o.Recording != nil {
			if loc := tree.ByLabel(a.LocationLabel); loc == nil || len(recorded(loc, o.Recording)) == 0 {
				res.Notes = append(res.Notes, fmt.Sprintf("%s: numbered by its index, the device does not answer %s", n.Label, a.LocationLabel))
				a.LocationLabel = ""
			}
		}
		spec.Walk = append(spec.Walk, v1alpha1.ObjectName(n.Label))
		spec.Energy = append(spec.Energy, a)
		for _, q := range quantities(a) {
			k := placeKey{q, a.Scope}
			seen[k] = append(seen[k], n.Label)
		}
		res.Readings = append(res.Readings, readings(tree, n, a, scales, digits, o.Recording)...)
	})
	keys := make([]placeKey, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	for _, k := range keys {
		if objs := seen[k]; len(objs) > 1 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s at scope %s comes from %d objects (%s): if they measure the same sensors, keep one", k.q, k.scope, len(objs), strings.Join(objs, ", ")))
		}
	}
	name := o.Name
	if name == "" {
		name = strings.ToLower(strings.TrimSuffix(o.MIBs[0], "-MIB"))
	}
	res.Model = &v1alpha1.PDUModel{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "PDUModel"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       spec,
	}
	return res, nil
}

func numeric(n *mib.Node) bool {
	switch n.Type {
	case "INTEGER", "UNSIGNED32", "GAUGE", "COUNTER", "COUNTER64":
		return len(n.EnumValues) == 0
	}
	return false
}

func readable(a string) bool {
	return a == "ACCESS_READONLY" || a == "ACCESS_READWRITE" || a == "ACCESS_CREATE"
}

func hasUnitPhrase(text string) bool {
	for _, r := range unitRules[:len(unitRules)-1] {
		if r.re.MatchString(text) {
			return true
		}
	}
	return false
}

// readUnit finds the first unit phrase; with a name hint it must agree with the name.
func readUnit(text string, hint v1alpha1.Quantity) (v1alpha1.Quantity, float64, bool) {
	for _, r := range unitRules {
		if r.q == "power_factor" && hint != "power_factor" {
			continue
		}
		if !r.re.MatchString(text) {
			continue
		}
		if hint != "" && hint != r.q {
			if hint == "power_factor" {
				continue
			}
			return "", 0, false
		}
		return r.q, r.scale, true
	}
	if hint == "power_factor" && strings.Contains(text, "factor") {
		return "", 0, false
	}
	return "", 0, false
}

// sensorTypeIndex returns the index of n's row whose enum names sensor types, and those names.
func sensorTypeIndex(tree *mib.Tree, n *mib.Node) (string, []string) {
	for _, ix := range indexesOf(n) {
		in := tree.ByLabel(ix)
		if in == nil || len(in.EnumValues) == 0 {
			continue
		}
		var names []string
		hit := false
		for _, v := range in.EnumValues {
			names = append(names, v)
			if _, ok := sensorTypes[v]; ok {
				hit = true
			}
		}
		if hit {
			sort.Strings(names)
			return ix, names
		}
	}
	return "", nil
}

func qEnumValue(tree *mib.Tree, n *mib.Node, index, name string) int {
	if in := tree.ByLabel(index); in != nil {
		for k, v := range in.EnumValues {
			if v == name {
				return k
			}
		}
	}
	return -1
}

// unitsColumn finds the units column of a sensor table, named like its value column:
// measurementsInletSensorValue -> inletSensorUnits (Raritan), sharing its indexes.
func unitsColumn(tree *mib.Tree, n *mib.Node) *mib.Node {
	base := strings.TrimSuffix(strings.TrimPrefix(n.Label, "measurements"), "SensorValue")
	if base == "" || base == n.Label {
		return nil
	}
	c := tree.ByLabel(strings.ToLower(base[:1]) + base[1:] + "SensorUnits")
	if c == nil || c.Module != n.Module || !slices.Equal(indexesOf(c), indexesOf(n)) {
		return nil
	}
	return c
}

// recordedUnit reads the units enum of a sensor-type row from the recording.
func recordedUnit(units, n *mib.Node, name string, typ int, rec map[string]string) (string, bool) {
	pos := slices.Index(indexesOf(n), "sensorType")
	for oid, v := range rec {
		if !strings.HasPrefix(oid, units.OID+".") {
			continue
		}
		arcs := strings.Split(strings.TrimPrefix(oid, units.OID+"."), ".")
		if pos < 0 || pos >= len(arcs) || arcs[pos] != strconv.Itoa(typ) {
			continue
		}
		i, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		if u, ok := units.EnumValues[i]; ok {
			return u, true
		}
	}
	return "", false
}

func rowsHave(n *mib.Node, typ, nIndexes int, rec map[string]string) bool {
	pos := slices.Index(indexesOf(n), "sensorType")
	for oid := range rec {
		if strings.HasPrefix(oid, n.OID+".") {
			arcs := strings.Split(strings.TrimPrefix(oid, n.OID+"."), ".")
			if pos >= 0 && pos < len(arcs) && arcs[pos] == strconv.Itoa(typ) {
				return true
			}
		}
	}
	return false
}

// scopeOf reads the scope from the table's name and a *Number column as the location.
func scopeOf(tree *mib.Tree, n *mib.Node) (v1alpha1.Scope, string) {
	if len(indexesOf(n)) == 0 || n.Parent == nil {
		return v1alpha1.ScopeDevice, ""
	}
	l := strings.ToLower(n.Parent.Label)
	scope := v1alpha1.ScopeDevice
	switch {
	case strings.Contains(l, "outlet"):
		scope = v1alpha1.ScopeOutlet
	case strings.Contains(l, "phase"), strings.Contains(l, "load"):
		scope = v1alpha1.ScopePhase
	case strings.Contains(l, "inlet"):
		scope = v1alpha1.ScopeInlet
	}
	if scope == v1alpha1.ScopeDevice {
		return scope, ""
	}
	for _, c := range n.Parent.Children {
		if strings.HasSuffix(c.Label, "Number") && !strings.Contains(strings.ToLower(c.Label), "bank") && numeric(c) && !slices.Contains(indexesOf(n), c.Label) {
			return scope, c.Label
		}
	}
	return scope, ""
}

func recorded(n *mib.Node, rec map[string]string) []string {
	var out []string
	for oid := range rec {
		if oid == n.OID+".0" || len(indexesOf(n)) > 0 && strings.HasPrefix(oid, n.OID+".") {
			out = append(out, strings.TrimPrefix(oid, n.OID))
		}
	}
	sort.Strings(out)
	return out
}

func allMissing(instances []string, rec map[string]string, oid string, missing []float64) bool {
	if len(missing) == 0 {
		return false
	}
	for _, in := range instances {
		v, err := strconv.ParseFloat(rec[oid+in], 64)
		if err != nil || !slices.Contains(missing, v) {
			return false
		}
	}
	return true
}

func quantities(a v1alpha1.EnergyAnnotation) []v1alpha1.Quantity {
	if a.Quantity != "" {
		return []v1alpha1.Quantity{a.Quantity}
	}
	var out []v1alpha1.Quantity
	for _, q := range a.QuantityByIndex.Values {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// readings computes the SI value of each recorded row: raw × scale ÷ 10^digits.
func readings(tree *mib.Tree, n *mib.Node, a v1alpha1.EnergyAnnotation, scales map[string]float64, digits string, rec map[string]string) []Reading {
	if rec == nil {
		return nil
	}
	var dn *mib.Node
	if digits != "" {
		dn = tree.ByLabel(digits)
	}
	var out []Reading
	for _, in := range recorded(n, rec) {
		raw, err := strconv.ParseFloat(rec[n.OID+in], 64)
		if err != nil {
			continue
		}
		if slices.ContainsFunc(a.MissingValues, func(d v1alpha1.Decimal) bool { return string(d) == strconv.FormatFloat(raw, 'f', -1, 64) }) {
			continue
		}
		q, scale := a.Quantity, scales[""]
		if qb := a.QuantityByIndex; qb != nil {
			pos := slices.Index(indexesOf(n), qb.Label)
			arcs := strings.Split(strings.TrimPrefix(in, "."), ".")
			if pos < 0 || pos >= len(arcs) {
				continue
			}
			t, _ := strconv.Atoi(arcs[pos])
			name := tree.ByLabel(qb.Label).EnumValues[t]
			var ok bool
			if q, ok = qb.Values[name]; !ok {
				continue
			}
			scale = scales[name]
		}
		si := raw * scale
		if dn != nil {
			if d, err := strconv.ParseFloat(rec[dn.OID+in], 64); err == nil {
				si /= math.Pow(10, d)
			}
		}
		out = append(out, Reading{Object: n.Label, Instance: in, Quantity: q, Scope: a.Scope, Raw: raw, SI: si})
	}
	return out
}

func decimal(f float64) v1alpha1.Decimal {
	return v1alpha1.Decimal(strconv.FormatFloat(f, 'g', -1, 64))
}

func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// indexesOf returns the INDEX labels of a column (from its row).
func indexesOf(n *mib.Node) []string {
	if len(n.Indexes) > 0 {
		return n.Indexes
	}
	if n.Parent != nil {
		return n.Parent.Indexes
	}
	return nil
}
