package agent

import (
	"errors"
	"fmt"
)

// This file reads just enough BER to route a message before gosnmp decodes
// it: the version, the community, and the SNMPv3 header with its USM
// parameters (whose byte offsets the digest check needs). It never panics on
// hostile input; every length is checked against the bytes there are.

var errTruncated = errors.New("truncated BER")

// tlv reads one tag-length-value at b[off:], returning the tag, the value's
// start and end offsets in b.
func tlv(b []byte, off int) (tag byte, start, end int, err error) {
	if off < 0 || off+2 > len(b) {
		return 0, 0, 0, errTruncated
	}
	tag = b[off]
	l := int(b[off+1])
	start = off + 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 {
			return 0, 0, 0, fmt.Errorf("unsupported BER length form 0x%02x", l)
		}
		if start+n > len(b) {
			return 0, 0, 0, errTruncated
		}
		l = 0
		for _, c := range b[start : start+n] {
			l = l<<8 | int(c)
		}
		start += n
	}
	end = start + l
	if end > len(b) {
		return 0, 0, 0, errTruncated
	}
	return tag, start, end, nil
}

// berInt reads an INTEGER TLV at off; values beyond 32 bits are rejected.
func berInt(b []byte, off int) (v int64, next int, err error) {
	tag, s, e, err := tlv(b, off)
	if err != nil {
		return 0, 0, err
	}
	if tag != 0x02 || e == s || e-s > 5 {
		return 0, 0, fmt.Errorf("want INTEGER at offset %d", off)
	}
	if b[s]&0x80 != 0 {
		v = -1
	}
	for _, c := range b[s:e] {
		v = v<<8 | int64(c)
	}
	return v, e, nil
}

// berOctets reads an OCTET STRING TLV at off.
func berOctets(b []byte, off int) (start, end int, err error) {
	tag, s, e, err := tlv(b, off)
	if err != nil {
		return 0, 0, err
	}
	if tag != 0x04 {
		return 0, 0, fmt.Errorf("want OCTET STRING at offset %d", off)
	}
	return s, e, nil
}

// envelope is what routing needs from a message.
type envelope struct {
	version   int64
	community []byte
	v3        *v3Header
}

// v3Header is the SNMPv3 message header and USM security parameters.
type v3Header struct {
	msgID      int64
	maxSize    int64
	flags      byte
	secModel   int64
	engineID   []byte
	boots      int64
	time       int64
	user       []byte
	authStart  int // offset of msgAuthenticationParameters' value in the message
	authEnd    int
	privParams []byte
	// scoped is the offset of the (possibly encrypted) scoped PDU.
	scoped int
}

// parseEnvelope reads the routing fields of an SNMP message.
func parseEnvelope(b []byte) (envelope, error) {
	var env envelope
	tag, s, e, err := tlv(b, 0)
	if err != nil {
		return env, err
	}
	if tag != 0x30 || e != len(b) {
		return env, errors.New("message is not one SEQUENCE")
	}
	env.version, s, err = berInt(b, s)
	if err != nil {
		return env, err
	}
	switch env.version {
	case 0, 1:
		cs, ce, err := berOctets(b, s)
		if err != nil {
			return env, fmt.Errorf("community: %w", err)
		}
		env.community = b[cs:ce]
		return env, nil
	case 3:
		h, err := parseV3Header(b, s)
		if err != nil {
			return env, err
		}
		env.v3 = h
		return env, nil
	}
	return env, fmt.Errorf("unsupported SNMP version %d", env.version)
}

func parseV3Header(b []byte, off int) (*v3Header, error) {
	h := &v3Header{}
	tag, s, e, err := tlv(b, off)
	if err != nil {
		return nil, err
	}
	if tag != 0x30 {
		return nil, errors.New("v3 msgGlobalData is not a SEQUENCE")
	}
	if h.msgID, s, err = berInt(b, s); err != nil {
		return nil, fmt.Errorf("msgID: %w", err)
	}
	if h.maxSize, s, err = berInt(b, s); err != nil {
		return nil, fmt.Errorf("msgMaxSize: %w", err)
	}
	fs, fe, err := berOctets(b, s)
	if err != nil || fe-fs != 1 {
		return nil, errors.New("msgFlags: want one octet")
	}
	h.flags = b[fs]
	if h.secModel, s, err = berInt(b, fe); err != nil {
		return nil, fmt.Errorf("msgSecurityModel: %w", err)
	}
	if s != e {
		return nil, errors.New("v3 msgGlobalData has extra fields")
	}
	if h.msgID < 0 || h.maxSize < 484 {
		return nil, fmt.Errorf("v3 header out of range (msgID %d, msgMaxSize %d)", h.msgID, h.maxSize)
	}
	// msgSecurityParameters: an OCTET STRING wrapping the USM SEQUENCE.
	ps, pe, err := berOctets(b, e)
	if err != nil {
		return nil, fmt.Errorf("msgSecurityParameters: %w", err)
	}
	h.scoped = pe
	tag, s, ue, err := tlv(b, ps)
	if err != nil || tag != 0x30 || ue != pe {
		return nil, errors.New("USM parameters are not one SEQUENCE")
	}
	var vs, ve int
	if vs, ve, err = berOctets(b, s); err != nil {
		return nil, fmt.Errorf("msgAuthoritativeEngineID: %w", err)
	}
	h.engineID = b[vs:ve]
	if h.boots, s, err = berInt(b, ve); err != nil {
		return nil, fmt.Errorf("msgAuthoritativeEngineBoots: %w", err)
	}
	if h.time, s, err = berInt(b, s); err != nil {
		return nil, fmt.Errorf("msgAuthoritativeEngineTime: %w", err)
	}
	if vs, ve, err = berOctets(b, s); err != nil {
		return nil, fmt.Errorf("msgUserName: %w", err)
	}
	h.user = b[vs:ve]
	if h.authStart, h.authEnd, err = berOctets(b, ve); err != nil {
		return nil, fmt.Errorf("msgAuthenticationParameters: %w", err)
	}
	if vs, ve, err = berOctets(b, h.authEnd); err != nil {
		return nil, fmt.Errorf("msgPrivacyParameters: %w", err)
	}
	h.privParams = b[vs:ve]
	if ve != ue {
		return nil, errors.New("USM parameters have extra fields")
	}
	if h.scoped >= len(b) {
		return nil, errors.New("v3 message has no scoped PDU")
	}
	return h, nil
}
