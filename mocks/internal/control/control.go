// Package control is the simulator's HTTP API: list devices, read what a
// device serves right now (the truth a test compares an exporter against),
// inject and clear faults, and expose the simulator's own /metrics.
package control

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wattson-dev/wattson/mocks/internal/device"
	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

// Handler returns the API. Device names are one path segment; a name with
// "/" (a data file in a subfolder) is written with %2F.
func Handler(store *device.Store, gatherer prometheus.Gatherer) http.Handler {
	a := &api{store: store}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/devices", a.list)
	mux.HandleFunc("GET /api/v1/devices/{name}", a.get)
	mux.HandleFunc("GET /api/v1/devices/{name}/values", a.values)
	mux.HandleFunc("GET /api/v1/devices/{name}/faults", a.faults)
	mux.HandleFunc("GET /api/v1/devices/{name}/growth", a.growth)
	mux.HandleFunc("PUT /api/v1/devices/{name}/faults/{type}", a.setFault)
	mux.HandleFunc("DELETE /api/v1/devices/{name}/faults/{type}", a.clearFault)
	mux.HandleFunc("DELETE /api/v1/devices/{name}/faults", a.clearFault)
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

type api struct{ store *device.Store }

// DeviceInfo is one device in the API.
type DeviceInfo struct {
	Name      string    `json:"name"`
	Template  string    `json:"template"`
	DataFile  string    `json:"dataFile"`
	Variables int       `json:"variables"`
	Faults    FaultView `json:"faults"`
}

// FaultView shows a device's faults.
type FaultView struct {
	Active      []string `json:"active"`
	Delay       string   `json:"delay,omitempty"`
	Drop        []string `json:"drop,omitempty"`
	Scale       float64  `json:"scale,omitempty"`
	ScaleOIDs   []string `json:"scalePrefixes,omitempty"`
	ErrorStatus string   `json:"errorStatus,omitempty"`
	// ResetAtSeconds is when counters were last reset, in seconds since
	// the simulator started.
	ResetAtSeconds *float64 `json:"resetAtSeconds,omitempty"`
}

func viewFaults(f *device.Faults) FaultView {
	v := FaultView{Active: f.Active(), Scale: f.Scale}
	if v.Active == nil {
		v.Active = []string{}
	}
	if f.Delay > 0 {
		v.Delay = f.Delay.String()
	}
	for _, p := range f.Drop {
		v.Drop = append(v.Drop, strings.TrimPrefix(p.String(), "."))
	}
	for _, p := range f.ScalePrefixes {
		v.ScaleOIDs = append(v.ScaleOIDs, strings.TrimPrefix(p.String(), "."))
	}
	if f.ErrorStatus != gosnmp.NoError {
		v.ErrorStatus = device.ErrorStatusName(f.ErrorStatus)
	}
	if f.ResetAt >= 0 {
		r := f.ResetAt
		v.ResetAtSeconds = &r
	}
	return v
}

func info(d *device.Device) DeviceInfo {
	return DeviceInfo{Name: d.Name, Template: d.T.Name, DataFile: d.T.Path, Variables: d.Len(), Faults: viewFaults(d.Faults())}
}

func (a *api) device(w http.ResponseWriter, r *http.Request) (*device.Device, bool) {
	d, ok := a.store.Get(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no device %q", r.PathValue("name")))
	}
	return d, ok
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	names := a.store.Names()
	// ?faulty=true lists only devices with faults, cheap to poll at 10k devices.
	faulty := r.URL.Query().Get("faulty") == "true"
	out := make([]DeviceInfo, 0, len(names))
	for _, n := range names {
		d, _ := a.store.Get(n)
		if faulty && len(d.Faults().Active()) == 0 {
			continue
		}
		out = append(out, info(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	if d, ok := a.device(w, r); ok {
		writeJSON(w, http.StatusOK, info(d))
	}
}

func (a *api) faults(w http.ResponseWriter, r *http.Request) {
	if d, ok := a.device(w, r); ok {
		writeJSON(w, http.StatusOK, viewFaults(d.Faults()))
	}
}

// Value is one variable as the device serves it now.
type Value struct {
	OID  string `json:"oid"`
	Type string `json:"type"`
	// Value is a number for numeric types, the text for printable octet
	// strings, the dotted form for OIDs and IP addresses.
	Value any `json:"value"`
	// Hex is set for octet strings: the exact bytes.
	Hex  string `json:"hex,omitempty"`
	Live bool   `json:"live,omitempty"`
}

// Values is the answer of GET .../values.
type Values struct {
	Device string `json:"device"`
	// ElapsedSeconds is the simulator clock the values were computed at.
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	Values         []Value `json:"values"`
}

func (a *api) values(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r)
	if !ok {
		return
	}
	var prefix snmprec.OID
	if p := r.URL.Query().Get("prefix"); p != "" {
		var err error
		if prefix, err = snmprec.ParseOID(p); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("query parameter prefix: %w", err))
			return
		}
	}
	f := d.Faults()
	switch view := r.URL.Query().Get("view"); view {
	case "", "served":
	case "physical":
		// What the PDU really measures: without the faults that falsify what it says (wrong
		// scale, stale values, hidden subtrees). A reset stays: the counter did restart.
		pf := *f
		pf.Scale, pf.ScalePrefixes, pf.Freeze, pf.Drop = 0, nil, false, nil
		f = &pf
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("query parameter view: %q is not served or physical", view))
		return
	}
	out := Values{Device: d.Name, ElapsedSeconds: a.store.Elapsed().Seconds(), Values: []Value{}}
	for i := range d.Len() {
		v := d.Var(i)
		if f.Hidden(v.OID) || (prefix != nil && !v.OID.HasPrefix(prefix)) {
			continue
		}
		out.Values = append(out.Values, decode(v, d.Value(f, i)))
	}
	writeJSON(w, http.StatusOK, out)
}

