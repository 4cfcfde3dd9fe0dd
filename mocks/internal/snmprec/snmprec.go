// Package snmprec reads recorded SNMP agent data: snmpsim's .snmprec format
// (OID|TAG|VALUE, with the optional TAG:variation suffix) and net-snmp
// `snmpwalk -ObentU` output. Every error names the file and line, because the
// simulator refuses to start on a malformed file rather than serve half of it.
package snmprec

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Tag is an SNMP value type, numbered as in snmpsim (the ASN.1 BER tag).
type Tag byte

// The tags snmpsim writes. Their numbers are the BER tags on the wire.
const (
	Integer     Tag = 2
	OctetString Tag = 4
	Null        Tag = 5
	ObjectID    Tag = 6
	IPAddress   Tag = 64
	Counter32   Tag = 65
	Gauge32     Tag = 66
	TimeTicks   Tag = 67
	Opaque      Tag = 68
	Counter64   Tag = 70
)

func (t Tag) String() string {
	switch t {
	case Integer:
		return "INTEGER"
	case OctetString:
		return "OCTET STRING"
	case Null:
		return "NULL"
	case ObjectID:
		return "OBJECT IDENTIFIER"
	case IPAddress:
		return "IpAddress"
	case Counter32:
		return "Counter32"
	case Gauge32:
		return "Gauge32"
	case TimeTicks:
		return "TimeTicks"
	case Opaque:
		return "Opaque"
	case Counter64:
		return "Counter64"
	}
	return "tag(" + strconv.Itoa(int(t)) + ")"
}

// Numeric reports whether values of t are numbers that live variation can move.
func (t Tag) Numeric() bool {
	switch t {
	case Integer, Counter32, Gauge32, TimeTicks, Counter64:
		return true
	}
	return false
}

// OID is a parsed object identifier.
type OID []uint32

// ParseOID parses a dotted OID; a leading dot is allowed.
func ParseOID(s string) (OID, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, errors.New("empty OID")
	}
	n := strings.Count(s, ".") + 1
	if n > 128 {
		return nil, fmt.Errorf("OID %q has %d sub-identifiers, more than 128", s, n)
	}
	oid := make(OID, 0, n)
	for part := range strings.SplitSeq(s, ".") {
		v, err := strconv.ParseUint(part, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("OID %q: bad sub-identifier %q", s, part)
		}
		oid = append(oid, uint32(v))
	}
	if len(oid) < 2 || oid[0] > 2 || (oid[0] < 2 && oid[1] >= 40) {
		return nil, fmt.Errorf("OID %q is not encodable (needs two arcs, first 0-2, second < 40 unless first is 2)", s)
	}
	return oid, nil
}

// String returns the OID with a leading dot, as gosnmp writes them.
func (o OID) String() string {
	var b strings.Builder
	b.Grow(len(o) * 4)
	for _, v := range o {
		b.WriteByte('.')
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// Compare orders OIDs lexicographically, as GETNEXT walks them.
//
// By hand rather than slices.Compare, whose generic call makes both
// arguments escape: the agent parses request OIDs into stack buffers.
func Compare(a, b OID) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

// HasPrefix reports whether o lies in the subtree p.
func (o OID) HasPrefix(p OID) bool {
	return len(o) >= len(p) && slices.Equal(o[:len(p)], p)
}

// Record is one recorded variable.
type Record struct {
	OID OID
	Tag Tag
	// Value holds the decoded value: int64 for INTEGER, uint64 for the
	// unsigned tags, []byte for OCTET STRING and Opaque, OID for OBJECT
	// IDENTIFIER, netip.Addr for IpAddress, nil for NULL.
	Value any
	// Variation is the module after "TAG:" (only "numeric" is known); its
	// parameters are then in Params and Value is their "initial" value.
	Variation string
	Params    string
	// Line is the 1-based line in the source file.
	Line int
}

// ErrSyntax marks a malformed data file.
var ErrSyntax = errors.New("malformed data file")

// LineError names the place of a malformed record.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Unwrap lets callers test errors.Is(err, ErrSyntax).
func (e *LineError) Unwrap() error { return ErrSyntax }

// ReadFile reads a data file, choosing the format by extension:
// .snmprec for snmpsim, .snmpwalk for `snmpwalk -ObentU` output.
// The records come back sorted by OID; duplicate OIDs are an error.
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open data file: %w", err)
	}
	defer f.Close()
	switch filepath.Ext(path) {
	case ".snmprec":
		return Parse(f, path)
	case ".snmpwalk":
		return ParseWalk(f, path)
	}
	return nil, fmt.Errorf("%s: unknown data file extension (want .snmprec or .snmpwalk)", path)
}

// Parse reads snmpsim .snmprec records from r; name is used in errors.
func Parse(r io.Reader, name string) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var recs []Record
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		rec, err := parseLine(text)
		if err != nil {
			return nil, &LineError{File: name, Line: line, Msg: err.Error()}
		}
		rec.Line = line
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", name, line+1, err)
	}
	return finish(recs, name)
}

