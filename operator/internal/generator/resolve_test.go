package generator

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// TestScopedNameResolution: WATTSON-ALPHA-MIB and WATTSON-BETA-MIB both define outletCurrent, at
// enterprises.99990 and .99991. A bare name resolves in the module's own MIBs (and what they
// import) first; a name still ambiguous is an error naming every candidate. snmp_exporter's
// generator (and Wattson before issue 16) silently took BETA's, the last in OID order.
func TestScopedNameResolution(t *testing.T) {
	c, _, err := NewCompiler(context.Background(), mib.Dirs("testdata/mibs/scoped"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		alpha = "1.3.6.1.4.1.99990.1.1.3"
		beta  = "1.3.6.1.4.1.99991.1.1.3"
	)
	tests := []struct {
		name    string
		mibs    []string
		walk    string
		lookup  string
		wantOID string
		wantErr []string // substrings of an *AmbiguousNameError
	}{
		{name: "own MIB", mibs: []string{"WATTSON-ALPHA-MIB"}, walk: "outletCurrent", wantOID: alpha},
		{name: "own MIB, the other vendor", mibs: []string{"WATTSON-BETA-MIB"}, walk: "outletCurrent", wantOID: beta},
		{name: "through IMPORTS", mibs: []string{"WATTSON-ALPHA-EXT-MIB"}, walk: "outletCurrent", wantOID: alpha},
		{name: "qualified", walk: "WATTSON-BETA-MIB::outletCurrent", wantOID: beta},
		{name: "qualified beats scope", mibs: []string{"WATTSON-ALPHA-MIB"}, walk: "WATTSON-BETA-MIB::outletCurrent", wantOID: beta},
		{name: "numeric OID", walk: alpha, wantOID: alpha},
		{name: "no scope", walk: "outletCurrent", wantErr: []string{
			`"outletCurrent" is ambiguous`, "WATTSON-ALPHA-MIB::outletCurrent (" + alpha + ")",
			"WATTSON-BETA-MIB::outletCurrent (" + beta + ")", "write MODULE::outletCurrent"}},
		{name: "both in scope", mibs: []string{"WATTSON-ALPHA-MIB", "WATTSON-BETA-MIB"}, walk: "outletCurrent", wantErr: []string{
			"module's MIBs (WATTSON-ALPHA-MIB, WATTSON-BETA-MIB)", "WATTSON-ALPHA-MIB::outletCurrent", "WATTSON-BETA-MIB::outletCurrent"}},
		{name: "scope without the name falls back to all MIBs", mibs: []string{"WATTSON-ALPHA-EXT-MIB"}, walk: "outletEnergy", wantOID: "1.3.6.1.4.1.99990.1.1.9"},
		{name: "lookup in the metric's row", walk: "WATTSON-BETA-MIB::outletCurrent", lookup: "outletName", wantOID: beta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gm := &GeneratorModule{MIBs: tt.mibs, Walk: []string{tt.walk}}
			if tt.lookup != "" {
				gm.Lookups = []Lookup{{SourceIndexes: []string{"outletIndex"}, Lookup: tt.lookup}}
			}
			mod, _, _, err := c.Module("m", gm)
			if tt.wantErr != nil {
				var amb *AmbiguousNameError
				if !errors.As(err, &amb) {
					t.Fatalf("got %v, want an ambiguous-name error", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(mod.Walk, tt.wantOID) {
				t.Errorf("walk = %v, want [%s]", mod.Walk, tt.wantOID)
			}
			if tt.lookup != "" {
				for _, m := range mod.Metrics {
					if m.Oid == tt.wantOID && (len(m.Lookups) != 1 || !strings.HasPrefix(m.Lookups[0].Oid, "1.3.6.1.4.1.99991.")) {
						t.Errorf("lookup of %s = %+v, want BETA's outletName", m.Name, m.Lookups)
					}
				}
			}
		})
	}
}

// TestGenerateScopedNames: `generate` applies the same rule to generator.yml: a bare name two
// loaded modules define fails naming both, and x-wattson-mibs or MODULE::name decides.
func TestGenerateScopedNames(t *testing.T) {
	tests := []struct {
		name, module string
		code         int
		want         string
	}{
		{"ambiguous", "walk: [outletCurrent]", exitError, "write MODULE::outletCurrent"},
		{"x-wattson-mibs", "x-wattson-mibs: [WATTSON-ALPHA-MIB]\n    walk: [outletCurrent]", exitOK, "1.3.6.1.4.1.99990.1.1.3"},
		{"qualified", "walk: [WATTSON-BETA-MIB::outletCurrent]", exitOK, "1.3.6.1.4.1.99991.1.1.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			gen := filepath.Join(dir, "generator.yml")
			out := filepath.Join(dir, "snmp.yml")
			if err := os.WriteFile(gen, []byte("modules:\n  m:\n    "+tt.module+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := Main([]string{"generate", "-g", gen, "-m", "testdata/mibs/scoped", "-o", out}, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tt.code, stderr.String())
			}
			got := stderr.String()
			if code == exitOK {
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, got)
			}
		})
	}
}