// Growth is the answer of GET .../growth?oid=OID&from=T&to=T: how much a live counter really grew
// between two wall-clock times (RFC 3339), exactly: the integral of its source, in the counter's
// units, unfloored and unaffected by faults.
type Growth struct {
	Device string  `json:"device"`
	OID    string  `json:"oid"`
	From   string  `json:"from"`
	To     string  `json:"to"`
	Growth float64 `json:"growth"`
}

func (a *api) growth(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	oid, err := snmprec.ParseOID(q.Get("oid"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("query parameter oid: %w", err))
		return
	}
	var times [2]time.Time
	for k, name := range []string{"from", "to"} {
		if times[k], err = time.Parse(time.RFC3339Nano, q.Get(name)); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("query parameter %s: %w", name, err))
			return
		}
	}
	i, ok := d.Find(&device.Faults{ResetAt: -1}, oid)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("device %q has no variable %s", d.Name, q.Get("oid")))
		return
	}
	g, err := d.Growth(i, times[0], times[1])
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("query parameter oid: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, Growth{Device: d.Name, OID: q.Get("oid"), From: q.Get("from"), To: q.Get("to"), Growth: g})
}

func decode(v *device.Var, val any) Value {
	out := Value{OID: strings.TrimPrefix(v.Name, "."), Type: snmprec.Tag(v.Type).String(), Value: val, Live: v.Live != nil}
	switch x := val.(type) {
	case []byte:
		out.Hex = hex.EncodeToString(x)
		if utf8.Valid(x) && printable(x) {
			out.Value = string(x)
		} else {
			out.Value = out.Hex
		}
		if v.Type == gosnmp.IPAddress && len(x) == 4 {
			out.Value, out.Hex = netip.AddrFrom4([4]byte(x)).String(), ""
		}
	case string:
		out.Value = strings.TrimPrefix(x, ".")
	case uint64:
		// JSON numbers lose precision past 2^53; keep Counter64 exact.
		out.Value = json.Number(strconv.FormatUint(x, 10))
	}
	return out
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func (a *api) setFault(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r)
	if !ok {
		return
	}
	var spec device.FaultSpec
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("fault body: %w", err))
			return
		}
	}
	spec.Type = r.PathValue("type")
	if err := d.SetFault(spec); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, viewFaults(d.Faults()))
}

func (a *api) clearFault(w http.ResponseWriter, r *http.Request) {
	d, ok := a.device(w, r)
	if !ok {
		return
	}
	if err := d.ClearFault(r.PathValue("type")); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, viewFaults(d.Faults()))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
