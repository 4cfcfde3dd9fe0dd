package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattson-dev/wattson/mocks/internal/agent"
	"github.com/wattson-dev/wattson/mocks/internal/device"
)

// TestRecordCommand runs `wattson-snmpsim record` against the simulator serving mocks/data and
// checks its flags: bad ones exit 2 naming the flag; a good run writes a loadable recording.
func TestRecordCommand(t *testing.T) {
	store := device.NewStore(device.Options{Seed: 1})
	if err := store.LoadDir("data"); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Store: store, Metrics: agent.NewMetrics(prometheus.NewRegistry(), store, false)})
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
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	target := conn.LocalAddr().String()
	out := filepath.Join(t.TempDir(), "cyberpower.snmprec")

	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"--community=cyberpower-epdu"}, 2, "--agent-udpv4-endpoint is required"},
		{[]string{"--agent-udpv4-endpoint=" + target, "--protocol-version=4"}, 2, "--protocol-version"},
		{[]string{"--agent-udpv4-endpoint=" + target, "--v3-auth-proto=ROT13"}, 2, "--v3-auth-proto"},
		{[]string{"--agent-udpv4-endpoint=" + target, "--protocol-version=3"}, 1, "--v3-user is required"},
		{[]string{"--agent-udpv4-endpoint=" + target, "--community=cyberpower-epdu", "--start-object=1.3.6.1.4.1.3808", "--output-file=" + out, "--anonymise"}, 0, "wrote"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := runRecord(tt.args, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("record %v: exit %d, stderr %q; want exit %d with %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
	// What was written is a recording the simulator loads.
	dir := filepath.Dir(out)
	check := device.NewStore(device.Options{Seed: 1})
	if err := check.LoadDir(dir); err != nil {
		t.Fatalf("the recording does not load: %v", err)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "1.3.6.1.4.1.3808.1.1.3.2.3.1.1.6.1|2|") {
		t.Errorf("the recording lacks ePDULoadStatusVoltage.1:\n%s", b)
	}
}
