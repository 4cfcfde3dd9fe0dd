package sim

import (
	"fmt"
	"math"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// Reading says how to compute one normalised Wattson series from a device's raw values.
//
// It is written here, from the vendor MIBs and the simulator's data files, independently of the
// PDUModel energy annotations the operator renders into recording rules: if a PDUModel has a
// wrong scale, Prometheus and this table disagree, which is the point.
type Reading struct {
	// Metric is the normalised metric, e.g. wattson_pdu_power_watts.
	Metric string
	// Labels select the series among the PDU's: scope and, for inlet/phase/outlet, its number.
	Labels map[string]string
	// OID is the raw value's instance OID.
	OID string
	// Scale multiplies the raw value to reach the SI unit (W, J, A, V).
	Scale float64
	// DecimalDigitsOID, when set, names a variable d that divides the value by 10^d (Raritan).
	DecimalDigitsOID string
}

// SI returns the reading's value in SI units from a device's values.
func (r Reading) SI(vs Values) (float64, error) {
	v, err := vs.Float(r.OID)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.Metric, err)
	}
	v *= r.Scale
	if r.DecimalDigitsOID != "" {
		d, err := vs.Float(r.DecimalDigitsOID)
		if err != nil {
			return 0, fmt.Errorf("%s decimal digits: %w", r.Metric, err)
		}
		v /= math.Pow(10, d)
	}
	return v, nil
}

// Model is the truth for one PDU model as the simulator serves it.
type Model struct {
	// DataFile is the simulator's device (or template) that serves this model.
	DataFile string
	// VendorPrefix is the vendor's enterprise subtree: dropping it removes every reading while
	// the device still answers, so the scrape is up but reports no power.
	VendorPrefix string
	// PowerOIDs are the subtrees of the power readings, for a scale fault on power alone.
	PowerOIDs []string
	// Readings are the normalised series the model must produce.
	Readings []Reading
}

// Models maps a PDUModel name (PDU spec.model, as in operator/config/samples) to its truth.
// Only readings the sample PDUModels walk are listed: each must be present in Prometheus.
var Models = map[string]Model{
	// PowerNet-MIB: power in hundredths of kW, energy in tenths of kWh, current in tenths of A,
	// voltage in V.
	"apc-rpdu2": {
		DataFile:     "apc-rpdu2",
		VendorPrefix: "1.3.6.1.4.1.318",
		PowerOIDs:    []string{"1.3.6.1.4.1.318.1.1.26.4.3.1.5"},
		Readings: []Reading{
			{Metric: v1alpha1.MetricPower, Labels: map[string]string{v1alpha1.ScopeLabel: "device"}, OID: "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1", Scale: 10},
			{Metric: v1alpha1.MetricEnergy, Labels: map[string]string{v1alpha1.ScopeLabel: "device"}, OID: "1.3.6.1.4.1.318.1.1.26.4.3.1.9.1", Scale: 360000},
			{Metric: v1alpha1.MetricCurrent, Labels: map[string]string{v1alpha1.ScopeLabel: "phase", "phase": "1"}, OID: "1.3.6.1.4.1.318.1.1.26.6.3.1.5.1", Scale: 0.1},
			{Metric: v1alpha1.MetricVoltage, Labels: map[string]string{v1alpha1.ScopeLabel: "phase", "phase": "1"}, OID: "1.3.6.1.4.1.318.1.1.26.6.3.1.6.1", Scale: 1},
		},
	},
	// PDU2-MIB: measurementsInletSensorValue.PDU.INLET.SENSORTYPE divided by
	// 10^inletSensorDecimalDigits; activePower W (5), activeEnergy Wh (8), rmsCurrent A (1),
	// rmsVoltage V (4).
	"raritan-px": {
		DataFile:     "raritan-px3",
		VendorPrefix: "1.3.6.1.4.1.13742",
		PowerOIDs:    []string{"1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.5"},
		Readings: []Reading{
			{Metric: v1alpha1.MetricPower, Labels: map[string]string{v1alpha1.ScopeLabel: "inlet", "inlet": "1"}, OID: "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.5", Scale: 1, DecimalDigitsOID: "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1.5"},
			{Metric: v1alpha1.MetricEnergy, Labels: map[string]string{v1alpha1.ScopeLabel: "inlet", "inlet": "1"}, OID: "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.8", Scale: 3600, DecimalDigitsOID: "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1.8"},
			{Metric: v1alpha1.MetricCurrent, Labels: map[string]string{v1alpha1.ScopeLabel: "inlet", "inlet": "1"}, OID: "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.1", Scale: 1, DecimalDigitsOID: "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1.1"},
			{Metric: v1alpha1.MetricVoltage, Labels: map[string]string{v1alpha1.ScopeLabel: "inlet", "inlet": "1"}, OID: "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.4", Scale: 1, DecimalDigitsOID: "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1.4"},
		},
	},
	// CPS-MIB ePDULoadStatus: load in tenths of A, voltage in tenths of V, active power in W.
	// The sample PDUModel does not walk energy, so there is no energy reading.
	"cyberpower-epdu": {
		DataFile:     "cyberpower-epdu",
		VendorPrefix: "1.3.6.1.4.1.3808",
		PowerOIDs:    []string{"1.3.6.1.4.1.3808.1.1.3.2.3.1.1.7"},
		Readings: []Reading{
			{Metric: v1alpha1.MetricPower, Labels: map[string]string{v1alpha1.ScopeLabel: "phase", "phase": "1"}, OID: "1.3.6.1.4.1.3808.1.1.3.2.3.1.1.7.1", Scale: 1},
			{Metric: v1alpha1.MetricCurrent, Labels: map[string]string{v1alpha1.ScopeLabel: "phase", "phase": "1"}, OID: "1.3.6.1.4.1.3808.1.1.3.2.3.1.1.2.1", Scale: 0.1},
			{Metric: v1alpha1.MetricVoltage, Labels: map[string]string{v1alpha1.ScopeLabel: "phase", "phase": "1"}, OID: "1.3.6.1.4.1.3808.1.1.3.2.3.1.1.6.1", Scale: 0.1},
		},
	},
}

// Within reports whether got is within a relative tolerance of want (absolute when want is 0).
func Within(got, want, tolerance float64) bool {
	return math.Abs(got-want) <= tolerance*math.Max(math.Abs(want), 1e-9)
}
