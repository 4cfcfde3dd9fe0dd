package agent

import (
	"slices"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/mocks/internal/device"
	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

// maxRepetitionsCap bounds the GETBULK loop; the message size bounds the
// answer anyway, this bounds the work spent on endOfMibView-free walks.
const maxRepetitionsCap = 10000

// serve answers one decoded request for dev in resp, reusing the capacity
// of resp.Variables. budget is the number of bytes the variable bindings may
// take (the message size limit less the envelope). It returns how long to
// hold the answer back, and false when the request must go unanswered.
func (a *Agent) serve(req, resp *gosnmp.SnmpPacket, dev *device.Device, budget int) (time.Duration, bool) {
	m := a.cfg.Metrics
	switch req.PDUType {
	case gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.SetRequest:
	case gosnmp.GetBulkRequest:
		if req.Version == gosnmp.Version1 {
			m.drop("unexpected_pdu")
			return 0, false
		}
	default:
		m.drop("unexpected_pdu")
		return 0, false
	}
	f := dev.Faults()
	m.request(req.Version, req.PDUType, dev.Name)
	if f.Timeout {
		m.drop("fault_timeout")
		return 0, false
	}
	*resp = gosnmp.SnmpPacket{
		Version:   req.Version,
		Community: req.Community,
		PDUType:   gosnmp.GetResponse,
		RequestID: req.RequestID,
		Variables: resp.Variables[:0],
	}
	v1 := req.Version == gosnmp.Version1
	switch {
	case f.ErrorStatus != gosnmp.NoError:
		setError(resp, req, f.ErrorStatus, 0)
	case req.PDUType == gosnmp.SetRequest:
		// The simulator is read-only, like a recording: every object is
		// notWritable (noSuchName in v1, RFC 3584 4.4).
		setError(resp, req, gosnmp.NotWritable, 0)
	case req.PDUType == gosnmp.GetRequest:
		a.get(resp, req, dev, f, v1)
	case req.PDUType == gosnmp.GetNextRequest:
		a.getNext(resp, req, dev, f, v1)
	default:
		a.getBulk(resp, req, dev, f, budget)
	}
	if resp.Error == gosnmp.NoError && req.PDUType != gosnmp.GetBulkRequest && varbindsSize(resp.Variables) > budget {
		setError(resp, req, gosnmp.TooBig, -1)
	}
	if v1 {
		resp.Error = v1Status(resp.Error)
	}
	m.sent(req.PDUType, len(resp.Variables), resp.Error)
	return f.Delay, true
}

// setError fills an error response. RFC 3416 echoes the request's variable
// bindings; tooBig in v2 sends none. index < 0 means no index.
func setError(resp, req *gosnmp.SnmpPacket, st gosnmp.SNMPError, index int) {
	resp.Error = st
	resp.ErrorIndex = uint8(min(index+1, 255))
	if st == gosnmp.TooBig || len(req.Variables) == 0 {
		resp.ErrorIndex = 0
	}
	if st == gosnmp.TooBig && req.Version != gosnmp.Version1 {
		resp.Variables = nil
		return
	}
	resp.Variables = echo(req.Variables)
}

func echo(vars []gosnmp.SnmpPDU) []gosnmp.SnmpPDU {
	out := make([]gosnmp.SnmpPDU, len(vars))
	for i, v := range vars {
		out[i] = gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.Null}
	}
	return out
}

// v1Status maps v2 error statuses to the five v1 knows (RFC 3584 4.4).
func v1Status(st gosnmp.SNMPError) gosnmp.SNMPError {
	switch st {
	case gosnmp.NoError, gosnmp.TooBig, gosnmp.NoSuchName, gosnmp.BadValue, gosnmp.ReadOnly, gosnmp.GenErr:
		return st
	case gosnmp.WrongValue, gosnmp.WrongEncoding, gosnmp.WrongType, gosnmp.WrongLength, gosnmp.InconsistentValue:
		return gosnmp.BadValue
	case gosnmp.NoAccess, gosnmp.NotWritable, gosnmp.NoCreation, gosnmp.InconsistentName, gosnmp.AuthorizationError:
		return gosnmp.NoSuchName
	}
	return gosnmp.GenErr // resourceUnavailable, commitFailed, undoFailed, others
}

