package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattson-dev/wattson/mocks/internal/device"
)

// benchMessage encodes one request to the "small"-style agent of fuzzAgent.
func benchMessage(b *testing.B, g *gosnmp.GoSNMP, typ gosnmp.PDUType, oids []string, maxRep uint32) []byte {
	b.Helper()
	pdus := make([]gosnmp.SnmpPDU, len(oids))
	for i, o := range oids {
		pdus[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
	}
	msg, err := g.SnmpEncodePacket(typ, pdus, 0, maxRep)
	if err != nil {
		b.Fatal(err)
	}
	return msg
}

// runHandle measures handle, the whole request path but the socket: decode,
// lookup, live values, marshal. It reports varbinds/s for bulk requests.
func runHandle(b *testing.B, a *Agent, msg []byte, varbinds int) {
	w := a.newWorker()
	buf := make([]byte, len(msg))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		copy(buf, msg)
		if resp, _ := w.handle(buf); resp == nil {
			b.Fatal("no response")
		}
	}
	if varbinds > 1 {
		b.ReportMetric(float64(varbinds)*float64(b.N)/b.Elapsed().Seconds(), "varbinds/s")
	}
}

// TestGetAllocations holds a v1/v2c GET of OIDs polled before, metrics
// included, to no allocation for recorded values and one 8-byte box per
// live value (gosnmp carries values as interfaces): at 10,000 GETs/s the
// collector then runs about every half minute, not 18 times a second.
func TestGetAllocations(t *testing.T) {
	dir := t.TempDir()
	rec := "1.3.6.1.2.1.1.1.0|4|Test PDU\n1.3.6.1.2.1.1.3.0|67:numeric|initial=4320000,rate=100\n1.3.6.1.2.1.1.5.0|4|pdu-1\n"
	if err := os.WriteFile(filepath.Join(dir, "pdu.snmprec"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	store := device.NewStore(device.Options{Seed: 1})
	if err := store.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Store: store, Metrics: NewMetrics(prometheus.NewRegistry(), store, false)})
	if err != nil {
		t.Fatal(err)
	}
	w := a.newWorker()
	for _, tc := range []struct {
		oids []string
		want float64
	}{
		{[]string{sysDescr, ".1.3.6.1.2.1.1.5.0"}, 0},
		{[]string{sysDescr, sysUpTime}, 1},
	} {
		for _, v := range []gosnmp.SnmpVersion{gosnmp.Version1, gosnmp.Version2c} {
			g := &gosnmp.GoSNMP{Version: v, Community: "pdu"}
			pdus := make([]gosnmp.SnmpPDU, len(tc.oids))
			for i, o := range tc.oids {
				pdus[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
			}
			msg, err := g.SnmpEncodePacket(gosnmp.GetRequest, pdus, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len(msg))
			allocs := testing.AllocsPerRun(100, func() {
				copy(buf, msg)
				if resp, _ := w.handle(buf); resp == nil {
					t.Fatal("no response")
				}
			})
			if allocs != tc.want {
				t.Errorf("v%v GET %v: %.1f allocations per request, want %.0f", v, tc.oids, allocs, tc.want)
			}
		}
	}
}

func BenchmarkGet(b *testing.B) {
	a := fuzzAgent(b)
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "small"}
	runHandle(b, a, benchMessage(b, g, gosnmp.GetRequest, []string{sysDescr, sysUpTime}, 0), 2)
}

// BenchmarkGetBulk asks for 50 repetitions from the start of the PX3-sized
// tree when the shared fixture is present, else from the small test agent.
func BenchmarkGetBulk(b *testing.B) {
	ta := startAgent(b, "../../data", nil)
	name := "raritan-px3"
	if _, err := os.Stat(filepath.Join(fixtureDir, "raritan-pdu_px3.snmprec")); err == nil {
		ta = startAgent(b, fixtureDir, nil)
		name = "raritan-pdu_px3"
	}
	d, _ := ta.store.Get(name)
	n := min(50, d.Len())
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: name}
	runHandle(b, ta.Agent, benchMessage(b, g, gosnmp.GetBulkRequest, []string{".1.3.6.1.4.1"}, 50), n)
}

func BenchmarkGetBulkV3AuthPriv(b *testing.B) {
	a := fuzzAgent(b)
	u := testUsers[4].normalize()
	sp := &gosnmp.UsmSecurityParameters{UserName: u.Name, AuthoritativeEngineID: string(a.engineID), AuthoritativeEngineBoots: 1,
		AuthenticationProtocol: u.AuthProto, AuthenticationPassphrase: u.AuthKey, PrivacyProtocol: u.PrivProto, PrivacyPassphrase: u.PrivKey}
	if err := sp.InitSecurityKeys(); err != nil {
		b.Fatal(err)
	}
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthPriv, SecurityParameters: sp, ContextName: "small"}
	runHandle(b, a, benchMessage(b, g, gosnmp.GetBulkRequest, []string{".1.3.6.1.2.1"}, 10), 10)
}
