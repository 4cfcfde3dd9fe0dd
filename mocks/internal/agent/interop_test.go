package agent

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

// fixtureDir holds third-party device recordings, read in place.
const fixtureDir = "../../../../shared/fixtures/snmprec"

// fixtures returns the recordings, skipping (or failing on CI) when the
// shared fixtures are not there.
func fixtures(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.snmprec"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no recordings in %s (CI=true)", fixtureDir)
		}
		t.Skipf("no recordings in %s: the shared fixtures are absent", fixtureDir)
	}
	return files
}

// netSNMP returns the path of a net-snmp tool, skipping (or failing on CI)
// when it is not installed.
func netSNMP(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (CI=true): apt-get install snmp", tool)
		}
		t.Skipf("%s not installed: apt-get install snmp", tool)
	}
	return p
}

// TestInteropNetSNMP walks every recording with net-snmp (v1 GETNEXT, v2c
// GETBULK, v3 authPriv) and gosnmp's BulkWalk, and requires exactly the
// file's variables, in OID order, with the file's values.
func TestInteropNetSNMP(t *testing.T) {
	files := fixtures(t)
	walk := netSNMP(t, "snmpwalk")
	bulkwalk := netSNMP(t, "snmpbulkwalk")
	ta := startAgent(t, fixtureDir, nil)
	v3user := testUsers[4] // SHA-256 + AES-128
	conf := t.TempDir()
	// No MIBs, no user config: numeric output only, nothing read from $HOME.
	env := append(os.Environ(), "MIBS=", "MIBDIRS="+conf, "SNMPCONFPATH="+conf, "SNMP_PERSISTENT_DIR="+conf)
	target := fmt.Sprintf("127.0.0.1:%d", ta.addr.Port)
	out := []string{"-On", "-Oe", "-Ob", "-Ot", "-OU", "-Ox", "-t", "3", "-r", "1"}

	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".snmprec")
		want, err := snmprec.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var wantV1 []snmprec.Record
		for _, r := range want {
			if r.Tag != snmprec.Counter64 { // v1 cannot carry Counter64
				wantV1 = append(wantV1, r)
			}
		}
		runs := []struct {
			tool string
			args []string
			want []snmprec.Record
		}{
			{"snmpwalk v1", append([]string{walk, "-v1", "-c", name}, out...), wantV1},
			{"snmpbulkwalk v2c", append([]string{bulkwalk, "-v2c", "-c", name, "-Cr25"}, out...), want},
			{"snmpwalk v3 authPriv", append([]string{walk, "-v3", "-l", "authPriv", "-u", v3user.Name,
				"-a", "SHA-256", "-A", v3user.AuthKey, "-x", "AES", "-X", v3user.PrivKey, "-n", name}, out...), want},
		}
		for _, r := range runs {
			t.Run(name+"/"+r.tool, func(t *testing.T) {
				cmd := exec.Command(r.args[0], append(r.args[1:], target, ".1")...)
				cmd.Env = env
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				stdout, err := cmd.Output()
				if err != nil {
					t.Fatalf("%v: %v\n%s", r.args, err, stderr.String())
				}
				got, err := snmprec.ParseWalk(bytes.NewReader(stdout), r.tool)
				if err != nil {
					t.Fatalf("parse %s output: %v", r.tool, err)
				}
				// ParseWalk sorts; the order check is on the raw output.
				checkOrder(t, stdout)
				compareRecords(t, got, r.want)
			})
		}
		t.Run(name+"/gosnmp BulkWalk", func(t *testing.T) {
			g := ta.client(t, gosnmp.Version2c, name)
			pdus, err := g.BulkWalkAll(".1.3")
			if err != nil {
				t.Fatal(err)
			}
			got := make([]snmprec.Record, len(pdus))
			for i, p := range pdus {
				got[i] = recordOf(t, p)
				if i > 0 && snmprec.Compare(got[i-1].OID, got[i].OID) >= 0 {
					t.Fatalf("gosnmp walk out of order at %s", got[i].OID)
				}
			}
			compareRecords(t, got, want)
		})
	}
}

// checkOrder requires strictly increasing OIDs in snmpwalk output.
func checkOrder(t *testing.T, out []byte) {
	t.Helper()
	var prev snmprec.OID
	for line := range strings.SplitSeq(string(out), "\n") {
		if !strings.HasPrefix(line, ".") || !strings.Contains(line, " = ") || strings.Contains(line, "No more variables") {
			continue
		}
		oid, err := snmprec.ParseOID(strings.SplitN(line, " = ", 2)[0])
		if err != nil {
			continue // a continuation line of a multi-line value
		}
		if prev != nil && snmprec.Compare(prev, oid) >= 0 {
			t.Fatalf("walk out of order: %s after %s", oid, prev)
		}
		prev = oid
	}
}

func compareRecords(t *testing.T, got, want []snmprec.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d variables, want %d", len(got), len(want))
	}
	bad := 0
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if snmprec.Compare(g.OID, w.OID) != 0 || g.Tag != w.Tag || !reflect.DeepEqual(normalise(g.Value), normalise(w.Value)) {
			t.Errorf("variable %d: got %s %s %v, want %s %s %v", i, g.OID, g.Tag, g.Value, w.OID, w.Tag, w.Value)
			if bad++; bad > 10 {
				t.Fatal("too many differences")
			}
		}
	}
}

// normalise lets an empty octet string equal a nil one.
func normalise(v any) any {
	if b, ok := v.([]byte); ok && len(b) == 0 {
		return []byte{}
	}
	return v
}

// recordOf converts a gosnmp varbind to a record for comparison.
func recordOf(t *testing.T, p gosnmp.SnmpPDU) snmprec.Record {
	t.Helper()
	oid, err := snmprec.ParseOID(p.Name)
	if err != nil {
		t.Fatal(err)
	}
	r := snmprec.Record{OID: oid, Tag: snmprec.Tag(p.Type)}
	switch v := p.Value.(type) {
	case []byte:
		r.Value = v
	case int:
		r.Value = int64(v)
	case uint:
		r.Value = uint64(v)
	case uint32:
		r.Value = uint64(v)
	case uint64:
		r.Value = v
	case string:
		if p.Type == gosnmp.IPAddress {
			walk, err := snmprec.Parse(strings.NewReader("1.3|64|"+v), "ip")
			if err != nil {
				t.Fatal(err)
			}
			r.Value = walk[0].Value
		} else {
			o, err := snmprec.ParseOID(v)
			if err != nil {
				t.Fatal(err)
			}
			r.Value = o
		}
	case nil:
	default:
		t.Fatalf("%s: unexpected value type %T", p.Name, p.Value)
	}
	return r
}
