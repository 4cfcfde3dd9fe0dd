package generator

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"
)

func TestMainCommands(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "snmp.yml")
	energyOut := filepath.Join(dir, "energy.yml")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
		wantFile   string
	}{
		{name: "generate", args: []string{"generate", "--generator-path", "testdata/generator.yml", "--mibs-dir", "testdata/mibs/good", "--output-path", out, "--energy-output-path", energyOut},
			wantCode: 0, wantStderr: "config written", wantFile: out},
		{name: "generate with short flags", args: []string{"generate", "-g", "testdata/generator.yml", "-m", "testdata/mibs/good", "-o", out},
			wantCode: 0, wantFile: out},
		{name: "parse-errors lists file:line", args: []string{"parse-errors", "--mibs-dir", "testdata/mibs/good", "--mibs-dir", "testdata/mibs/broken"},
			wantCode: 0, wantStdout: "testdata/mibs/broken/WATTSON-SYNTAX-MIB:19:46: error: WATTSON-SYNTAX-MIB: expected COLON_COLON_EQUAL [parse-error]"},
		{name: "parse_errors with --fail-on-parse-errors", args: []string{"parse_errors", "--fail-on-parse-errors", "--mibs-dir", "testdata/mibs/broken"},
			wantCode: 1, wantStdout: "WATTSON-MISSING-MIB:6:5: error"},
		{name: "generate tolerates unrelated MIB errors", args: []string{"generate", "--generator-path", "testdata/generator.yml", "--mibs-dir", "testdata/mibs/good", "--mibs-dir", "testdata/mibs/broken", "--output-path", out},
			wantCode: 0, wantStderr: "generation fails only if a module needs a broken object"},
		{name: "generate fails on MIB errors when asked", args: []string{"generate", "--fail-on-parse-errors", "--generator-path", "testdata/generator.yml", "--mibs-dir", "testdata/mibs/good", "--mibs-dir", "testdata/mibs/broken", "--output-path", out},
			wantCode: 1, wantStderr: "failing on MIB errors"},
		{name: "missing generator file", args: []string{"generate", "--generator-path", filepath.Join(dir, "nope.yml"), "--mibs-dir", "testdata/mibs/good", "--output-path", out},
			wantCode: 1, wantStderr: "nope.yml"},
		{name: "no mibs dir", args: []string{"generate", "--generator-path", "testdata/generator.yml"}, wantCode: 2, wantStderr: "--mibs-dir"},
		{name: "unknown command", args: []string{"dump"}, wantCode: 2, wantStderr: `unknown command "dump"`},
		{name: "no command", args: nil, wantCode: 2, wantStderr: "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(out)
			var stdout, stderr bytes.Buffer
			code := Main(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, stderr.String())
			}
			if tt.wantFile != "" {
				b, err := os.ReadFile(tt.wantFile)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(string(b), Header) || !strings.Contains(string(b), "name: testSensorValue") {
					t.Errorf("unexpected output file:\n%s", b)
				}
			}
		})
	}
	t.Run("energy output", func(t *testing.T) {
		b, err := os.ReadFile(energyOut)
		if err != nil {
			t.Fatal(err)
		}
		var e Energy
		if err := yaml.UnmarshalStrict(b, &e); err != nil {
			t.Fatal(err)
		}
		if len(e.Metrics) != 4 {
			t.Errorf("energy output has %d metrics, want 4:\n%s", len(e.Metrics), b)
		}
	})
}

// TestSnmpExporterDryRun checks generated files with a real snmp_exporter.
func TestSnmpExporterDryRun(t *testing.T) {
	bin, err := filepath.Abs("../../../bin/snmp_exporter")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: run make tools", bin)
		}
		t.Skipf("%s not found: run make tools", bin)
	}
	files := map[string]string{}
	res, _ := compileTestdata(t)
	files["testdata"] = string(res.SnmpYAML)
	if _, err := os.Stat("../../../../shared/fixtures/README.md"); err == nil {
		fx := fixturesDir(t)
		inputs, _ := filepath.Glob(filepath.Join(fx, "snmp_exporter", "generator-modules", "*.generator.yml"))
		for _, in := range inputs {
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			gen, err := ParseGeneratorConfig(b)
			if err != nil {
				t.Fatal(err)
			}
			r, _, err := Compile(t.Context(), MIBSource{Dirs: fixtureMIBDirs(t, fx)}, gen)
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Base(in)] = string(r.SnmpYAML)
		}
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snmp.yml")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), bin, "--dry-run", "--config.file", path).CombinedOutput()
			if err != nil {
				t.Fatalf("snmp_exporter --dry-run rejected %s: %v\n%s", name, err, out)
			}
		})
	}
}
