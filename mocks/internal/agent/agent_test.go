package agent

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wattson-dev/wattson/mocks/internal/device"
)

// testUsers covers every security level and protocol family.
var testUsers = []User{
	{Name: "noauth"},
	{Name: "md5", AuthProto: gosnmp.MD5, AuthKey: "authpass-md5"},
	{Name: "sha", AuthProto: gosnmp.SHA, AuthKey: "authpass-sha"},
	{Name: "sha224", AuthProto: gosnmp.SHA224, AuthKey: "authpass-224"},
	{Name: "sha256-aes", AuthProto: gosnmp.SHA256, AuthKey: "authpass-256", PrivProto: gosnmp.AES, PrivKey: "privpass-aes"},
	{Name: "sha384-aes192", AuthProto: gosnmp.SHA384, AuthKey: "authpass-384", PrivProto: gosnmp.AES192, PrivKey: "privpass-192"},
	{Name: "sha512-aes256", AuthProto: gosnmp.SHA512, AuthKey: "authpass-512", PrivProto: gosnmp.AES256, PrivKey: "privpass-256"},
	{Name: "md5-des", AuthProto: gosnmp.MD5, AuthKey: "authpass-md5", PrivProto: gosnmp.DES, PrivKey: "privpass-des"},
	{Name: "sha-aes256c", AuthProto: gosnmp.SHA, AuthKey: "authpass-sha", PrivProto: gosnmp.AES256C, PrivKey: "privpass-256c"},
}

type testAgent struct {
	*Agent
	addr    *net.UDPAddr
	store   *device.Store
	reg     *prometheus.Registry
	metrics *Metrics
}

// startAgent serves dataDir on a free 127.0.0.1 port until the test ends.
func startAgent(t testing.TB, dataDir string, mod func(*Config)) *testAgent {
	t.Helper()
	store := device.NewStore(device.Options{Seed: 1})
	if err := store.LoadDir(dataDir); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{Store: store, Users: testUsers, ContextDefault: store.Names()[0], Metrics: NewMetrics(reg, store, false)}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
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
			t.Errorf("Serve: %v", err)
		}
	})
	return &testAgent{Agent: a, addr: conn.LocalAddr().(*net.UDPAddr), store: store, reg: reg, metrics: cfg.Metrics}
}

func (ta *testAgent) client(t testing.TB, version gosnmp.SnmpVersion, community string) *gosnmp.GoSNMP {
	t.Helper()
	return ta.connect(t, ta.newClient(version, community))
}

func (ta *testAgent) newClient(version gosnmp.SnmpVersion, community string) *gosnmp.GoSNMP {
	return &gosnmp.GoSNMP{
		Target: "127.0.0.1", Port: uint16(ta.addr.Port), Version: version, Community: community,
		Timeout: 2 * time.Second, Retries: 0, MaxRepetitions: 25, MaxOids: 60,
	}
}

func (ta *testAgent) connect(t testing.TB, g *gosnmp.GoSNMP) *gosnmp.GoSNMP {
	t.Helper()
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	return g
}

func (ta *testAgent) v3client(t testing.TB, u User, ctxName string) *gosnmp.GoSNMP {
	t.Helper()
	g := ta.newClient(gosnmp.Version3, "")
	g.SecurityModel = gosnmp.UserSecurityModel
	g.ContextName = ctxName
	switch {
	case u.PrivProto > gosnmp.NoPriv:
		g.MsgFlags = gosnmp.AuthPriv
	case u.AuthProto > gosnmp.NoAuth:
		g.MsgFlags = gosnmp.AuthNoPriv
	default:
		g.MsgFlags = gosnmp.NoAuthNoPriv
	}
	ap, pp := u.AuthProto, u.PrivProto
	if ap == 0 {
		ap = gosnmp.NoAuth
	}
	if pp == 0 {
		pp = gosnmp.NoPriv
	}
	g.SecurityParameters = &gosnmp.UsmSecurityParameters{
		UserName: u.Name, AuthenticationProtocol: ap, AuthenticationPassphrase: u.AuthKey,
		PrivacyProtocol: pp, PrivacyPassphrase: u.PrivKey,
	}
	return ta.connect(t, g)
}