// finish sorts the records and rejects duplicates.
func finish(recs []Record, name string) ([]Record, error) {
	slices.SortStableFunc(recs, func(a, b Record) int { return Compare(a.OID, b.OID) })
	for i := 1; i < len(recs); i++ {
		if Compare(recs[i-1].OID, recs[i].OID) == 0 {
			return nil, &LineError{File: name, Line: recs[i].Line,
				Msg: fmt.Sprintf("duplicate OID %s (first at line %d)", recs[i].OID, recs[i-1].Line)}
		}
	}
	if len(recs) == 0 {
		return nil, &LineError{File: name, Line: 1, Msg: "no records"}
	}
	return recs, nil
}

func parseLine(text string) (Record, error) {
	oidText, rest, ok := strings.Cut(text, "|")
	if !ok {
		return Record{}, errors.New(`want OID|TAG|VALUE, found no "|"`)
	}
	tagText, value, ok := strings.Cut(rest, "|")
	if !ok {
		return Record{}, errors.New(`want OID|TAG|VALUE, found one "|"`)
	}
	oid, err := ParseOID(strings.TrimSpace(oidText))
	if err != nil {
		return Record{}, err
	}
	tagText, variation, _ := strings.Cut(tagText, ":")
	hexValue := strings.HasSuffix(tagText, "x")
	tagNum, err := strconv.ParseUint(strings.TrimSuffix(tagText, "x"), 10, 8)
	if err != nil {
		return Record{}, fmt.Errorf("bad tag %q (want a number such as 2, 4, 4x, 64, 70)", tagText)
	}
	rec := Record{OID: oid, Tag: Tag(tagNum)}
	if variation != "" {
		if variation != "numeric" {
			return Record{}, fmt.Errorf("unsupported variation module %q (supported: numeric)", variation)
		}
		if !rec.Tag.Numeric() {
			return Record{}, fmt.Errorf("variation numeric needs a numeric tag (2, 65, 66, 67, 70), got %d", tagNum)
		}
		rec.Variation, rec.Params = variation, value
		p, err := ParseNumeric(value)
		if err != nil {
			return Record{}, err
		}
		value = strconv.FormatFloat(math.Round(p.Initial), 'f', -1, 64)
		if p.Initial < 0 && rec.Tag != Integer {
			return Record{}, fmt.Errorf("initial=%v is negative for unsigned tag %d", p.Initial, tagNum)
		}
	}
	rec.Value, err = decodeValue(rec.Tag, value, hexValue)
	if err != nil {
		return Record{}, err
	}
	return rec, nil
}

func decodeValue(tag Tag, value string, hexValue bool) (any, error) {
	if hexValue {
		switch tag {
		case OctetString, Opaque, IPAddress:
		default:
			return nil, fmt.Errorf("hex value (tag %dx) is only allowed for tags 4, 64 and 68", tag)
		}
		b, err := hex.DecodeString(value)
		if err != nil {
			return nil, fmt.Errorf("bad hex value %q: %w", value, err)
		}
		if tag == IPAddress {
			if len(b) != 4 {
				return nil, fmt.Errorf("IpAddress needs 4 bytes, got %d", len(b))
			}
			return netip.AddrFrom4([4]byte(b)), nil
		}
		return b, nil
	}
	switch tag {
	case Integer:
		v, err := strconv.ParseInt(value, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad INTEGER %q (want a 32-bit signed number)", value)
		}
		return v, nil
	case Counter32, Gauge32, TimeTicks:
		v, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad %s %q (want a 32-bit unsigned number)", tag, value)
		}
		return v, nil
	case Counter64:
		v, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad Counter64 %q (want a 64-bit unsigned number)", value)
		}
		return v, nil
	case OctetString, Opaque:
		return []byte(value), nil
	case Null:
		return nil, nil
	case ObjectID:
		oid, err := ParseOID(value)
		if err != nil {
			return nil, fmt.Errorf("bad OBJECT IDENTIFIER value: %w", err)
		}
		return oid, nil
	case IPAddress:
		a, err := netip.ParseAddr(value)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("bad IpAddress %q (want a dotted IPv4 address)", value)
		}
		return a, nil
	}
	return nil, fmt.Errorf("unknown tag %d (known: 2, 4, 5, 6, 64, 65, 66, 67, 68, 70)", tag)
}

// Format writes records in .snmprec form; non-printable octet strings are
// written as hex (4x), as snmpsim's recorder does.
func Format(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	for _, r := range recs {
		tag := strconv.Itoa(int(r.Tag))
		var value string
		switch v := r.Value.(type) {
		case []byte:
			if printable(v) {
				value = string(v)
			} else {
				tag += "x"
				value = hex.EncodeToString(v)
			}
		case OID:
			value = strings.TrimPrefix(v.String(), ".")
		case netip.Addr:
			value = v.String()
		case int64:
			value = strconv.FormatInt(v, 10)
		case uint64:
			value = strconv.FormatUint(v, 10)
		case nil:
		default:
			return fmt.Errorf("record %s: unexpected value type %T", r.OID, r.Value)
		}
		if r.Variation != "" {
			tag += ":" + r.Variation
			value = r.Params
		}
		fmt.Fprintf(bw, "%s|%s|%s\n", strings.TrimPrefix(r.OID.String(), "."), tag, value)
	}
	return bw.Flush()
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '|' {
			return false
		}
	}
	return !bytes.ContainsRune(b, '\n')
}
