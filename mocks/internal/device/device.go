package device

import (
	"fmt"
	"hash/fnv"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

// Device is one simulated agent: a shared template plus its own seed and
// faults. It is safe for concurrent use; the request path reads the faults
// through one atomic load.
type Device struct {
	Name string
	T    *Template

	seed  uint64
	store *Store

	mu     sync.Mutex // serialises fault changes
	faults atomic.Pointer[Faults]
}

func newDevice(s *Store, name string, t *Template) *Device {
	h := fnv.New64a()
	h.Write([]byte(name))
	d := &Device{Name: name, T: t, store: s, seed: h.Sum64() ^ s.seed}
	d.faults.Store(&Faults{ResetAt: -1})
	return d
}

// Faults returns the device's current faults; the value must not be changed.
func (d *Device) Faults() *Faults { return d.faults.Load() }

// now returns the device's clock in seconds since the store started, stopped
// while the device is frozen.
func (d *Device) now(f *Faults) float64 {
	if f.Freeze {
		return f.FrozenAt
	}
	return d.store.elapsed()
}

// Len returns the number of variables the device has.
func (d *Device) Len() int { return len(d.T.Vars) }

// Var returns variable i of the device's template.
func (d *Device) Var(i int) *Var { return &d.T.Vars[i] }

// Find returns the index of oid, or false when the device does not serve it
// (not recorded, or hidden by a drop fault).
func (d *Device) Find(f *Faults, oid snmprec.OID) (int, bool) {
	i, ok := d.T.find(oid)
	if !ok || f.Hidden(oid) {
		return 0, false
	}
	return i, true
}

// Next returns the index of the first variable after oid that skip does not
// reject and no drop fault hides, or false at the end of the MIB view.
func (d *Device) Next(f *Faults, oid snmprec.OID, skip func(*Var) bool) (int, bool) {
	for i := d.T.after(oid); i < len(d.T.Vars); i++ {
		v := &d.T.Vars[i]
		if f.Hidden(v.OID) || (skip != nil && skip(v)) {
			continue
		}
		return i, true
	}
	return 0, false
}

// Value returns variable i's value now, as gosnmp marshals it for Type,
// with the faults f applied (frozen clock, counter reset, wrong scale).
func (d *Device) Value(f *Faults, i int) any {
	v := &d.T.Vars[i]
	if v.Live == nil && f.Scale == 0 {
		return v.Static
	}
	if !numericType(v.Type) {
		return v.Static
	}
	var n float64
	if v.Live != nil {
		n = d.number(i, d.now(f), f.ResetAt)
		if !v.Live.Cumulative {
			n = math.Round(n)
		}
	} else {
		n = staticNumber(v.Static)
	}
	if f.Scale != 0 && f.scales(v) {
		n *= f.Scale
	}
	return typed(v.Type, n)
}

// typed converts n to the Go type gosnmp marshals for t, saturating at the
// type's range (a scaled gauge pins at its maximum, as a real one would).
func typed(t gosnmp.Asn1BER, n float64) any {
	switch t {
	case gosnmp.Integer:
		return int(max(math.MinInt32, min(math.MaxInt32, n)))
	case gosnmp.Counter64:
		if n >= math.Exp2(64) {
			return uint64(math.MaxUint64)
		}
		return uint64(max(0, n))
	default:
		return uint32(max(0, min(math.MaxUint32, n)))
	}
}

// Faults is an immutable set of faults; changes swap in a new value.
type Faults struct {
	// Timeout drops every request: the device does not answer.
	Timeout bool
	// Delay holds each response back this long.
	Delay time.Duration
	// Drop hides the subtrees under these OIDs, as if never recorded.
	Drop []snmprec.OID
	// Freeze stops the device's clock at FrozenAt: live values go stale.
	Freeze   bool
	FrozenAt float64
	// Scale multiplies numeric values (live ones, or those under
	// ScalePrefixes when set): the wrong-scale fault.
	Scale         float64
	ScalePrefixes []snmprec.OID
	ErrorStatus   gosnmp.SNMPError
	// ResetAt is when counters were last reset, in store seconds; -1 none.
	ResetAt float64
}

// Hidden reports whether a drop fault hides oid.
func (f *Faults) Hidden(oid snmprec.OID) bool {
	for _, p := range f.Drop {
		if oid.HasPrefix(p) {
			return true
		}
	}
	return false
}

func (f *Faults) scales(v *Var) bool {
	if len(f.ScalePrefixes) == 0 {
		return v.Live != nil
	}
	for _, p := range f.ScalePrefixes {
		if v.OID.HasPrefix(p) {
			return true
		}
	}
	return false
}

// Active lists the names of the faults in force, for the API and metrics.
func (f *Faults) Active() []string {
	var out []string
	if f.Timeout {
		out = append(out, FaultTimeout)
	}
	if f.Delay > 0 {
		out = append(out, FaultDelay)
	}
	if len(f.Drop) > 0 {
		out = append(out, FaultDrop)
	}
	if f.Freeze {
		out = append(out, FaultFreeze)
	}
	if f.Scale != 0 {
		out = append(out, FaultScale)
	}
	if f.ErrorStatus != gosnmp.NoError {
		out = append(out, FaultError)
	}
	return out
}

// The fault names of the control API.
const (
	FaultTimeout = "timeout"
	FaultDelay   = "delay"
	FaultDrop    = "drop"
	FaultFreeze  = "freeze"
	FaultReset   = "reset"
	FaultScale   = "scale"
	FaultError   = "error"
)

// FaultNames lists every fault type, in the order the README documents them.
var FaultNames = []string{FaultTimeout, FaultDelay, FaultDrop, FaultFreeze, FaultReset, FaultScale, FaultError}

// FaultSpec is a request to set one fault.
type FaultSpec struct {
	Type string
	// Delay for "delay", as a Go duration ("250ms", "3s").
	Delay string
	// Prefixes for "drop" (required) and "scale" (optional).
	Prefixes []string
	// Factor for "scale"; default 10.
	Factor float64
	// Status for "error": an SNMP error-status name (genErr, tooBig,
	// noSuchName, badValue, readOnly, noAccess, resourceUnavailable, ...) or
	// its number.
	Status string
}

// SetFault applies one fault to the device.
func (d *Device) SetFault(spec FaultSpec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := *d.faults.Load()
	switch spec.Type {
	case FaultTimeout:
		f.Timeout = true
	case FaultDelay:
		dur, err := time.ParseDuration(spec.Delay)
		if err != nil || dur <= 0 || dur > time.Hour {
			return fmt.Errorf("fault delay: field delay %q: want a positive Go duration up to 1h, e.g. \"2s\"", spec.Delay)
		}
		f.Delay = dur
	case FaultDrop:
		if len(spec.Prefixes) == 0 {
			return fmt.Errorf("fault drop: field prefixes: want at least one OID")
		}
		ps, err := parsePrefixes(spec.Prefixes)
		if err != nil {
			return fmt.Errorf("fault drop: %w", err)
		}
		f.Drop = ps
	case FaultFreeze:
		if !f.Freeze {
			f.Freeze, f.FrozenAt = true, d.store.elapsed()
		}
	case FaultReset:
		f.ResetAt = d.now(&f)
	case FaultScale:
		factor := spec.Factor
		if factor == 0 {
			factor = 10
		}
		if factor < 0 || math.IsInf(factor, 0) || math.IsNaN(factor) {
			return fmt.Errorf("fault scale: field factor %v: want a positive number", spec.Factor)
		}
		ps, err := parsePrefixes(spec.Prefixes)
		if err != nil {
			return fmt.Errorf("fault scale: %w", err)
		}
		f.Scale, f.ScalePrefixes = factor, ps
	case FaultError:
		st, err := ParseErrorStatus(spec.Status)
		if err != nil {
			return fmt.Errorf("fault error: field status: %w", err)
		}
		f.ErrorStatus = st
	default:
		return fmt.Errorf("unknown fault type %q (known: %v)", spec.Type, FaultNames)
	}
	d.faults.Store(&f)
	return nil
}

// ClearFault removes one fault; "" removes all. Clearing "reset" is a no-op:
// counters that were reset keep counting from their reset, as on a real
// device, and clearing "freeze" lets the clock jump to now.
func (d *Device) ClearFault(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := *d.faults.Load()
	switch name {
	case "":
		f = Faults{ResetAt: f.ResetAt}
	case FaultTimeout:
		f.Timeout = false
	case FaultDelay:
		f.Delay = 0
	case FaultDrop:
		f.Drop = nil
	case FaultFreeze:
		f.Freeze, f.FrozenAt = false, 0
	case FaultReset:
	case FaultScale:
		f.Scale, f.ScalePrefixes = 0, nil
	case FaultError:
		f.ErrorStatus = gosnmp.NoError
	default:
		return fmt.Errorf("unknown fault type %q (known: %v)", name, FaultNames)
	}
	d.faults.Store(&f)
	return nil
}

func parsePrefixes(in []string) ([]snmprec.OID, error) {
	var out []snmprec.OID
	for i, s := range in {
		oid, err := snmprec.ParseOID(s)
		if err != nil {
			return nil, fmt.Errorf("field prefixes[%d]: %w", i, err)
		}
		out = append(out, oid)
	}
	return out, nil
}

// errorStatusNames maps RFC 3416 error-status names to values.
var errorStatusNames = map[string]gosnmp.SNMPError{
	"tooBig": gosnmp.TooBig, "noSuchName": gosnmp.NoSuchName, "badValue": gosnmp.BadValue,
	"readOnly": gosnmp.ReadOnly, "genErr": gosnmp.GenErr, "noAccess": gosnmp.NoAccess,
	"wrongType": gosnmp.WrongType, "wrongLength": gosnmp.WrongLength, "wrongEncoding": gosnmp.WrongEncoding,
	"wrongValue": gosnmp.WrongValue, "noCreation": gosnmp.NoCreation, "inconsistentValue": gosnmp.InconsistentValue,
	"resourceUnavailable": gosnmp.ResourceUnavailable, "commitFailed": gosnmp.CommitFailed,
	"undoFailed": gosnmp.UndoFailed, "authorizationError": gosnmp.AuthorizationError,
	"notWritable": gosnmp.NotWritable, "inconsistentName": gosnmp.InconsistentName,
}

// ParseErrorStatus reads an error-status name or number (1-18).
func ParseErrorStatus(s string) (gosnmp.SNMPError, error) {
	if st, ok := errorStatusNames[s]; ok {
		return st, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n >= 1 && n <= 18 && fmt.Sprint(n) == s {
		return gosnmp.SNMPError(n), nil
	}
	return 0, fmt.Errorf("%q is not an SNMP error status (e.g. genErr, noAccess, or 1-18)", s)
}

// ErrorStatusName returns the RFC 3416 name of an error status.
func ErrorStatusName(st gosnmp.SNMPError) string {
	for k, v := range errorStatusNames {
		if v == st {
			return k
		}
	}
	return fmt.Sprint(int(st))
}

func numericType(t gosnmp.Asn1BER) bool {
	switch t {
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64:
		return true
	}
	return false
}