// skipV1 hides Counter64 from v1, which cannot carry it (RFC 3584 4.2.2.1):
// GET answers noSuchName and GETNEXT steps over it, as snmpd does.
func skipV1(v *device.Var) bool { return v.Type == gosnmp.Counter64 }

func (a *Agent) get(resp, req *gosnmp.SnmpPacket, dev *device.Device, f *device.Faults, v1 bool) {
	resp.Variables = slices.Grow(resp.Variables[:0], len(req.Variables))[:len(req.Variables)]
	var buf [oidBuf]uint32
	for k, rv := range req.Variables {
		oid := appendRequestOID(buf[:0], rv.Name)
		i, ok := dev.Find(f, oid)
		if ok && v1 && skipV1(dev.Var(i)) {
			ok = false
		}
		switch {
		case ok:
			resp.Variables[k] = pduOf(dev, f, i)
		case v1:
			setError(resp, req, gosnmp.NoSuchName, k)
			return
		default:
			resp.Variables[k] = gosnmp.SnmpPDU{Name: rv.Name, Type: missingType(dev, f, oid)}
		}
	}
}

// missingType tells noSuchInstance (the object exists, not this instance:
// some variable shares the OID without its last arc) from noSuchObject.
func missingType(dev *device.Device, f *device.Faults, oid snmprec.OID) gosnmp.Asn1BER {
	if len(oid) > 1 {
		parent := oid[:len(oid)-1]
		if i, ok := dev.Next(f, parent, nil); ok && dev.Var(i).OID.HasPrefix(parent) {
			return gosnmp.NoSuchInstance
		}
	}
	return gosnmp.NoSuchObject
}

func (a *Agent) getNext(resp, req *gosnmp.SnmpPacket, dev *device.Device, f *device.Faults, v1 bool) {
	var skip func(*device.Var) bool
	if v1 {
		skip = skipV1
	}
	resp.Variables = slices.Grow(resp.Variables[:0], len(req.Variables))[:len(req.Variables)]
	var buf [oidBuf]uint32
	for k, rv := range req.Variables {
		i, ok := dev.Next(f, appendRequestOID(buf[:0], rv.Name), skip)
		switch {
		case ok:
			resp.Variables[k] = pduOf(dev, f, i)
		case v1:
			setError(resp, req, gosnmp.NoSuchName, k)
			return
		default:
			resp.Variables[k] = gosnmp.SnmpPDU{Name: rv.Name, Type: gosnmp.EndOfMibView}
		}
	}
}

// getBulk follows RFC 3416 4.2.3: non-repeaters get one GETNEXT each, then
// up to max-repetitions rounds over the repeaters, stopping when the message
// would exceed budget or every repeater has reached endOfMibView.
func (a *Agent) getBulk(resp, req *gosnmp.SnmpPacket, dev *device.Device, f *device.Faults, budget int) {
	n := min(int(req.NonRepeaters), len(req.Variables))
	reps := req.Variables[n:]
	maxRep := min(int(req.MaxRepetitions), maxRepetitionsCap)
	if len(reps) == 0 {
		maxRep = 0
	}
	est := n + len(reps)*min(maxRep, 64)
	resp.Variables = slices.Grow(resp.Variables[:0], est)
	size := 0
	add := func(p gosnmp.SnmpPDU) bool {
		s := varbindSize(p)
		if size+s > budget {
			return false
		}
		size += s
		resp.Variables = append(resp.Variables, p)
		return true
	}
	for k := range n {
		rv := req.Variables[k]
		p := gosnmp.SnmpPDU{Name: rv.Name, Type: gosnmp.EndOfMibView}
		if i, ok := dev.Next(f, parseRequestOID(rv.Name), nil); ok {
			p = pduOf(dev, f, i)
		}
		if !add(p) {
			// Not even the non-repeaters fit: tooBig (RFC 3416 4.2.3).
			setError(resp, req, gosnmp.TooBig, -1)
			return
		}
	}
	// last holds each repeater's position: its OID text and index (-1 before
	// the first step; done once it reached endOfMibView).
	type pos struct {
		name string
		i    int
		done bool
	}
	last := make([]pos, len(reps))
	for k, rv := range reps {
		last[k] = pos{name: rv.Name, i: -1}
	}
	for range maxRep {
		allEnd := true
		for k := range reps {
			p := gosnmp.SnmpPDU{Name: last[k].name, Type: gosnmp.EndOfMibView}
			if !last[k].done {
				var from snmprec.OID
				if last[k].i >= 0 {
					from = dev.Var(last[k].i).OID
				} else {
					from = parseRequestOID(last[k].name)
				}
				if i, ok := dev.Next(f, from, nil); ok {
					p = pduOf(dev, f, i)
					last[k] = pos{name: p.Name, i: i}
					allEnd = false
				} else {
					last[k].done = true
				}
			}
			if !add(p) {
				return
			}
		}
		if allEnd {
			return
		}
	}
}

