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
	} {
		if got := hexAddr(in); got != want {
			t.Errorf("hexAddr(%s) = %s, want %s", in, got, want)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:9090": true, "[::1]:80": true, "0.0.0.0:0": true, "0.0.0.0:9090": false, "192.0.2.2:9090": false} {
		if got := isLoopbackOrUnset(addr); got != want {
			t.Errorf("isLoopbackOrUnset(%s) = %v, want %v", addr, got, want)
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
