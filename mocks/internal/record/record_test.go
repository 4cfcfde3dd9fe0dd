package record

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattson-dev/wattson/mocks/internal/agent"
	"github.com/wattson-dev/wattson/mocks/internal/device"
	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

var v3user = agent.User{Name: "rec", AuthProto: gosnmp.SHA256, AuthKey: "authpass-256", PrivProto: gosnmp.AES, PrivKey: "privpass-aes"}

// serve runs the simulator's agent on dataDir at a free loopback port until the test ends.
func serve(t *testing.T, dataDir, v3context string) string {
	t.Helper()
	store := device.NewStore(device.Options{Seed: 1})
	if err := store.LoadDir(dataDir); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Store: store, Users: []agent.User{v3user}, ContextDefault: v3context,
		Metrics: agent.NewMetrics(prometheus.NewRegistry(), store, false)})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	return conn.LocalAddr().String()
}

func format(t *testing.T, recs []snmprec.Record) string {
	t.Helper()
	var b bytes.Buffer
	if err := snmprec.Format(&b, recs); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sorted(recs []snmprec.Record) []snmprec.Record {
	out := slices.Clone(recs)
	slices.SortFunc(out, func(a, b snmprec.Record) int { return snmprec.Compare(a.OID, b.OID) })
	return out
}

// TestRoundTrip records what the simulator serves from a recording, over v1, v2c and v3, and
// requires the file's variables back exactly (v1 cannot carry Counter64), for our own file of
// every type and for every shared third-party recording.
func TestRoundTrip(t *testing.T) {
	files := []string{"testdata/every-type.snmprec"}
	shared, _ := filepath.Glob("../../../../shared/fixtures/snmprec/*.snmprec")
	if len(shared) == 0 && os.Getenv("CI") == "true" {
		t.Fatal("shared recordings missing (CI=true)")
	}
	files = append(files, shared...)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".snmprec")
		dir := t.TempDir()
		abs, _ := filepath.Abs(file)
		if err := os.Symlink(abs, filepath.Join(dir, name+".snmprec")); err != nil {
			t.Fatal(err)
		}
		addr := serve(t, dir, name)
		want, err := snmprec.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want = sorted(want)
		var wantV1 []snmprec.Record
		for _, r := range want {
			if r.Tag != snmprec.Counter64 {
				wantV1 = append(wantV1, r)
			}
		}
		for _, o := range []Options{
			{Version: "1", Community: name},
			{Version: "2c", Community: name},
			{Version: "3", User: v3user.Name, AuthProto: v3user.AuthProto, AuthKey: v3user.AuthKey, PrivProto: v3user.PrivProto, PrivKey: v3user.PrivKey},
		} {
			t.Run(name+"/v"+o.Version, func(t *testing.T) {
				o.Target, o.Timeout = addr, 2*time.Second
				got, err := Walk(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				w := want
				if o.Version == "1" {
					w = wantV1
				}
				if g, w := format(t, got), format(t, w); g != w {
					t.Errorf("recorded %d variables, the file has %d; first difference:\n%s", len(got), len(want), firstDiff(g, w))
				}
			})
		}
	}
}

