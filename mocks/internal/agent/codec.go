package agent

import (
	"strconv"

	"github.com/gosnmp/gosnmp"
)

// This file is the v1/v2c fast path: it decodes the common requests and
// encodes responses in a worker's reused buffers, where gosnmp allocates
// some 70 objects a message (many of them boxing its debug-log arguments,
// which only the gosnmp_nodebug build tag removes). The garbage made the
// collector run some 18 times a second at 10,000 GETs/s. The fast path
// covers what clients send (GET, GETNEXT and GETBULK with NULL values and
// minimal OIDs) and declines anything else, which gosnmp then handles as
// before. Tests hold it to gosnmp: whatever it decodes, gosnmp decodes the
// same (FuzzDecodeRequest), and it encodes byte for byte what MarshalMsg
// does (TestAppendResponseMatchesMarshalMsg).

// decodeRequest decodes a v1/v2c GET, GETNEXT or GETBULK into req, reusing
// req.Variables and naming the OIDs in scratch. community is the device's
// name, which the message's community equals. It returns false when the
// message is anything else, for gosnmp to decode.
func decodeRequest(msg []byte, community string, req *gosnmp.SnmpPacket, scratch []byte, names map[string]string) ([]byte, bool) {
	tag, s, e, err := tlv(msg, 0)
	if err != nil || tag != 0x30 || e != len(msg) {
		return scratch, false
	}
	version, s, err := berInt(msg, s)
	if err != nil || (version != 0 && version != 1) {
		return scratch, false
	}
	cs, ce, err := berOctets(msg, s)
	if err != nil || string(msg[cs:ce]) != community {
		return scratch, false
	}
	pdu, s, e, err := tlv(msg, ce)
	if err != nil || e != len(msg) {
		return scratch, false
	}
	switch gosnmp.PDUType(pdu) {
	case gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.GetBulkRequest:
	default:
		return scratch, false
	}
	var f [3]int64
	for i := range f {
		if f[i], s, err = berInt(msg, s); err != nil || f[i] < 0 || f[i] > 0x7fffffff {
			return scratch, false
		}
	}
	// gosnmp keeps non-repeaters, error-status and error-index in a byte.
	if f[1] > 255 || (pdu != byte(gosnmp.GetBulkRequest) && f[2] > 255) {
		return scratch, false
	}
	tag, s, e, err = tlv(msg, s)
	if err != nil || tag != 0x30 || e != len(msg) || s == e {
		return scratch, false
	}
	*req = gosnmp.SnmpPacket{
		Version:   gosnmp.SnmpVersion(version),
		Community: community,
		PDUType:   gosnmp.PDUType(pdu),
		RequestID: uint32(f[0]),
		Variables: req.Variables[:0],
	}
	if req.PDUType == gosnmp.GetBulkRequest {
		req.NonRepeaters, req.MaxRepetitions = uint8(f[1]), uint32(f[2])
	} else {
		req.Error, req.ErrorIndex = gosnmp.SNMPError(f[1]), uint8(f[2])
	}
	for s < e {
		tag, vs, ve, err := tlv(msg, s)
		if err != nil || tag != 0x30 {
			return scratch, false
		}
		tag, ob, oe, err := tlv(msg, vs)
		if err != nil || tag != 0x06 || oe+2 != ve || msg[oe] != 0x05 || msg[oe+1] != 0 {
			return scratch, false
		}
		var ok bool
		if scratch, ok = appendOIDName(scratch[:0], msg[ob:oe]); !ok {
			return scratch, false
		}
		req.Variables = append(req.Variables, gosnmp.SnmpPDU{Name: internName(names, scratch, req.PDUType == gosnmp.GetRequest), Type: gosnmp.Null})
		s = ve
	}
	return scratch, true
}

// maxInterned bounds a reader's interned OID names.
const maxInterned = 4096

// internName returns name as a string. GET requests name the same OIDs
// poll after poll, so their names are kept in names (when not nil) and
// reused, and a GET allocates nothing; a walk names a new OID each step,
// so its names are not kept.
func internName(names map[string]string, name []byte, keep bool) string {
	if s, ok := names[string(name)]; ok {
		return s
	}
	s := string(name)
	if keep && names != nil {
		if len(names) >= maxInterned {
			clear(names)
		}
		names[s] = s
	}
	return s
}

// appendOIDName appends the dotted name (".1.3.6...") of BER OID content,
// as gosnmp names it; false for an empty, truncated or non-minimal one or an
// arc beyond 32 bits.
func appendOIDName(dst, b []byte) ([]byte, bool) {
	for i := 0; i < len(b); {
		if b[i] == 0x80 {
			return dst, false // non-minimal
		}
		var v uint64
		for {
			if i == len(b) {
				return dst, false
			}
			c := b[i]
			i++
			v = v<<7 | uint64(c&0x7f)
			if v > 0xffffffff {
				return dst, false
			}
			if c&0x80 == 0 {
				break
			}
		}
		dst = append(dst, '.')
		if len(dst) == 1 {
			first := min(v/40, 2)
			dst = strconv.AppendUint(dst, first, 10)
			dst = append(dst, '.')
			v -= first * 40
		}
		dst = strconv.AppendUint(dst, v, 10)
	}
	return dst, len(dst) > 0
}

