package main

import (
	"context"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

// TestGate runs `wattson-runtime gate` against real runtimes: green once a passing suite has
// passed N times after --since, red (exit 1 at the timeout, naming the failing spec) for a
// failing one, and a usage error for bad flags.
func TestGate(t *testing.T) {
	t.Parallel()
	since := time.Now().UTC().Format(time.RFC3339)
	passing, _ := startRuntime(t, "--specs.binary="+suitetest.Binary(t, "passing"), "--specs.interval=300ms")
	failing, _ := startRuntime(t, "--specs.binary="+suitetest.Binary(t, "failing"), "--specs.interval=300ms")
	tests := []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"green", []string{"--url=" + passing, "--runs=3", "--since=" + since, "--timeout=60s", "--poll=100ms"}, 0,
			[]string{"green: the last 3 runs since"}},
		{"red", []string{"--url=" + failing, "--runs=2", "--timeout=3s", "--poll=100ms"}, 1,
			[]string{`red: run `, `failed: "outlet reports watts"`, "NOT GREEN after 3s"}},
		{"label", []string{"--url=" + passing, "--label=fast", "--timeout=60s", "--poll=100ms"}, 0,
			[]string{`green: the last 3 runs with specs labelled "fast" passed`}},
		{"bad since", []string{"--url=" + passing, "--since=yesterday"}, 2, []string{"--since \"yesterday\" is not an RFC 3339 time"}},
		{"bad url", []string{"--url=ftp://x"}, 2, []string{"is not an http(s) URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			if code := run(context.Background(), append([]string{"gate"}, tt.args...), &out); code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, out.String())
			}
			for _, s := range tt.out {
				if !contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}
