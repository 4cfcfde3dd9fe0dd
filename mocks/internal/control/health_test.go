package control

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattson-dev/wattson/mocks/internal/device"
)

// TestGate: healthy at once, ready (and the API served) only after Ready, as Prometheus's
// /-/healthy and /-/ready.
func TestGate(t *testing.T) {
	g := NewGate()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	type want struct {
		method, path string
		code         int
		body         string
	}
	check := func(stage string, wants []want) {
		t.Helper()
		for _, w := range wants {
			code, body := call(t, w.method, srv.URL+w.path, "")
			if code != w.code || (w.body != "" && body != w.body) {
				t.Errorf("%s: %s %s = %d %q, want %d %q", stage, w.method, w.path, code, body, w.code, w.body)
			}
		}
	}
	g.Stage("binding SNMP endpoints")
	check("before Ready", []want{
		{"GET", "/-/healthy", 200, "wattson-snmpsim is Healthy.\n"},
		{"HEAD", "/-/healthy", 200, ""},
		{"GET", "/-/ready", 503, "wattson-snmpsim is not ready: binding SNMP endpoints.\n"},
		{"GET", "/healthz", 503, ""},
		{"GET", "/api/v1/devices", 503, "wattson-snmpsim is not ready: binding SNMP endpoints (GET /-/ready tells when it is).\n"},
		{"GET", "/metrics", 503, ""},
		{"POST", "/-/ready", http.StatusMethodNotAllowed, ""},
	})
	g.Ready(Handler(device.NewStore(device.Options{Seed: 1}), prometheus.NewRegistry()))
	check("after Ready", []want{
		{"GET", "/-/healthy", 200, "wattson-snmpsim is Healthy.\n"},
		{"GET", "/-/ready", 200, "wattson-snmpsim is Ready.\n"},
		{"HEAD", "/-/ready", 200, ""},
		{"GET", "/healthz", 200, "wattson-snmpsim is Ready.\n"},
		{"GET", "/api/v1/devices", 200, ""},
		{"GET", "/metrics", 200, ""},
	})
}
