package render_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/generator"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

// TestModelNamesResolveInItsOwnMIBs: WATTSON-ALPHA-MIB and WATTSON-BETA-MIB (our test MIBs) both
// define outletCurrent. A PDUModel with mibs [WATTSON-ALPHA-MIB] must read ALPHA's; before issue
// 16 it compiled BETA's (the last in OID order), and its PDUs silently had no outlet currents.
// Listing both leaves the name ambiguous: the compile fails naming both MODULE::outletCurrent.
func TestModelNamesResolveInItsOwnMIBs(t *testing.T) {
	c, _, err := generator.NewCompiler(context.Background(), generator.MIBSource{Dirs: []string{"../generator/testdata/mibs/scoped"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mibs    []v1alpha1.MIBModuleName
		wantOID string
		wantErr string
	}{
		{mibs: []v1alpha1.MIBModuleName{"WATTSON-ALPHA-MIB"}, wantOID: "1.3.6.1.4.1.99990.1.1.3"},
		{mibs: []v1alpha1.MIBModuleName{"WATTSON-BETA-MIB"}, wantOID: "1.3.6.1.4.1.99991.1.1.3"},
		{mibs: []v1alpha1.MIBModuleName{"WATTSON-ALPHA-MIB", "WATTSON-BETA-MIB"}, wantErr: "WATTSON-ALPHA-MIB::outletCurrent"},
	}
	for _, tt := range tests {
		spec := v1alpha1.PDUModelSpec{MIBs: tt.mibs, Walk: []v1alpha1.ObjectName{"outletCurrent"}}
		gm, err := render.GeneratorModule(&spec)
		if err != nil {
			t.Fatal(err)
		}
		mod, _, _, err := c.Module("m", gm)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "WATTSON-BETA-MIB::outletCurrent") {
				t.Errorf("mibs %v: got %v, want an error naming both candidates", tt.mibs, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("mibs %v: %v", tt.mibs, err)
		}
		if !slices.Contains(mod.Walk, tt.wantOID) {
			t.Errorf("mibs %v: walk %v, want %s", tt.mibs, mod.Walk, tt.wantOID)
		}
	}
}
