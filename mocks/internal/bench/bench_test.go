//go:build linux

package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

func startEcho(t *testing.T, delay time.Duration) *net.UDPAddr {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serveEcho(c, delay) }()
	t.Cleanup(func() {
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("echo: %v", err)
		}
	})
	return c.LocalAddr().(*net.UDPAddr)
}

func TestIsResponse(t *testing.T) {
	req := encodeGet("px3", 7, [][]byte{{0x2b, 6, 1, 2, 1, 1, 1, 0}})
	if isResponse(req) {
		t.Error("a GET request taken for a response")
	}
	resp := append([]byte(nil), req...)
	resp[pduOffset(resp)] = 0xa2
	if !isResponse(resp) {
		t.Error("a response PDU not recognised")
	}
	if id, ok := responseID(resp); !ok || id != 7 {
		t.Errorf("responseID = %d, %v; want 7, true", id, ok)
	}
	if isResponse(resp[:len(resp)-3]) {
		t.Error("a truncated message taken for a response")
	}
}

// TestLatencyCountsFromDueTime checks the measuring client against an echo
// that holds each answer for 2 ms: every request is answered, and no
// latency can be shorter than the hold.
func TestLatencyCountsFromDueTime(t *testing.T) {
	const hold = 2 * time.Millisecond
	addr := startEcho(t, hold)
	res, err := latency(addr, "px3", 0, 200, 250*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != 50 || res.lost != 0 {
		t.Fatalf("sent %d, unanswered %d; want 50 and 0", res.sent, res.lost)
	}
	if res.p50 < hold || res.max < res.p99 || res.p99 < res.p50 {
		t.Errorf("p50 %s, p99 %s, max %s: want hold %s <= p50 <= p99 <= max", res.p50, res.p99, res.max, hold)
	}
}

// TestLatencyCountsUnanswered checks that a request nobody answers counts
// as lost, not as fast.
func TestLatencyCountsUnanswered(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() // bound but silent
	_, err = latency(c.LocalAddr().(*net.UDPAddr), "px3", 0, 200, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no GET answered") {
		t.Fatalf("err = %v, want no GET answered", err)
	}
}

// TestStartAgentReportsEarlyExit: an agent that dies at start is reported
// at once, not after the 60 s readiness wait.
func TestStartAgentReportsEarlyExit(t *testing.T) {
	begin := time.Now()
	_, _, err := startAgent(-1, "public", "/bin/false", nil, "%d")
	if err == nil || !strings.Contains(err.Error(), "exited before it answered") {
		t.Fatalf("err = %v, want exited before it answered", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("took %s to notice", d)
	}
}

// TestSummarize: the quiet medians take only the runs with known steal
// under quietSteal, and say so when there is none.
func TestSummarize(t *testing.T) {
	run := func(p99 time.Duration, steal float64) latencyResult {
		return latencyResult{p50: p99 / 10, p99: p99, steal: steal}
	}
	got := summarize([]latencyResult{run(3*time.Millisecond, 0.04), run(200*time.Microsecond, 0.002), run(time.Millisecond, 0.02), run(100*time.Microsecond, -1)})
	want := "all 4 runs: p50 100µs, p99 1ms; 1 quiet: p50 20µs, p99 200µs"
	if got != want {
		t.Errorf("summarize = %q, want %q", got, want)
	}
	if got := summarize([]latencyResult{run(time.Millisecond, 0.05)}); !strings.HasSuffix(got, "no quiet run") {
		t.Errorf("summarize = %q, want it to end in no quiet run", got)
	}
}