const (
	sysDescr  = ".1.3.6.1.2.1.1.1.0"
	sysUpTime = ".1.3.6.1.2.1.1.3.0"
	ifHCIn1   = ".1.3.6.1.2.1.31.1.1.1.6.1"
)

func TestGetV2c(t *testing.T) {
	ta := startAgent(t, "testdata/small", nil)
	g := ta.client(t, gosnmp.Version2c, "small")
	res, err := g.Get([]string{sysDescr, ".1.3.6.1.2.1.1.1", ".1.3.6.1.2.1.1.99.0", ifHCIn1, ".1.3.6.1.2.1.2.2.1.2.99"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ gosnmp.Asn1BER
		val any
	}{
		{gosnmp.OctetString, []byte("Small test agent")},
		{gosnmp.NoSuchInstance, nil},
		{gosnmp.NoSuchObject, nil},
		{gosnmp.Counter64, uint64(1234567890123)},
		{gosnmp.NoSuchInstance, nil},
	}
	if res.Error != gosnmp.NoError || len(res.Variables) != len(want) {
		t.Fatalf("response %v with %d varbinds", res.Error, len(res.Variables))
	}
	for i, w := range want {
		v := res.Variables[i]
		if v.Type != w.typ {
			t.Errorf("%s: type %v, want %v", v.Name, v.Type, w.typ)
		}
		if w.val != nil && !equalValue(v.Value, w.val) {
			t.Errorf("%s: value %v, want %v", v.Name, v.Value, w.val)
		}
	}
}

func equalValue(a, b any) bool {
	if ab, ok := a.([]byte); ok {
		bb, ok := b.([]byte)
		return ok && string(ab) == string(bb)
	}
	return a == b
}

func TestV1ErrorMapping(t *testing.T) {
	ta := startAgent(t, "testdata/small", nil)
	g := ta.client(t, gosnmp.Version1, "small")
	tests := []struct {
		name  string
		do    func() (*gosnmp.SnmpPacket, error)
		err   gosnmp.SNMPError
		index uint8
	}{
		{"get missing", func() (*gosnmp.SnmpPacket, error) { return g.Get([]string{sysDescr, ".1.3.6.1.2.1.1.99.0"}) }, gosnmp.NoSuchName, 2},
		{"get counter64", func() (*gosnmp.SnmpPacket, error) { return g.Get([]string{ifHCIn1}) }, gosnmp.NoSuchName, 1},
		{"getnext past end", func() (*gosnmp.SnmpPacket, error) { return g.GetNext([]string{".1.3.6.1.9"}) }, gosnmp.NoSuchName, 1},
		{"set", func() (*gosnmp.SnmpPacket, error) {
			return g.Set([]gosnmp.SnmpPDU{{Name: sysDescr, Type: gosnmp.OctetString, Value: "x"}})
		}, gosnmp.NoSuchName, 1},
		{"getnext skips counter64", func() (*gosnmp.SnmpPacket, error) { return g.GetNext([]string{".1.3.6.1.2.1.31.1.1.1.5"}) }, gosnmp.NoError, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.do()
			if err != nil {
				t.Fatal(err)
			}
			if res.Error != tt.err || res.ErrorIndex != tt.index {
				t.Errorf("error %v index %d, want %v index %d", res.Error, res.ErrorIndex, tt.err, tt.index)
			}
			if tt.err == gosnmp.NoError && res.Variables[0].Type == gosnmp.Counter64 {
				t.Errorf("v1 GETNEXT returned a Counter64: %v", res.Variables[0])
			}
		})
	}
}