// appendResponse encodes a v1/v2c response as MarshalMsg does, into dst.
// It returns false for what it does not cover, for MarshalMsg to encode.
func appendResponse(dst []byte, p *gosnmp.SnmpPacket) ([]byte, bool) {
	if p.Version == gosnmp.Version3 || len(p.Community) > 127 || p.PDUType == gosnmp.GetBulkRequest || p.PDUType == gosnmp.Trap {
		return dst, false
	}
	b := append(dst[:0], 0x02, 0x01, byte(p.Version), 0x04, byte(len(p.Community)))
	b = append(b, p.Community...)
	pdu := len(b)
	b = appendInt(b, int64(p.RequestID))
	b = appendInt(b, int64(p.Error))
	b = appendInt(b, int64(p.ErrorIndex))
	vbl := len(b)
	for i := range p.Variables {
		var ok bool
		if b, ok = appendVarbind(b, &p.Variables[i]); !ok {
			return b, false
		}
	}
	b = wrap(b, vbl, 0x30)
	b = wrap(b, pdu, byte(p.PDUType))
	return wrap(b, 0, 0x30), true
}

func appendVarbind(b []byte, p *gosnmp.SnmpPDU) ([]byte, bool) {
	start := len(b)
	b, ok := appendOIDTLV(b, p.Name)
	if !ok {
		return b, false
	}
	switch p.Type {
	case gosnmp.Null, gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		b = append(b, byte(p.Type), 0)
	case gosnmp.Integer:
		v, ok := p.Value.(int)
		if !ok || v != int(int32(v)) {
			return b, false
		}
		b = appendIntTag(b, byte(p.Type), int64(v))
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Uinteger32:
		switch v := p.Value.(type) {
		case uint32:
			b = appendIntTag(b, byte(p.Type), int64(v))
		case uint:
			b = appendIntTag(b, byte(p.Type), int64(uint32(v)))
		default:
			return b, false
		}
	case gosnmp.Counter64:
		v, ok := p.Value.(uint64)
		if !ok {
			return b, false
		}
		b = appendUint64Tag(b, byte(p.Type), v)
	case gosnmp.OctetString, gosnmp.BitString, gosnmp.Opaque, gosnmp.IPAddress:
		switch v := p.Value.(type) {
		case []byte:
			b = appendTLV(b, byte(p.Type), v)
		case string:
			if p.Type == gosnmp.IPAddress {
				return b, false // gosnmp parses the text
			}
			b = appendLength(append(b, byte(p.Type)), len(v))
			b = append(b, v...)
		default:
			return b, false
		}
	case gosnmp.ObjectIdentifier:
		v, ok := p.Value.(string)
		if !ok {
			return b, false
		}
		if b, ok = appendOIDTLV(b, v); !ok {
			return b, false
		}
	default:
		return b, false
	}
	return wrap(b, start, 0x30), true
}

// appendOIDTLV appends a dotted OID as a BER OBJECT IDENTIFIER, with the
// checks gosnmp's marshalObjectIdentifier makes.
func appendOIDTLV(b []byte, name string) ([]byte, bool) {
	start := len(b)
	var first uint64
	arcs := 0
	for j := 0; j < len(name); {
		if name[j] == '.' {
			j++
			continue
		}
		var v uint64
		for ; j < len(name) && name[j] != '.'; j++ {
			c := name[j] - '0'
			if c > 9 {
				return b, false
			}
			if v = v*10 + uint64(c); v > 0xffffffff {
				return b, false
			}
		}
		switch arcs {
		case 0:
			if v > 2 {
				return b, false
			}
			first = v
		case 1:
			if (first < 2 && v >= 40) || v > 0xffffffff-80 {
				return b, false
			}
			b = appendBase128(b, first*40+v)
		default:
			b = appendBase128(b, v)
		}
		arcs++
	}
	if arcs < 2 || arcs > 128 {
		return b, false
	}
	return wrap(b, start, 0x06), true
}

func appendBase128(b []byte, v uint64) []byte {
	n := base128Size(v)
	for i := n - 1; i >= 0; i-- {
		c := byte(v>>(7*i)) & 0x7f
		if i > 0 {
			c |= 0x80
		}
		b = append(b, c)
	}
	return b
}

// appendInt appends an INTEGER in the fewest octets (X.690 8.3.2).
func appendInt(b []byte, v int64) []byte { return appendIntTag(b, 0x02, v) }

func appendIntTag(b []byte, tag byte, v int64) []byte {
	n := 1
	for n < 8 && (v>>(8*n-1) != 0 && v>>(8*n-1) != -1) {
		n++
	}
	b = append(b, tag, byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func appendUint64Tag(b []byte, tag byte, v uint64) []byte {
	n := 1
	for n < 8 && v>>(8*n) != 0 {
		n++
	}
	pad := v>>(8*n-1)&1 == 1 // high bit set: a leading zero keeps it positive
	if pad {
		b = append(b, tag, byte(n+1), 0)
	} else {
		b = append(b, tag, byte(n))
	}
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func appendTLV(b []byte, tag byte, v []byte) []byte {
	return append(appendLength(append(b, tag), len(v)), v...)
}

// appendLength appends a BER length in the fewest octets.
func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	}
	return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
}

// wrap turns b[start:] into the content of a tag-length-value, shifting it
// to make room for the header.
func wrap(b []byte, start int, tag byte) []byte {
	n := len(b) - start
	var hdr [5]byte
	h := appendLength(append(hdr[:0], tag), n)
	b = append(b, h...)
	copy(b[start+len(h):], b[start:start+n])
	copy(b[start:], h)
	return b
}