func pduOf(dev *device.Device, f *device.Faults, i int) gosnmp.SnmpPDU {
	v := dev.Var(i)
	return gosnmp.SnmpPDU{Name: v.Name, Type: v.Type, Value: dev.Value(f, i)}
}

// oidBuf is the arc count of a request OID that is parsed on the stack.
const oidBuf = 32

// parseRequestOID parses a dotted OID from a decoded request. gosnmp always
// produces numeric text; anything else yields the empty OID, which sorts
// before every variable.
func parseRequestOID(s string) snmprec.OID { return appendRequestOID(make(snmprec.OID, 0, 16), s) }

// appendRequestOID is parseRequestOID appending to dst.
func appendRequestOID(dst snmprec.OID, s string) snmprec.OID {
	if len(s) > 0 && s[0] == '.' {
		s = s[1:]
	}
	oid := dst
	var v uint64
	digits := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 {
				return nil
			}
			oid = append(oid, uint32(v))
			v, digits = 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' {
			return nil
		}
		v = v*10 + uint64(c-'0')
		if v > 0xffffffff {
			return nil
		}
		digits++
	}
	return oid
}

// The size functions compute the BER size gosnmp's marshaller gives a
// variable binding, rounded up where its choice of minimal encoding varies,
// so a response built within a budget always fits.

func lenSize(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 256:
		return 2
	case n < 65536:
		return 3
	}
	return 4
}

func tlvSize(n int) int { return 1 + lenSize(n) + n }

func oidSize(name string) int {
	var buf [oidBuf]uint32
	oid := appendRequestOID(buf[:0], name)
	if len(oid) < 2 {
		return 1
	}
	n := base128Size(uint64(oid[0])*40 + uint64(oid[1]))
	for _, v := range oid[2:] {
		n += base128Size(uint64(v))
	}
	return n
}

func base128Size(v uint64) int {
	n := 1
	for v >= 128 {
		v >>= 7
		n++
	}
	return n
}

func valueSize(p gosnmp.SnmpPDU) int {
	switch x := p.Value.(type) {
	case []byte:
		return len(x)
	case string:
		if p.Type == gosnmp.ObjectIdentifier {
			return oidSize(x)
		}
		return len(x)
	}
	switch p.Type {
	case gosnmp.Integer:
		return 4
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Uinteger32:
		return 5
	case gosnmp.Counter64:
		return 9
	case gosnmp.IPAddress:
		return 4
	}
	return 0
}

func varbindSize(p gosnmp.SnmpPDU) int {
	return tlvSize(tlvSize(oidSize(p.Name)) + tlvSize(valueSize(p)))
}

func varbindsSize(vs []gosnmp.SnmpPDU) int {
	n := 0
	for _, p := range vs {
		n += varbindSize(p)
	}
	return n
}

// envelopeSize bounds the bytes of a v1/v2c response around its varbinds.
func envelopeSize(community string) int {
	// SEQUENCE, version, community, PDU header, request-id, error-status,
	// error-index, varbind list header: each with up to 4 length octets.
	return 4 + 3 + 2 + len(community) + 4 + 6 + 6 + 6 + 4
}
