package suggest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/mib"
)

func TestReadUnit(t *testing.T) {
	tests := []struct {
		text  string
		hint  v1alpha1.Quantity
		q     v1alpha1.Quantity
		scale float64
		ok    bool
	}{
		{"the power consumption in hundredths of kilowatts", "power", "power", 10, true},
		{"energy consumption in tenths of kilowatt-hours", "energy", "energy", 360000, true},
		{"0.1 kwh", "energy", "energy", 360000, true},
		{"load measured in tenths of amps", "", "current", 0.1, true},
		{"units are milliamps", "current", "current", 0.001, true},
		{"current in hundredth amps", "current", "current", 0.01, true},
		{"voltage measured in 0.1 volts", "voltage", "voltage", 0.1, true},
		{"the input voltage in tenth volts", "voltage", "voltage", 0.1, true},
		{"active power measured in watts", "power", "power", 1, true},
		{"the output energy in wh", "energy", "energy", 3600, true},
		{"apparent power in hundredths of kilovoltamps (kva)", "apparent_power", "apparent_power", 10, true},
		{"power factor, in hundredths", "power_factor", "power_factor", 0.01, true},
		{"temperature in tenths of degrees celsius", "temperature", "temperature", 0.1, true},
		// Never guessed: no unit, or a unit that is not the name's.
		{"indicates the power draw of the load", "power", "", 0, false},
		{"the outlet current in volts", "current", "", 0, false},
		{"temperature in degrees fahrenheit", "temperature", "", 0, false},
	}
	for _, tt := range tests {
		q, scale, ok := readUnit(tt.text, tt.hint)
		if q != tt.q || scale != tt.scale || ok != tt.ok {
			t.Errorf("readUnit(%q, %q) = %q, %v, %v; want %q, %v, %v", tt.text, tt.hint, q, scale, ok, tt.q, tt.scale, tt.ok)
		}
	}
}

// TestSuggestPowerNetWithoutRecording: on APC's PowerNet-MIB alone, the rPDU2 objects get their
// scale, "not supported" value and location from the MIB, and an object whose description has
// no unit is listed, not guessed.
func TestSuggestPowerNetWithoutRecording(t *testing.T) {
	fx := "../../../../shared/fixtures/mibs"
	if _, err := os.Stat(fx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("shared fixtures missing (CI=true)")
		}
		t.Skip("shared fixtures not found at " + fx)
	}
	res, err := Suggest(context.Background(), mib.Dirs(filepath.Join(fx, "ietf"), filepath.Join(fx, "vendor", "apc")), Options{MIBs: []string{"PowerNet-MIB"}})
	if err != nil {
		t.Fatal(err)
	}
	byMetric := map[string]v1alpha1.EnergyAnnotation{}
	for _, a := range res.Model.Spec.Energy {
		byMetric[string(a.Metric)] = a
	}
	tests := []struct {
		metric, scale, missing, location string
		q                                v1alpha1.Quantity
		scope                            v1alpha1.Scope
	}{
		{"rPDU2DeviceStatusPower", "10", "-1", "", "power", "device"},
		{"rPDU2DeviceStatusEnergy", "360000", "-1", "", "energy", "device"},
		{"rPDU2PhaseStatusCurrent", "0.1", "", "rPDU2PhaseStatusNumber", "current", "phase"},
		{"rPDU2PhaseStatusVoltage", "", "-1", "rPDU2PhaseStatusNumber", "voltage", "phase"},
		{"rPDUIdentDevicePowerWatts", "", "", "", "power", "device"},
		{"rPDULoadStatusLoad", "0.1", "", "rPDULoadStatusPhaseNumber", "current", "phase"},
	}
	for _, tt := range tests {
		a, ok := byMetric[tt.metric]
		if !ok {
			t.Errorf("%s not suggested", tt.metric)
			continue
		}
		missing := ""
		if len(a.MissingValues) > 0 {
			missing = string(a.MissingValues[0])
		}
		if a.Quantity != tt.q || string(a.Scale) != tt.scale || missing != tt.missing || a.LocationLabel != tt.location || a.Scope != tt.scope {
			t.Errorf("%s: got %+v, want quantity %s scale %q missing %q location %q scope %s", tt.metric, a, tt.q, tt.scale, tt.missing, tt.location, tt.scope)
		}
	}
	for _, skipped := range []string{"rPDU2DeviceStatusPeakPower", "rPDU2PhaseStatusPeakCurrent", "rPDU2PhaseStatusNumber"} {
		if _, ok := byMetric[skipped]; ok {
			t.Errorf("%s is not a reading but was suggested", skipped)
		}
	}
	undecided := false
	for _, u := range res.Undecided {
		if u.Object == "rPDU2OutletMeteredStatusPower" && strings.Contains(u.Reason, "no unit") {
			undecided = true
		}
	}
	if !undecided {
		t.Errorf("rPDU2OutletMeteredStatusPower (no unit in its description) is not listed as undecided: %v", res.Undecided)
	}
	if _, ok := byMetric["rPDU2BankStatusCurrent"]; ok {
		t.Error("rPDU2BankStatusCurrent (a breaker bank) was given a scope")
	}
	if _, ok := byMetric["rPDU2OutletMeteredStatusPower"]; ok {
		t.Error("rPDU2OutletMeteredStatusPower was guessed")
	}
}
