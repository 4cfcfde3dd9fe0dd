// Package sim is a client for wattson-snmpsim's control API (mocks/README.md): the devices it
// serves, the values they serve right now (the truth a spec compares Prometheus with), and the
// faults a spec injects and clears.
//
// It speaks HTTP only, so specs do not depend on the simulator's internal packages.
package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wattson-dev/wattson/specs/internal/jsonhttp"
)

// Fault types the simulator knows.
const (
	// FaultTimeout: no answer at all.
	FaultTimeout = "timeout"
	// FaultDelay: every answer held back by Fault.Delay.
	FaultDelay = "delay"
	// FaultDrop: the subtrees in Fault.Prefixes vanish.
	FaultDrop = "drop"
	// FaultFreeze: the device clock stops; live values go stale.
	FaultFreeze = "freeze"
	// FaultReset: counters restart from 0 now (an event: clearing does not undo it).
	FaultReset = "reset"
	// FaultScale: numbers multiplied by Fault.Factor (all live values, or Fault.Prefixes).
	FaultScale = "scale"
	// FaultError: every request answered with SNMP error-status Fault.Status.
	FaultError = "error"
)

// Fault is a fault to set; only the fields of its type are sent.
type Fault struct {
	Type string
	// Delay for FaultDelay.
	Delay time.Duration
	// Prefixes for FaultDrop (required) and FaultScale (optional).
	Prefixes []string
	// Factor for FaultScale; the simulator's default is 10.
	Factor float64
	// Status for FaultError: an SNMP error-status name (genErr, ...) or number.
	Status string
}

// Faults is a device's fault state.
type Faults struct {
	Active         []string `json:"active"`
	Delay          string   `json:"delay"`
	Drop           []string `json:"drop"`
	Scale          float64  `json:"scale"`
	ScalePrefixes  []string `json:"scalePrefixes"`
	ErrorStatus    string   `json:"errorStatus"`
	ResetAtSeconds *float64 `json:"resetAtSeconds"`
}

// Device is one simulated agent.
type Device struct {
	Name      string `json:"name"`
	Template  string `json:"template"`
	DataFile  string `json:"dataFile"`
	Variables int    `json:"variables"`
	Faults    Faults `json:"faults"`
}

// Value is one variable as the device serves it now, faults applied.
type Value struct {
	OID  string `json:"oid"`
	Type string `json:"type"`
	// Value is a json.Number for numeric types, else a string.
	Value any    `json:"value"`
	Hex   string `json:"hex"`
	Live  bool   `json:"live"`
}

// Float returns a numeric value as a float64.
func (v Value) Float() (float64, error) {
	n, ok := v.Value.(json.Number)
	if !ok {
		return 0, fmt.Errorf("oid %s: %s value %v is not a number", v.OID, v.Type, v.Value)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, fmt.Errorf("oid %s: %w", v.OID, err)
	}
	return f, nil
}

// Values is what a device serves at one moment of the simulator's clock.
type Values struct {
	Device         string  `json:"device"`
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	Values         []Value `json:"values"`
}

// Get returns the variable with exactly this OID (no leading dot).
func (vs Values) Get(oid string) (Value, bool) {
	oid = strings.TrimPrefix(oid, ".")
	for _, v := range vs.Values {
		if v.OID == oid {
			return v, true
		}
	}
	return Value{}, false
}

// Float returns the numeric value of oid, or an error naming the device and OID.
func (vs Values) Float(oid string) (float64, error) {
	v, ok := vs.Get(oid)
	if !ok {
		return 0, fmt.Errorf("device %s serves no %s (dropped, or not in its data file)", vs.Device, oid)
	}
	return v.Float()
}

// Client talks to one simulator's control API.
type Client struct {
	URL  string
	HTTP *http.Client
}

