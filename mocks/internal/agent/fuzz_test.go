package agent

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/mocks/internal/device"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzHandle from seedMessages")

// fuzzAgent is an agent without a socket, for driving handle directly.
func fuzzAgent(t testing.TB) *Agent {
	t.Helper()
	store := device.NewStore(device.Options{Seed: 1})
	if err := store.LoadDir("testdata/small"); err != nil {
		t.Fatal(err)
	}
	// EngineBoots 1: the committed corpus carries authenticated requests made for boots 1.
	a, err := New(Config{Store: store, Users: testUsers, ContextDefault: "small", EngineID: []byte("\x80\x00\x1f\x88\x04fuzzing!"), EngineBoots: 1})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// seedMessages encodes one request of each kind the agent handles.
func seedMessages(t testing.TB, a *Agent) map[string][]byte {
	t.Helper()
	enc := func(g *gosnmp.GoSNMP, typ gosnmp.PDUType, oids []string, nonRep uint8, maxRep uint32) []byte {
		pdus := make([]gosnmp.SnmpPDU, len(oids))
		for i, o := range oids {
			pdus[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
		}
		b, err := g.SnmpEncodePacket(typ, pdus, nonRep, maxRep)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v1 := &gosnmp.GoSNMP{Version: gosnmp.Version1, Community: "small"}
	v2 := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "small"}
	seeds := map[string][]byte{
		"v1-get":         enc(v1, gosnmp.GetRequest, []string{sysDescr, ".1.3.6.1.2.1.1.99.0"}, 0, 0),
		"v1-getnext":     enc(v1, gosnmp.GetNextRequest, []string{".1.3.6.1.2.1.31"}, 0, 0),
		"v2c-get":        enc(v2, gosnmp.GetRequest, []string{sysDescr, ifHCIn1}, 0, 0),
		"v2c-getbulk":    enc(v2, gosnmp.GetBulkRequest, []string{".1.3.6.1.2.1.1", ".1.3.6.1.2.1.2"}, 1, 20),
		"v2c-set":        enc(v2, gosnmp.SetRequest, []string{sysDescr}, 0, 0),
		"v2c-wrong-comm": enc(&gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "nope"}, gosnmp.GetRequest, []string{sysDescr}, 0, 0),
	}
	// v3: discovery probe, then one request per security level.
	disc := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.Reportable, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: &gosnmp.UsmSecurityParameters{}, PDUType: gosnmp.GetRequest, MsgID: 7, RequestID: 9}
	b, err := disc.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	seeds["v3-discovery"] = b
	for _, u := range []User{testUsers[0], testUsers[2], testUsers[4], testUsers[7]} {
		u = u.normalize()
		flags := gosnmp.NoAuthNoPriv
		if u.AuthProto != gosnmp.NoAuth {
			flags = gosnmp.AuthNoPriv
		}
		if u.PrivProto != gosnmp.NoPriv {
			flags = gosnmp.AuthPriv
		}
		sp := &gosnmp.UsmSecurityParameters{UserName: u.Name, AuthoritativeEngineID: string(a.engineID), AuthoritativeEngineBoots: 1,
			AuthenticationProtocol: u.AuthProto, AuthenticationPassphrase: u.AuthKey, PrivacyProtocol: u.PrivProto, PrivacyPassphrase: u.PrivKey}
		if err := sp.InitSecurityKeys(); err != nil {
			t.Fatal(err)
		}
		g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: flags, SecurityParameters: sp, ContextName: "small"}
		seeds["v3-"+u.Name] = enc(g, gosnmp.GetBulkRequest, []string{".1.3.6.1.2.1"}, 0, 10)
	}
	return seeds
}

// FuzzHandle feeds arbitrary datagrams to the request handler: it must never
// panic, and every v1/v2c answer it gives must decode.
func FuzzHandle(f *testing.F) {
	a := fuzzAgent(f)
	for _, b := range seedMessages(f, a) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		w := a.newWorker()
		resp, _ := w.handle(append([]byte(nil), msg...))
		if resp == nil {
			return
		}
		env, err := parseEnvelope(resp)
		if err != nil {
			t.Fatalf("response does not parse: %v", err)
		}
		if env.v3 == nil {
			if _, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(resp); err != nil {
				t.Fatalf("response does not decode: %v", err)
			}
		}
	})
}

// TestSeedsAnswered checks each seed gets the answer it should, so the
// corpus starts from requests that reach deep into the handler.
func TestSeedsAnswered(t *testing.T) {
	a := fuzzAgent(t)
	seeds := seedMessages(t, a)
	for name, msg := range seeds {
		resp, _ := a.newWorker().handle(msg)
		if (resp == nil) != (name == "v2c-wrong-comm") {
			t.Errorf("%s: answered=%v", name, resp != nil)
		}
	}
	if !*updateCorpus {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzHandle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, msg := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", msg)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
