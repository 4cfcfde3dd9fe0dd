package render_test

import (
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// TestDaisyChainedUnitsKeepTheirOwnSeries serves testdata/snmprec/apc-rpdu2-two-units.snmprec
// (two APC rPDU2 units behind one address, each single-phase at about 208 V) through the real
// chain, read with the simplest model a user writes from the README: device power and the phase
// voltage, scope device (the default). Before issue 16 the rules summed every row: one 415 V
// series and one 2970 W series. Now each unit keeps its own series, labelled unit from the rows'
// rPDU2*Module column, voltage is never summed, and the PDU's total power (the sum the
// Collecting condition takes) is still 2970 W.
func TestDaisyChainedUnitsKeepTheirOwnSeries(t *testing.T) {
	recording, err := filepath.Abs("testdata/snmprec/apc-rpdu2-two-units.snmprec")
	if err != nil {
		t.Fatal(err)
	}
	models := []v1alpha1.PDUModel{{
		ObjectMeta: metav1.ObjectMeta{Name: "apc-chain"},
		Spec: v1alpha1.PDUModelSpec{
			MIBs: []v1alpha1.MIBModuleName{"PowerNet-MIB"},
			Walk: []v1alpha1.ObjectName{"rPDU2DeviceStatusPower", "rPDU2PhaseStatusVoltage"},
			Energy: []v1alpha1.EnergyAnnotation{
				{Metric: "rPDU2DeviceStatusPower", Quantity: "power", Scale: "10"},
				{Metric: "rPDU2PhaseStatusVoltage", Quantity: "voltage"},
			},
		},
	}}
	ch := startChain(t, vendorMIBs(t), models, []chainPDU{{name: "pdu-b01", model: "apc-chain", recording: recording}})

	tests := []struct {
		query string
		want  map[string]float64 // unit label -> value
	}{
		{`wattson_pdu_voltage_volts{pdu="pdu-b01"}`, map[string]float64{"1": 208, "2": 207}},
		{`wattson_pdu_power_watts{pdu="pdu-b01"}`, map[string]float64{"1": 1480, "2": 1490}},
		// The PDU's total, as the Collecting condition sums it: power is additive.
		{`sum by (namespace, pdu, scope) (wattson_pdu_power_watts{pdu="pdu-b01"})`, map[string]float64{"": 2970}},
	}
	for _, tt := range tests {
		got, err := ch.query(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %d series %v, want %d (one per unit)", tt.query, len(got), got, len(tt.want))
			continue
		}
		for _, s := range got {
			want, ok := tt.want[s.Labels["unit"]]
			if !ok || !approx(s.Value, want) || s.Labels["scope"] != "device" && s.Labels["scope"] != "" {
				t.Errorf("%s: unexpected series %v (want per unit %v)", tt.query, s, tt.want)
			}
		}
	}
	if errs := ch.ruleErrors(t); len(errs) > 0 {
		t.Errorf("recording rules failed: %v", errs)
	}
}
