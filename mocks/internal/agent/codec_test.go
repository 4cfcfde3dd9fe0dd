package agent

import (
	"bytes"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/mocks/internal/device"
)

// codecStore loads the small test agent, our sample data and, when present,
// the shared fixtures: every value type the recordings hold.
func codecStore(t *testing.T) *device.Store {
	t.Helper()
	store := device.NewStore(device.Options{Seed: 1})
	for _, dir := range []string{"testdata/small", "../../data"} {
		if err := store.LoadDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(fixtureDir); err == nil {
		for _, f := range fixtures(t) {
			name := "fixture/" + strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
			if err := store.LoadFile(name, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	return store
}

// TestAppendResponseMatchesMarshalMsg holds the fast encoder to gosnmp's,
// byte for byte: every recorded variable, with live values and faults'
// scaling, the v2 exceptions, error statuses, edge request-ids and
// responses whose lengths need one, two and three octets.
func TestAppendResponseMatchesMarshalMsg(t *testing.T) {
	store := codecStore(t)
	scaled := &device.Faults{Scale: 1e12, ResetAt: -1}
	var all []gosnmp.SnmpPDU
	for _, name := range store.Names() {
		d, _ := store.Get(name)
		for i := range d.Len() {
			all = append(all, pduOf(d, d.Faults(), i), pduOf(d, scaled, i))
		}
	}
	exceptions := []gosnmp.SnmpPDU{
		{Name: ".1.3.6.1.2.1.1.99.0", Type: gosnmp.NoSuchObject},
		{Name: ".1.3.6.1.2.1.2.2.1.2.99", Type: gosnmp.NoSuchInstance},
		{Name: ".1.3.6.1.4.1", Type: gosnmp.EndOfMibView},
		{Name: ".1.3.6.1.2.1.1.1.0", Type: gosnmp.Null},
		{Name: ".2.999.1", Type: gosnmp.Integer, Value: math.MinInt32},
		{Name: ".0.39", Type: gosnmp.Counter32, Value: uint32(math.MaxUint32)},
		{Name: ".1.3.4294967295", Type: gosnmp.Counter64, Value: uint64(math.MaxUint64)},
		{Name: ".1.3.1", Type: gosnmp.Counter64, Value: uint64(0)},
		{Name: ".1.3.2", Type: gosnmp.Gauge32, Value: uint(128)},
		{Name: ".1.3.3", Type: gosnmp.OctetString, Value: "text"},
		{Name: ".1.3.4", Type: gosnmp.OctetString, Value: bytes.Repeat([]byte{0xff}, 300)},
		{Name: ".1.3.5", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.8072.3.2.10"},
		{Name: ".1.3.6", Type: gosnmp.IPAddress, Value: []byte{10, 0, 0, 1}},
	}
	type tc struct {
		name string
		p    gosnmp.SnmpPacket
	}
	var cases []tc
	for _, v := range []gosnmp.SnmpVersion{gosnmp.Version1, gosnmp.Version2c} {
		for _, p := range append(all, exceptions...) {
			cases = append(cases, tc{p.Name, gosnmp.SnmpPacket{Version: v, Community: "public", PDUType: gosnmp.GetResponse,
				RequestID: 1, Variables: []gosnmp.SnmpPDU{p}}})
		}
		for _, id := range []uint32{0, 127, 128, 255, 256, 1 << 31, math.MaxUint32} {
			cases = append(cases, tc{"request-id", gosnmp.SnmpPacket{Version: v, Community: "c", PDUType: gosnmp.GetResponse,
				RequestID: id, Error: gosnmp.NoSuchName, ErrorIndex: uint8(id), Variables: exceptions[:2]}})
		}
		// Every length around the one- and two-octet length forms.
		for n := range 300 {
			cases = append(cases, tc{"string length", gosnmp.SnmpPacket{Version: v, Community: "public", PDUType: gosnmp.GetResponse,
				RequestID: 7, Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1", Type: gosnmp.OctetString, Value: make([]byte, n)}}}})
		}
		for _, n := range []int{0, 3, 30, 300, 3000, len(all)} {
			cases = append(cases, tc{"bulk", gosnmp.SnmpPacket{Version: v, Community: strings.Repeat("c", 127), PDUType: gosnmp.GetResponse,
				RequestID: 42, Variables: all[:min(n, len(all))]}})
		}
	}
	for _, c := range cases {
		want, err := c.p.MarshalMsg()
		if err != nil {
			t.Fatalf("%s: gosnmp: %v", c.name, err)
		}
		got, ok := appendResponse(nil, &c.p)
		if !ok {
			t.Errorf("%s (%v %T): fast encoder declined", c.name, c.p.Variables, c.p.Variables)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: fast encoder differs from MarshalMsg\n got %x\nwant %x", c.name, got, want)
		}
	}
}

// TestAppendResponseDeclines checks what the fast encoder leaves to gosnmp.
func TestAppendResponseDeclines(t *testing.T) {
	for name, p := range map[string]gosnmp.SnmpPacket{
		"v3":              {Version: gosnmp.Version3, PDUType: gosnmp.GetResponse},
		"bad name":        {Version: gosnmp.Version2c, PDUType: gosnmp.GetResponse, Variables: []gosnmp.SnmpPDU{{Name: ".1.x", Type: gosnmp.Null}}},
		"wrong Go type":   {Version: gosnmp.Version2c, PDUType: gosnmp.GetResponse, Variables: []gosnmp.SnmpPDU{{Name: ".1.3", Type: gosnmp.Counter32, Value: 5}}},
		"IP address text": {Version: gosnmp.Version2c, PDUType: gosnmp.GetResponse, Variables: []gosnmp.SnmpPDU{{Name: ".1.3", Type: gosnmp.IPAddress, Value: "10.0.0.1"}}},
		"opaque float":    {Version: gosnmp.Version2c, PDUType: gosnmp.GetResponse, Variables: []gosnmp.SnmpPDU{{Name: ".1.3", Type: gosnmp.OpaqueFloat, Value: float32(1)}}},
	} {
		if _, ok := appendResponse(nil, &p); ok {
			t.Errorf("%s: fast encoder took it", name)
		}
	}
}

// netSNMPRequests are requests as net-snmp 5.9's tools encode them.
var netSNMPRequests = map[string]string{
	"snmpget -v2c (sysDescr.0, sysUpTime.0)": "30360201010405736d616c6ca02a02040606ab56020100020100301c300c06082b060102010101000500300c06082b060102010103000500",
	"snmpgetnext -v1 (system)":               "30260201000405736d616c6ca11a02043561b279020100020100300c300a06062b06010201010500",
	"snmpbulkget -v2c (system)":              "30260201010405736d616c6ca51a020434846b1c02010002010a300c300a06062b06010201010500",
}

// TestDecodeRequestTakesClientRequests checks that the requests clients
// send take the fast path, so it is the one the other tests exercise.
func TestDecodeRequestTakesClientRequests(t *testing.T) {
	a := fuzzAgent(t)
	msgs := map[string][]byte{}
	for name, msg := range seedMessages(t, a) {
		if !strings.HasPrefix(name, "v3") && name != "v2c-set" && name != "v2c-wrong-comm" {
			msgs["gosnmp "+name] = msg
		}
	}
	for name, h := range netSNMPRequests {
		msg, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		msgs[name] = msg
	}
	for name, msg := range msgs {
		var req gosnmp.SnmpPacket
		if _, ok := decodeRequest(msg, "small", &req, nil, nil); !ok {
			t.Errorf("%s: fast decoder declined %x", name, msg)
		}
	}
}

// FuzzDecodeRequest holds the fast decoder to gosnmp's: whatever it takes,
// gosnmp decodes to the same request.
func FuzzDecodeRequest(f *testing.F) {
	a := fuzzAgent(f)
	for _, b := range seedMessages(f, a) {
		f.Add(b)
	}
	for _, h := range netSNMPRequests {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	names := map[string]string{} // interned across inputs, as in a reader
	f.Fuzz(func(t *testing.T, msg []byte) {
		var req gosnmp.SnmpPacket
		if _, ok := decodeRequest(msg, "small", &req, nil, names); !ok {
			return
		}
		want, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(bytes.Clone(msg))
		if err != nil {
			t.Fatalf("fast decoder took %x, gosnmp rejects it: %v", msg, err)
		}
		if len(want.Variables) == 0 {
			want.Variables = nil
		}
		got := req
		if len(got.Variables) == 0 {
			got.Variables = nil
		}
		got.Logger, want.Logger = gosnmp.Logger{}, gosnmp.Logger{}
		if !reflect.DeepEqual(&got, want) {
			t.Fatalf("decoders differ on %x\nfast   %+v\ngosnmp %+v", msg, got, *want)
		}
	})
}
