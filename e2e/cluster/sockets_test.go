package cluster

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestHexAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0000":                         "0.0.0.0:0",
		"0202A8C0:01BB":                         "192.168.2.2:443",
		"00000000000000000000000001000000:0050": "[::1]:80",
		// Not hex: kept as it is, never a made-up 0.0.0.0:0.
		"0100007G:1F90": "0100007G:1F90",
	} {
		if got := hexAddr(in); got != want {
			t.Errorf("hexAddr(%s) = %s, want %s", in, got, want)
		}
	}
	if onCluster(hexAddr("0100007G:0000"), true) {
		t.Error("an address that does not decode counts as on the cluster")
	}
	for _, c := range []struct {
		addr     string
		wildcard bool
		want     bool
	}{
		{"127.0.0.1:9090", false, true},
		{"[::1]:80", false, true},
		{"0.0.0.0:0", false, true},
		{"0.0.0.0:9090", false, false},
		{"0.0.0.0:9090", true, true},
		{"198.18.0.5:9090", false, true},
		{"198.19.255.1:443", false, true},
		{"198.20.0.1:443", true, false},
		{"192.0.2.2:9090", true, false},
		{"[::ffff:198.18.0.7]:80", false, true},
	} {
		if got := onCluster(c.addr, c.wildcard); got != c.want {
			t.Errorf("onCluster(%s, wildcard %v) = %v, want %v", c.addr, c.wildcard, got, c.want)
		}
	}
}

// TestSocketsSeesThisProcess: a process whose command line names the state dir is found, and a
// wildcard listener of it is reported.
func TestSocketsSeesThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// This test binary's command line holds its own path: use its folder as the "state dir".
	exe, _ := os.Executable()
	off, checked, err := sockets(filepath.Dir(exe))
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 || len(off) == 0 {
		t.Fatalf("checked %d sockets, %d off loopback; want the wildcard listener reported", checked, len(off))
	}
}
