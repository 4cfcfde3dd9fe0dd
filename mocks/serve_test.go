package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/internal/listflag"
	"github.com/wattson-dev/wattson/internal/procs"
)

// get returns the status and body of GET url, or 0 when nothing answers.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls url until it answers code.
func waitStatus(t *testing.T, url string, code int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, body := get(t, url)
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %q, want %d within 30s", url, got, body, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeUDP(t *testing.T) string {
	t.Helper()
	a, err := procs.FreeUDPAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func freeTCP(t *testing.T) string {
	t.Helper()
	a, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestReadyOnlyAfterBind runs the simulator on the real data, HTTP server and agent, holding
// the SNMP bind back: /-/healthy answers at once, /-/ready (and /healthz, and the API) answer 503
// until every endpoint is bound, then 200, and then the agent answers SNMP.
func TestReadyOnlyAfterBind(t *testing.T) {
	web, udp := freeTCP(t), freeUDP(t)
	o := options{dataDirs: listflag.Strings{filepath.Join("data")}, endpoints: listflag.Strings{udp},
		webAddr: web, maxMsgSize: 65507, seed: 1}
	bind := make(chan struct{})
	var binds sync.WaitGroup
	binds.Add(1)
	listen := func(network string, addr *net.UDPAddr) (*net.UDPConn, error) {
		defer binds.Done()
		<-bind
		return net.ListenUDP(network, addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	store, ag, reg, err := setup(o, logger)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, o, sim{store, ag, reg}, logger, listen) }()

	base := "http://" + web
	waitStatus(t, base+"/-/healthy", http.StatusOK)
	for _, p := range []string{"/-/ready", "/healthz", "/api/v1/devices", "/metrics"} {
		if code, body := get(t, base+p); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready") {
			t.Errorf("before the bind: GET %s = %d %.200q, want 503 not ready", p, code, body)
		}
	}
	close(bind)
	binds.Wait()
	waitStatus(t, base+"/-/ready", http.StatusOK)
	if code, body := get(t, base+"/api/v1/devices"); code != http.StatusOK || !strings.Contains(body, "apc-rpdu2") {
		t.Errorf("after ready: GET /api/v1/devices = %d %q", code, body)
	}
	host, port, _ := net.SplitHostPort(udp)
	c := &gosnmp.GoSNMP{Target: host, Port: uint16(mustAtoi(t, port)), Community: "apc-rpdu2", Version: gosnmp.Version2c, Timeout: 2 * time.Second, Retries: 1}
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	defer c.Conn.Close()
	res, err := c.Get([]string{"1.3.6.1.2.1.1.2.0"})
	if err != nil || len(res.Variables) != 1 || res.Variables[0].Type != gosnmp.ObjectIdentifier {
		t.Fatalf("SNMP GET sysObjectID once ready: %v %+v", err, res)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestLogFlags: --log.format=json gives JSON lines with level and msg, --log-level (snmpsim's
// spelling) sets the same level as --log.level, and a bad value is an error naming the flag.
func TestLogFlags(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		web := freeTCP(t)
		var stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"--data-dir=data", "--agent-udpv4-endpoint=" + freeUDP(t), "--web.listen-address=" + web,
				"--log.format=json", "--log-level=debug"}, io.Discard, &stderr)
		}()
		waitStatus(t, "http://"+web+"/-/ready", http.StatusOK)
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
		msgs := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not a JSON line: %q (%v)", line, err)
			}
			if m["level"] == nil || m["msg"] == nil || m["time"] == nil {
				t.Errorf("line lacks time, level or msg: %q", line)
			}
			msgs[m["msg"].(string)] = true
		}
		for _, want := range []string{"serving control API", "serving SNMP", "ready"} {
			if !msgs[want] {
				t.Errorf("no %q line in:\n%s", want, stderr.String())
			}
		}
	})
	for _, tc := range []struct{ args, want string }{
		{"--log.level=loud", `invalid value "loud" for flag -log.level: unrecognized log level loud (one of: debug, info, warn, error)`},
		{"--log-level=loud", `invalid value "loud" for flag -log-level: unrecognized log level loud (one of: debug, info, warn, error)`},
		{"--log.format=xml", `invalid value "xml" for flag -log.format: unrecognized log format xml (one of: logfmt, json)`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), []string{"--data-dir=data", "--dry-run", tc.args}, io.Discard, &stderr); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer the simulator's goroutines may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
