package control

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattson-dev/wattson/mocks/internal/device"
)

func newServer(t *testing.T) (*httptest.Server, *device.Store) {
	t.Helper()
	dir := t.TempDir()
	// A device in a subfolder, named "rack1/pdu" as snmpsim names it.
	if err := os.MkdirAll(filepath.Join(dir, "rack1"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := "1.3.6.1.2.1.1.1.0|4|Test PDU\n" +
		"1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.318\n" +
		"1.3.6.1.2.1.2.2.1.6.1|4x|00c0b7e18278\n" +
		"1.3.6.1.2.1.4.20.1.3.10.0.0.1|64|255.255.255.0\n" +
		"1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615\n" +
		"1.3.6.1.4.1.318.1.1.26.4.3.1.5.1|2:numeric|initial=117,deviation=15\n" +
		"1.3.6.1.4.1.318.1.1.26.4.3.1.9.1|2:numeric|initial=7060,source=1.3.6.1.4.1.318.1.1.26.4.3.1.5.1,factor=1\n"
	if err := os.WriteFile(filepath.Join(dir, "rack1", "pdu.snmprec"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	store := device.NewStore(device.Options{Seed: 1})
	if err := store.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(store, prometheus.NewRegistry()))
	t.Cleanup(srv.Close)
	return srv, store
}

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPI(t *testing.T) {
	srv, store := newServer(t)
	dev := srv.URL + "/api/v1/devices/rack1%2Fpdu"
	tests := []struct {
		name, method, url, body string
		code                    int
		contains                []string
	}{
		{"list", "GET", srv.URL + "/api/v1/devices", "", 200, []string{`"name": "rack1/pdu"`, `"variables": 7`}},
		{"get", "GET", dev, "", 200, []string{`"active": []`}},
		{"unknown device", "GET", srv.URL + "/api/v1/devices/nope", "", 404, []string{`no device \"nope\"`}},
		{"values", "GET", dev + "/values", "", 200, []string{
			`"value": "Test PDU"`, `"value": "1.3.6.1.4.1.318"`, `"value": "00c0b7e18278"`,
			`"value": "255.255.255.0"`, `"value": 18446744073709551615`, `"live": true`,
		}},
		{"values prefix", "GET", dev + "/values?prefix=1.3.6.1.2.1.1.1", "", 200, []string{`"oid": "1.3.6.1.2.1.1.1.0"`}},
		{"bad prefix", "GET", dev + "/values?prefix=x", "", 400, []string{"query parameter prefix"}},
		// A constant 117 (no period given: the gauge sits at its initial value) for 10 s.
		{"growth", "GET", dev + "/growth?oid=1.3.6.1.4.1.318.1.1.26.4.3.1.9.1&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:10Z", "", 200, []string{`"growth": `}},
		{"growth of a gauge", "GET", dev + "/growth?oid=1.3.6.1.4.1.318.1.1.26.4.3.1.5.1&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:10Z", "", 400, []string{"not a live counter"}},
		{"growth bad from", "GET", dev + "/growth?oid=1.3.6.1.4.1.318.1.1.26.4.3.1.9.1&from=yesterday&to=2026-01-01T00:00:10Z", "", 400, []string{"query parameter from"}},
		{"growth unknown oid", "GET", dev + "/growth?oid=1.3.6.1.9&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:10Z", "", 404, []string{"has no variable 1.3.6.1.9"}},
		{"set delay", "PUT", dev + "/faults/delay", `{"delay":"2s"}`, 200, []string{`"delay": "2s"`, `"delay"`}},
		{"set drop", "PUT", dev + "/faults/drop", `{"prefixes":["1.3.6.1.2.1.1"]}`, 200, []string{`"drop": [`}},
		{"bad fault body", "PUT", dev + "/faults/delay", `{"delay":"2s","colour":"red"}`, 400, []string{"unknown field"}},
		{"bad delay", "PUT", dev + "/faults/delay", `{"delay":"later"}`, 400, []string{"field delay"}},
		{"unknown fault", "PUT", dev + "/faults/melt", "", 400, []string{"unknown fault type"}},
		{"set timeout without body", "PUT", dev + "/faults/timeout", "", 200, []string{`"timeout"`}},
		{"set error", "PUT", dev + "/faults/error", `{"status":"genErr"}`, 200, []string{`"errorStatus": "genErr"`}},
		{"faults", "GET", dev + "/faults", "", 200, []string{`"timeout"`, `"error"`}},
		{"list faulty", "GET", srv.URL + "/api/v1/devices?faulty=true", "", 200, []string{`rack1/pdu`}},
		{"clear one", "DELETE", dev + "/faults/timeout", "", 200, []string{`"delay"`}},
		{"clear all", "DELETE", dev + "/faults", "", 200, []string{`"active": []`}},
		{"metrics", "GET", srv.URL + "/metrics", "", 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, tt.method, tt.url, tt.body)
			if code != tt.code {
				t.Errorf("status %d, want %d: %s", code, tt.code, body)
			}
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("body lacks %s:\n%s", c, body)
				}
			}
		})
	}
	// The drop fault hid sysDescr from the truth while it was set; after
	// clearing everything the values are whole again.
	d, _ := store.Get("rack1/pdu")
	if len(d.Faults().Active()) != 0 {
		t.Errorf("faults left: %v", d.Faults().Active())
	}
}

func TestValuesHonourFaults(t *testing.T) {
	srv, _ := newServer(t)
	dev := srv.URL + "/api/v1/devices/rack1%2Fpdu"
	read := func() Values {
		_, body := call(t, "GET", dev+"/values", "")
		var v Values
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := read()
	call(t, "PUT", dev+"/faults/drop", `{"prefixes":["1.3.6.1.2.1.2"]}`)
	call(t, "PUT", dev+"/faults/scale", `{}`)
	after := read()
	if len(after.Values) != len(before.Values)-1 {
		t.Errorf("drop: %d values, want %d", len(after.Values), len(before.Values)-1)
	}
	last := func(v Values) float64 { return v.Values[len(v.Values)-1].Value.(float64) }
	if p0, p1 := last(before), last(after); p1 < 9*p0 || p1 > 11*p0 {
		t.Errorf("scale: power %v then %v, want about ×10", p0, p1)
	}
}
