package agent

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gosnmp/gosnmp"
)

func TestNextEngineBoots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engine-boots")
	for want := uint32(1); want <= 3; want++ {
		got, err := NextEngineBoots(path)
		if err != nil || got != want {
			t.Fatalf("NextEngineBoots = %d, %v; want %d", got, err, want)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != "3\n" {
		t.Errorf("file holds %q, want \"3\\n\"", b)
	}
	must(t, os.WriteFile(path, []byte("2147483647\n"), 0o600))
	if got, err := NextEngineBoots(path); err != nil || got != maxEngineBoots {
		t.Errorf("at the ceiling: %d, %v; want it to stay %d", got, err, maxEngineBoots)
	}
	must(t, os.WriteFile(path, []byte("many\n"), 0o600))
	if _, err := NextEngineBoots(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a file that is not a number: err = %v, want one naming %s", err, path)
	}
	if a, err := New(Config{Store: fuzzAgent(t).cfg.Store}); err != nil || a.EngineBoots() <= 1 {
		t.Errorf("no boots given: %d, %v; want the start's Unix time", a.EngineBoots(), err)
	}
}

// relay forwards datagrams between a client and an agent and keeps what the client sent: an
// attacker on the path.
type relay struct {
	addr     *net.UDPAddr
	mu       sync.Mutex
	captured [][]byte
}

func startRelay(t *testing.T, to *net.UDPAddr) *relay {
	t.Helper()
	front, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	must(t, err)
	back, err := net.DialUDP("udp4", nil, to)
	must(t, err)
	t.Cleanup(func() { front.Close(); back.Close() })
	r := &relay{addr: front.LocalAddr().(*net.UDPAddr)}
	var client net.Addr
	var cmu sync.Mutex
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			cmu.Lock()
			client = from
			cmu.Unlock()
			r.mu.Lock()
			r.captured = append(r.captured, bytes.Clone(buf[:n]))
			r.mu.Unlock()
			_, _ = back.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			cmu.Lock()
			to := client
			cmu.Unlock()
			_, _ = front.WriteTo(buf[:n], to)
		}
	}()
	return r
}

func (r *relay) last() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.captured[len(r.captured)-1]
}

// TestV3ReplayAfterRestart captures a real gosnmp client's authPriv GET on the wire, restarts
// the agent (same engine ID and users, as a pod restart does) and replays the capture within
// the 150 s window. With snmpEngineBoots from the boots file the replay gets an authenticated
// usmStatsNotInTimeWindows report, not the data; with the same boots on both starts (what
// wattson-snmpsim always passed before: 1) the replay is answered. After the restart gosnmp,
// holding the old boots, resynchronises, and net-snmp's snmpget works.
func TestV3ReplayAfterRestart(t *testing.T) {
	u := testUsers[4] // SHA-256 + AES-128
	bootsFile := filepath.Join(t.TempDir(), "engine-boots")
	next := func() uint32 {
		b, err := NextEngineBoots(bootsFile)
		must(t, err)
		return b
	}
	tests := []struct {
		name        string
		first, then func() uint32
		replays     bool
	}{
		{"boots file", next, next, false},
		{"same boots on both starts", func() uint32 { return 1 }, func() uint32 { return 1 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			boots := tt.first()
			first := startAgent(t, "../../data", func(c *Config) { c.EngineBoots = boots })
			r := startRelay(t, first.addr)
			g := first.v3client(t, u, "apc-rpdu2")
			g.Port = uint16(r.addr.Port)
			must(t, g.Connect())
			res, err := g.Get([]string{sysDescr})
			must(t, err)
			if res.PDUType != gosnmp.GetResponse || len(res.Variables) != 1 || res.Variables[0].Type != gosnmp.OctetString {
				t.Fatalf("first start: %v %v", res.PDUType, res.Variables)
			}
			captured := r.last()

			boots = tt.then()
			second := startAgent(t, "../../data", func(c *Config) { c.EngineBoots = boots })
			if !bytes.Equal(second.EngineID(), first.EngineID()) {
				t.Fatal("the restarted agent has another engine ID")
			}
			dec := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, SecurityParameters: &gosnmp.UsmSecurityParameters{
				UserName: u.Name, AuthenticationProtocol: u.AuthProto, AuthenticationPassphrase: u.AuthKey,
				PrivacyProtocol: u.PrivProto, PrivacyPassphrase: u.PrivKey,
			}}
			pkt, err := dec.SnmpDecodePacket(exchange(t, second.addr, captured))
			must(t, err)
			replayed := pkt.PDUType == gosnmp.GetResponse
			if replayed != tt.replays {
				t.Fatalf("replay after restart answered %v %v; want replayed=%v", pkt.PDUType, pkt.Variables, tt.replays)
			}
			if !tt.replays {
				if pkt.PDUType != gosnmp.Report || pkt.Variables[0].Name != statOIDs[statNotInTimeWindows] || pkt.MsgFlags&gosnmp.AuthNoPriv == 0 {
					t.Fatalf("replay got %v %v (flags %v), want an authenticated notInTimeWindows report", pkt.PDUType, pkt.Variables, pkt.MsgFlags)
				}
				if sp := pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters); sp.AuthoritativeEngineBoots != boots {
					t.Errorf("report carries boots %d, want %d", sp.AuthoritativeEngineBoots, boots)
				}
			}

			// The client that knew the first start's boots carries on after the restart.
			g.Port = uint16(second.addr.Port)
			g.Conn.Close()
			must(t, g.Connect())
			res, err = g.Get([]string{sysDescr})
			if err != nil || res.PDUType != gosnmp.GetResponse || res.Variables[0].Type != gosnmp.OctetString {
				t.Fatalf("gosnmp after the restart: %v, %v", res, err)
			}
			get := netSNMP(t, "snmpget")
			conf := t.TempDir()
			cmd := exec.Command(get, "-v3", "-l", "authPriv", "-u", u.Name, "-a", "SHA-256", "-A", u.AuthKey, "-x", "AES", "-X", u.PrivKey,
				"-n", "apc-rpdu2", "-On", "-t", "3", "-r", "1", fmt.Sprintf("127.0.0.1:%d", second.addr.Port), sysDescr)
			cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS="+conf, "SNMPCONFPATH="+conf, "SNMP_PERSISTENT_DIR="+conf)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), sysDescr+" = STRING:") {
				t.Fatalf("snmpget after the restart: %v\n%s", err, out)
			}
		})
	}
}