// TestAnonymise: names, serials, contacts and addresses are replaced, stably; numbers, dates,
// OIDs and sysDescr are kept; the result is a recording the simulator serves.
func TestAnonymise(t *testing.T) {
	addr := serve(t, "testdata", "every-type")
	o := Options{Target: addr, Community: "every-type", Anonymise: true, Keep: DefaultKeep, Timeout: 2 * time.Second}
	got, err := Walk(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Walk(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	out := format(t, got)
	if out != format(t, again) {
		t.Error("anonymising is not deterministic")
	}
	for _, secret := range []string{"facilities@example.com", "pdu-a01.dc1", "Room 1, Rack A01", "ZA1732000177", "192.0.2.10|", "001122334455"} {
		if strings.Contains(out, secret) {
			t.Errorf("anonymised recording still holds %q:\n%s", secret, out)
		}
	}
	for _, kept := range []string{
		"1.3.6.1.2.1.1.1.0|4|Wattson test PDU, firmware 1.2.3", "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.99990.1",
		"1.3.6.1.4.1.99990.1.1.1|2|-1", "1.3.6.1.4.1.99990.1.1.6|4|07/11/2023 19:56:04", "1.3.6.1.4.1.99990.1.1.3|66|230",
		"1.3.6.1.2.1.1.5.0|4|anon-", "|64|192.0.2.",
	} {
		if !strings.Contains(out, kept) {
			t.Errorf("anonymised recording lacks %q:\n%s", kept, out)
		}
	}
	// ipAddrTable stays joined: its index is rewritten like the address it holds.
	for _, line := range strings.Split(out, "\n") {
		if oid, value, ok := strings.Cut(line, "|64|"); ok && !strings.HasSuffix(oid, "."+value) {
			t.Errorf("address index and value differ: %s", line)
		}
	}
	// The simulator serves the anonymised recording.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "anon.snmprec"), []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Walk(context.Background(), Options{Target: serve(t, dir, "anon"), Community: "anon", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if format(t, back) != out {
		t.Errorf("the anonymised recording does not round-trip:\n%s", firstDiff(format(t, back), out))
	}
}

// TestRecordNetSNMP records net-snmp's snmpd (v1, v2c, v3 authPriv) and compares with what
// net-snmp's own snmpbulkwalk reads from it: the same variables with the same types, and the same
// values for everything that does not move between two walks (strings, OIDs, addresses).
func TestRecordNetSNMP(t *testing.T) {
	snmpd := lookPath(t, "snmpd", "snmpd")
	bulkwalk := lookPath(t, "snmpbulkwalk", "snmp")
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "snmpd.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`agentAddress udp:127.0.0.1:%d
rocommunity public 127.0.0.1
createUser rec SHA-256 authpass-256 AES privpass-aes
rouser rec authpriv
sysLocation Room 1, Rack A01
sysContact facilities@example.com
[snmp] persistentDir %s
`, port, dir)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(snmpd, "-f", "-Lo", "-I", "-smux", "-C", "-c", conf)
	cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+dir)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	target := fmt.Sprintf("127.0.0.1:%d", port)
	const subtree = "1.3.6.1.2.1.1" // system: static strings and OIDs, plus sysUpTime
	env := append(os.Environ(), "MIBS=", "MIBDIRS="+dir, "SNMPCONFPATH="+dir, "SNMP_PERSISTENT_DIR="+dir)
	var ref []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		c := exec.Command(bulkwalk, "-v2c", "-c", "public", "-On", "-Oe", "-Ob", "-Ot", "-OU", "-Ox", "-t", "1", "-r", "0", target, subtree)
		c.Env = env
		if ref, err = c.CombinedOutput(); err == nil && bytes.Contains(ref, []byte(".1.3.6.1.2.1.1.1.0")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snmpd does not answer: %v\n%s\nsnmpd:\n%s", err, ref, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	want, err := snmprec.ParseWalk(bytes.NewReader(ref), "snmpbulkwalk")
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 5 {
		t.Fatalf("snmpbulkwalk read only %d variables:\n%s", len(want), ref)
	}
	for _, o := range []Options{
		{Version: "1", Community: "public"},
		{Version: "2c", Community: "public"},
		{Version: "3", User: "rec", AuthProto: gosnmp.SHA256, AuthKey: "authpass-256", PrivProto: gosnmp.AES, PrivKey: "privpass-aes"},
	} {
		t.Run("v"+o.Version, func(t *testing.T) {
			o.Target, o.StartOID, o.Timeout = target, subtree, 2*time.Second
			got, err := Walk(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("recorded %d variables, snmpbulkwalk %d:\n%s\nvs\n%s", len(got), len(want), format(t, got), format(t, want))
			}
			for i := range got {
				g, w := got[i], want[i]
				if snmprec.Compare(g.OID, w.OID) != 0 || g.Tag != w.Tag {
					t.Errorf("variable %d: recorded %s tag %v, snmpbulkwalk %s tag %v", i, g.OID, g.Tag, w.OID, w.Tag)
					continue
				}
				switch g.Tag {
				case snmprec.OctetString, snmprec.ObjectID, snmprec.IPAddress:
					if a, b := format(t, []snmprec.Record{g}), format(t, []snmprec.Record{w}); a != b {
						t.Errorf("recorded %q, snmpbulkwalk read %q", a, b)
					}
				}
			}
			if !strings.Contains(format(t, got), "1.3.6.1.2.1.1.6.0|4|Room 1, Rack A01") {
				t.Errorf("sysLocation missing from\n%s", format(t, got))
			}
		})
	}
}

func lookPath(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		p, err = exec.LookPath("/usr/sbin/" + tool) // snmpd is not on a non-root PATH
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (CI=true): apt-get install %s", tool, pkg)
		}
		t.Skipf("%s not installed: apt-get install %s", tool, pkg)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: recorded %q, want %q", i+1, x, y)
		}
	}
	return "(none)"
}