func TestSetV2cNotWritable(t *testing.T) {
	ta := startAgent(t, "testdata/small", nil)
	g := ta.client(t, gosnmp.Version2c, "small")
	res, err := g.Set([]gosnmp.SnmpPDU{{Name: sysDescr, Type: gosnmp.OctetString, Value: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != gosnmp.NotWritable || res.ErrorIndex != 1 {
		t.Errorf("SET answered %v index %d, want notWritable index 1", res.Error, res.ErrorIndex)
	}
}

func TestGetBulk(t *testing.T) {
	ta := startAgent(t, "testdata/small", nil)
	g := ta.client(t, gosnmp.Version2c, "small")
	// One non-repeater, two repeaters, three repetitions.
	res, err := g.GetBulk([]string{".1.3.6.1.2.1.1.1", ".1.3.6.1.2.1.2.2.1.2", ".1.3.6.1.2.1.31.1.1.1.6"}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range res.Variables {
		got = append(got, v.Name+"="+v.Type.String())
	}
	want := []string{
		".1.3.6.1.2.1.1.1.0=OctetString",
		".1.3.6.1.2.1.2.2.1.2.1=OctetString", ".1.3.6.1.2.1.31.1.1.1.6.1=Counter64",
		".1.3.6.1.2.1.2.2.1.2.2=OctetString", ".1.3.6.1.2.1.31.1.1.1.6.2=Counter64",
		".1.3.6.1.2.1.2.2.1.6.1=OctetString", ".1.3.6.1.2.1.31.1.1.1.18.1=OctetString",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("GETBULK:\n got %v\nwant %v", got, want)
	}
	// At the end of the MIB view every repeater reports endOfMibView
	// (named by the last OID it reached) and the agent stops repeating.
	res, err = g.GetBulk([]string{".1.3.6.1.2.1.31.1.1.1.18", ".1.3.6.1.2.1.31.1.1.1.6.2"}, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, v := range res.Variables {
		got = append(got, v.Name+"="+v.Type.String())
	}
	want = []string{
		".1.3.6.1.2.1.31.1.1.1.18.1=OctetString", ".1.3.6.1.2.1.31.1.1.1.18.1=OctetString",
		".1.3.6.1.2.1.31.1.1.1.18.1=EndOfMibView", ".1.3.6.1.2.1.31.1.1.1.18.1=EndOfMibView",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("GETBULK at the end:\n got %v\nwant %v", got, want)
	}
}

// TestGetBulkMessageSize checks responses respect the size limit: bulk is
// truncated, a GET that cannot fit is tooBig.
func TestGetBulkMessageSize(t *testing.T) {
	ta := startAgent(t, "testdata/small", func(c *Config) { c.MaxMsgSize = 484 })
	g := ta.client(t, gosnmp.Version2c, "small")
	res, err := g.GetBulk([]string{".1.3"}, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != gosnmp.NoError || len(res.Variables) < 5 || len(res.Variables) > 30 {
		t.Fatalf("bulk in 484 bytes: %v, %d varbinds", res.Error, len(res.Variables))
	}
	// The full response must really fit: re-marshal what the client got.
	res.PDUType, res.Community = gosnmp.GetResponse, "small"
	if b, err := res.MarshalMsg(); err != nil || len(b) > 484 {
		t.Errorf("response is %d bytes (%v), limit 484", len(b), err)
	}
	oids := make([]string, 40)
	for i := range oids {
		oids[i] = sysDescr
	}
	res, err = g.Get(oids)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != gosnmp.TooBig || len(res.Variables) != 0 {
		t.Errorf("oversized GET: %v with %d varbinds, want tooBig with none", res.Error, len(res.Variables))
	}
}

func TestBulkWalkMatchesFile(t *testing.T) {
	ta := startAgent(t, "../../data", nil)
	for _, name := range ta.store.Names() {
		t.Run(name, func(t *testing.T) {
			d, _ := ta.store.Get(name)
			g := ta.client(t, gosnmp.Version2c, name)
			res, err := g.BulkWalkAll(".1.3")
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != d.Len() {
				t.Fatalf("walk returned %d varbinds, device has %d", len(res), d.Len())
			}
			for i, v := range res {
				if v.Name != d.Var(i).Name || v.Type != d.Var(i).Type {
					t.Errorf("varbind %d: %s %v, want %s %v", i, v.Name, v.Type, d.Var(i).Name, d.Var(i).Type)
				}
			}
		})
	}
}

func TestV3(t *testing.T) {
	ta := startAgent(t, "../../data", func(c *Config) { c.ContextDefault = "apc-rpdu2" })
	for _, u := range testUsers {
		t.Run(u.Name, func(t *testing.T) {
			g := ta.v3client(t, u, "raritan-px3")
			res, err := g.Get([]string{sysDescr})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(res.Variables[0].Value.([]byte)); !strings.HasPrefix(got, "Raritan PDU") {
				t.Errorf("sysDescr = %q", got)
			}
			walk, err := g.BulkWalkAll(".1.3.6.1.4.1.13742")
			if err != nil {
				t.Fatal(err)
			}
			if len(walk) != 37 {
				t.Errorf("v3 bulk walk returned %d varbinds, want 37", len(walk))
			}
		})
	}
	t.Run("empty context reads the default device", func(t *testing.T) {
		g := ta.v3client(t, testUsers[2], "")
		res, err := g.Get([]string{sysDescr})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(res.Variables[0].Value.([]byte)); !strings.HasPrefix(got, "APC") {
			t.Errorf("sysDescr = %q", got)
		}
	})
}

// TestV3Reports checks each USM failure yields its Report (or, for gosnmp,
// its error) and bumps the report counter.
func TestV3Reports(t *testing.T) {
	ta := startAgent(t, "../../data", nil)
	tests := []struct {
		name   string
		user   User
		ctx    string
		reason string
	}{
		{"unknown user", User{Name: "nobody", AuthProto: gosnmp.SHA, AuthKey: "whatever1"}, "apc-rpdu2", "unknown_user"},
		{"wrong digest", User{Name: "sha", AuthProto: gosnmp.SHA, AuthKey: "not-the-key"}, "apc-rpdu2", "wrong_digest"},
		{"weaker level", User{Name: "sha256-aes", AuthProto: gosnmp.SHA256, AuthKey: "authpass-256"}, "apc-rpdu2", "unsupported_sec_level"},
		{"unknown context", testUsers[2], "no-such-device", "unknown_context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := testutil.ToFloat64(ta.metrics.reports.WithLabelValues(tt.reason))
			g := ta.v3client(t, tt.user, tt.ctx)
			res, err := g.Get([]string{sysDescr})
			if err == nil && res.PDUType != gosnmp.Report {
				t.Fatalf("request succeeded: %v", res.Variables)
			}
			if got := testutil.ToFloat64(ta.metrics.reports.WithLabelValues(tt.reason)); got != before+1 {
				t.Errorf("reports{reason=%q} = %v, want %v", tt.reason, got, before+1)
			}
		})
	}
}

// TestV3NotInTimeWindow sends a correctly signed request with a stale engine
// time and expects an authenticated usmStatsNotInTimeWindows report.
func TestV3NotInTimeWindow(t *testing.T) {
	ta := startAgent(t, "../../data", nil)
	u := testUsers[2]
	g := ta.v3client(t, u, "apc-rpdu2")
	g.SecurityParameters.(*gosnmp.UsmSecurityParameters).AuthoritativeEngineID = string(ta.EngineID())
	g.SecurityParameters.(*gosnmp.UsmSecurityParameters).AuthoritativeEngineBoots = 1
	g.SecurityParameters.(*gosnmp.UsmSecurityParameters).AuthoritativeEngineTime = 100000
	must(t, g.SecurityParameters.(*gosnmp.UsmSecurityParameters).InitSecurityKeys())
	msg, err := g.SnmpEncodePacket(gosnmp.GetRequest, []gosnmp.SnmpPDU{{Name: sysDescr, Type: gosnmp.Null}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp := exchange(t, ta.addr, msg)
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, SecurityParameters: &gosnmp.UsmSecurityParameters{
		UserName: u.Name, AuthenticationProtocol: u.AuthProto, AuthenticationPassphrase: u.AuthKey, PrivacyProtocol: gosnmp.NoPriv,
	}}
	pkt, err := dec.SnmpDecodePacket(resp)
	if err != nil {
		t.Fatal(err)
	}
	if pkt.PDUType != gosnmp.Report || pkt.Variables[0].Name != statOIDs[statNotInTimeWindows] {
		t.Fatalf("got %v %v, want a notInTimeWindows report", pkt.PDUType, pkt.Variables)
	}
	if pkt.MsgFlags&gosnmp.AuthNoPriv == 0 {
		t.Error("notInTimeWindows report is not authenticated")
	}
	if sp := pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters); sp.AuthoritativeEngineTime > 5 {
		t.Errorf("report carries engine time %d, want the agent's (a few seconds)", sp.AuthoritativeEngineTime)
	}
}

func exchange(t *testing.T, addr *net.UDPAddr, msg []byte) []byte {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestFaultsOverSNMP(t *testing.T) {
	ta := startAgent(t, "../../data", nil)
	d, _ := ta.store.Get("apc-rpdu2")
	g := ta.client(t, gosnmp.Version2c, "apc-rpdu2")
	g.Timeout = 300 * time.Millisecond

	if err := d.SetFault(device.FaultSpec{Type: device.FaultError, Status: "resourceUnavailable"}); err != nil {
		t.Fatal(err)
	}
	res, err := g.Get([]string{sysDescr})
	if err != nil || res.Error != gosnmp.ResourceUnavailable {
		t.Errorf("error fault: %v, %v", res, err)
	}
	g1 := ta.client(t, gosnmp.Version1, "apc-rpdu2")
	if res, err := g1.Get([]string{sysDescr}); err != nil || res.Error != gosnmp.GenErr {
		t.Errorf("error fault in v1 should map to genErr: %v, %v", res, err)
	}
	must(t, d.ClearFault(""))

	must(t, d.SetFault(device.FaultSpec{Type: device.FaultTimeout}))
	if _, err := g.Get([]string{sysDescr}); err == nil {
		t.Error("timeout fault: request answered")
	}
	must(t, d.ClearFault(device.FaultTimeout))

	must(t, d.SetFault(device.FaultSpec{Type: device.FaultDelay, Delay: "150ms"}))
	start := time.Now()
	if _, err := g.Get([]string{sysDescr}); err != nil {
		t.Fatalf("delayed request: %v", err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("delay fault answered after %v", el)
	}
	must(t, d.ClearFault(""))

	must(t, d.SetFault(device.FaultSpec{Type: device.FaultDrop, Prefixes: []string{"1.3.6.1.2.1.1"}}))
	res, err = g.Get([]string{sysDescr})
	if err != nil || res.Variables[0].Type != gosnmp.NoSuchObject {
		t.Errorf("dropped OID: %v %v", res, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestHostilePacketsDropped(t *testing.T) {
	ta := startAgent(t, "testdata/small", nil)
	c, err := net.DialUDP("udp4", nil, ta.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range [][]byte{
		{},
		{0x30},
		{0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
		[]byte("GET / HTTP/1.0\r\n\r\n"),
		{0x30, 0x05, 0x02, 0x01, 0x09, 0x04, 0x00}, // version 9
	} {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	// The agent still answers afterwards.
	g := ta.client(t, gosnmp.Version2c, "small")
	if _, err := g.Get([]string{sysDescr}); err != nil {
		t.Fatalf("agent stopped answering after hostile packets: %v", err)
	}
	if got := testutil.ToFloat64(ta.metrics.dropped.WithLabelValues("malformed")); got < 4 {
		t.Errorf("dropped{malformed} = %v, want >= 4", got)
	}
}

func TestMetricsLint(t *testing.T) {
	ta := startAgent(t, "testdata/small", nil)
	g := ta.client(t, gosnmp.Version2c, "small")
	if _, err := g.Get([]string{sysDescr}); err != nil {
		t.Fatal(err)
	}
	for _, c := range ta.metrics.collectors() {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	if got := testutil.ToFloat64(ta.metrics.requests.WithLabelValues("2c", "get")); got != 1 {
		t.Errorf("requests{2c,get} = %v, want 1", got)
	}
}
