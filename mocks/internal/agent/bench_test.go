package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gosnmp/gosnmp"
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