// New returns a client for the control API at base (http://host:8161).
func New(base string) *Client {
	return &Client{URL: strings.TrimSuffix(base, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

func devicePath(name string) string { return "/api/v1/devices/" + url.PathEscape(name) }

// Devices lists the devices; with faultyOnly, only those with active faults.
func (c *Client) Devices(ctx context.Context, faultyOnly bool) ([]Device, error) {
	p := "/api/v1/devices"
	if faultyOnly {
		p += "?faulty=true"
	}
	var out []Device
	if err := c.do(ctx, http.MethodGet, p, nil, &out); err != nil {
		return nil, fmt.Errorf("list simulator devices: %w", err)
	}
	return out, nil
}

// Device returns one device.
func (c *Client) Device(ctx context.Context, name string) (Device, error) {
	var d Device
	if err := c.do(ctx, http.MethodGet, devicePath(name), nil, &d); err != nil {
		return d, fmt.Errorf("simulator device %s: %w", name, err)
	}
	return d, nil
}

// Values returns what the device serves now over SNMP, faults applied, under prefix (all when
// empty).
func (c *Client) Values(ctx context.Context, device, prefix string) (Values, error) {
	return c.values(ctx, device, prefix, "served")
}

// Truth returns what the device really measures now, under prefix: without the faults that
// falsify what it says (a wrong scale, frozen values, hidden subtrees). Compare Prometheus with
// this to catch scale and unit bugs.
func (c *Client) Truth(ctx context.Context, device, prefix string) (Values, error) {
	return c.values(ctx, device, prefix, "physical")
}

func (c *Client) values(ctx context.Context, device, prefix, view string) (Values, error) {
	q := url.Values{"view": {view}}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	p := devicePath(device) + "/values?" + q.Encode()
	var vs Values
	if err := c.do(ctx, http.MethodGet, p, nil, &vs); err != nil {
		return vs, fmt.Errorf("simulator values of %s: %w", device, err)
	}
	return vs, nil
}

// Growth returns how much a live counter of the device (its instance OID) really grew between two
// wall-clock times: the simulator's exact integral of the counter's source, in the counter's raw
// units (multiply by a Reading's Scale for SI), not floored, not wrapped, and unaffected by faults.
// A counter's increase over [from, to] in any store must be within one raw unit of it.
func (c *Client) Growth(ctx context.Context, device, oid string, from, to time.Time) (float64, error) {
	q := url.Values{"oid": {oid}, "from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	var g struct {
		Growth float64 `json:"growth"`
	}
	if err := c.do(ctx, http.MethodGet, devicePath(device)+"/growth?"+q.Encode(), nil, &g); err != nil {
		return 0, fmt.Errorf("simulator growth of %s %s: %w", device, oid, err)
	}
	return g.Growth, nil
}

// SetFault sets one fault on a device and returns the device's fault state.
func (c *Client) SetFault(ctx context.Context, device string, f Fault) (Faults, error) {
	body := map[string]any{}
	if f.Delay > 0 {
		body["delay"] = f.Delay.String()
	}
	if len(f.Prefixes) > 0 {
		body["prefixes"] = f.Prefixes
	}
	if f.Factor != 0 {
		body["factor"] = f.Factor
	}
	if f.Status != "" {
		body["status"] = f.Status
	}
	var out Faults
	if err := c.do(ctx, http.MethodPut, devicePath(device)+"/faults/"+url.PathEscape(f.Type), body, &out); err != nil {
		return out, fmt.Errorf("set fault %s on %s: %w", f.Type, device, err)
	}
	return out, nil
}

// ClearFault clears one fault type on a device.
func (c *Client) ClearFault(ctx context.Context, device, faultType string) (Faults, error) {
	var out Faults
	if err := c.do(ctx, http.MethodDelete, devicePath(device)+"/faults/"+url.PathEscape(faultType), nil, &out); err != nil {
		return out, fmt.Errorf("clear fault %s on %s: %w", faultType, device, err)
	}
	return out, nil
}

// ClearFaults clears every fault of a device.
func (c *Client) ClearFaults(ctx context.Context, device string) (Faults, error) {
	var out Faults
	if err := c.do(ctx, http.MethodDelete, devicePath(device)+"/faults", nil, &out); err != nil {
		return out, fmt.Errorf("clear faults on %s: %w", device, err)
	}
	return out, nil
}

// Healthy returns nil when the simulator answers /healthz.
func (c *Client) Healthy(ctx context.Context) error {
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, nil); err != nil {
		return fmt.Errorf("simulator health: %w", err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return jsonhttp.Do(ctx, c.HTTP, method, c.URL, path, in, out)
}
