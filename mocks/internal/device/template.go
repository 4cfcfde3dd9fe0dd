// Package device holds the simulated devices: immutable templates parsed
// from data files (shared by every device made from them, so 10,000 devices
// cost little more than one), per-device live values computed from time and
// a seed, and the faults injected into each device at run time.
package device

import (
	"fmt"
	"math"
	"net/netip"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

// Var is one variable of a template.
type Var struct {
	OID snmprec.OID
	// Name is the OID with a leading dot, the form gosnmp marshals.
	Name string
	Type gosnmp.Asn1BER
	// Static is the recorded value in the Go type gosnmp marshals for Type.
	Static any
	// Live is set when the value varies with time (the numeric variation).
	Live *Live
}

// Live describes a value computed from time: a counter or a wandering gauge.
type Live struct {
	snmprec.Numeric
	// amp is the gauge amplitude, shrunk so the wave never leaves [min, max];
	// this keeps the gauge an exact sum of sines, whose integral (the
	// counters fed by it) is then exact too.
	amp float64
	// source indexes the template's Vars; -1 when the counter has a rate.
	source int
	// limit is where a counter wraps (exclusive), from max or the type.
	limit float64
}

// Template is a parsed data file. It is never modified after Load.
type Template struct {
	Name string
	Path string
	Vars []Var
}

// NewTemplate builds a template from records sorted by OID.
func NewTemplate(name, path string, recs []snmprec.Record) (*Template, error) {
	t := &Template{Name: name, Path: path, Vars: make([]Var, len(recs))}
	for i, r := range recs {
		v, err := newVar(r)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, r.Line, err)
		}
		t.Vars[i] = v
	}
	for i, r := range recs {
		l := t.Vars[i].Live
		if l == nil || l.Source == nil {
			continue
		}
		j, ok := t.find(l.Source)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s:%d: numeric source %s is not in the file", path, r.Line, l.Source)
		case !recs[j].Tag.Numeric():
			return nil, fmt.Errorf("%s:%d: numeric source %s is not numeric", path, r.Line, l.Source)
		case t.Vars[j].Live != nil && t.Vars[j].Live.Cumulative:
			return nil, fmt.Errorf("%s:%d: numeric source %s is a counter; a source must be a gauge or a static number", path, r.Line, l.Source)
		}
		l.source = j
	}
	return t, nil
}

func newVar(r snmprec.Record) (Var, error) {
	v := Var{OID: r.OID, Name: r.OID.String(), Type: gosnmp.Asn1BER(r.Tag)}
	switch x := r.Value.(type) {
	case int64:
		v.Static = int(x)
	case uint64:
		if r.Tag == snmprec.Counter64 {
			v.Static = x
		} else {
			v.Static = uint32(x)
		}
	case []byte:
		v.Static = x
	case snmprec.OID:
		v.Static = x.String()
	case netip.Addr:
		b := x.As4()
		v.Static = b[:]
	case nil:
		v.Static = nil
	default:
		return v, fmt.Errorf("unexpected value type %T", r.Value)
	}
	if r.Variation == "" {
		return v, nil
	}
	p, err := snmprec.ParseNumeric(r.Params)
	if err != nil {
		return v, err
	}
	l := &Live{Numeric: p, source: -1, amp: p.Deviation}
	if p.HasMin {
		l.amp = min(l.amp, p.Initial-p.Min)
	}
	if p.HasMax {
		l.amp = min(l.amp, p.Max-p.Initial)
	}
	switch {
	case p.HasMax:
		l.limit = p.Max + 1
	case r.Tag == snmprec.Counter64:
		l.limit = math.Exp2(64)
	case r.Tag == snmprec.Integer:
		l.limit = math.MaxInt32 + 1
	default:
		l.limit = math.Exp2(32)
	}
	v.Live = l
	return v, nil
}

// find returns the index of oid, or false.
func (t *Template) find(oid snmprec.OID) (int, bool) {
	// By hand rather than slices.BinarySearchFunc, whose generic call makes
	// oid escape: the agent parses request OIDs into stack buffers.
	lo, hi := 0, len(t.Vars)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if snmprec.Compare(t.Vars[m].OID, oid) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(t.Vars) && snmprec.Compare(t.Vars[lo].OID, oid) == 0
}

// after returns the index of the first variable strictly after oid.
func (t *Template) after(oid snmprec.OID) int {
	i, ok := t.find(oid)
	if ok {
		i++
	}
	return i
}
