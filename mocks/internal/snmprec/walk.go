package snmprec

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// varbindStart matches the start of one varbind in numeric snmpwalk output.
var varbindStart = regexp.MustCompile(`^\.?[0-9]+(\.[0-9]+)+ = `)

// ParseWalk reads net-snmp `snmpwalk -ObentU` output (numeric OIDs, numeric
// enums and timeticks, no units). Values that span lines (long strings,
// wrapped Hex-STRING) are joined. Exceptions such as "No Such Object" and the
// end-of-MIB line are skipped: they are not variables.
func ParseWalk(r io.Reader, name string) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var recs []Record
	var cur strings.Builder
	curLine, line := 0, 0
	flush := func() error {
		if curLine == 0 {
			return nil
		}
		rec, skip, err := parseWalkVarbind(cur.String())
		if err != nil {
			return &LineError{File: name, Line: curLine, Msg: err.Error()}
		}
		if !skip {
			rec.Line = curLine
			recs = append(recs, rec)
		}
		cur.Reset()
		curLine = 0
		return nil
	}
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "End of MIB" && !openQuote(cur.String()) {
			// snmpwalk's v1 end marker, not a value.
			continue
		}
		if varbindStart.MatchString(text) && !openQuote(cur.String()) {
			if err := flush(); err != nil {
				return nil, err
			}
			cur.WriteString(text)
			curLine = line
			continue
		}
		if curLine == 0 {
			if strings.TrimSpace(text) == "" {
				continue
			}
			return nil, &LineError{File: name, Line: line, Msg: `want "OID = TYPE: VALUE" (numeric OIDs, as snmpwalk -ObentU prints)`}
		}
		cur.WriteByte('\n')
		cur.WriteString(text)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", name, line+1, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return finish(recs, name)
}

// openQuote reports whether a varbind text ends inside a quoted STRING.
func openQuote(s string) bool {
	_, v, ok := strings.Cut(s, " = ")
	if !ok {
		return false
	}
	v = strings.TrimPrefix(v, "STRING: ")
	if !strings.HasPrefix(v, `"`) {
		return false
	}
	escaped, inside := false, false
	for _, c := range v {
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			inside = !inside
		}
	}
	return inside
}

func parseWalkVarbind(s string) (Record, bool, error) {
	oidText, v, _ := strings.Cut(s, " = ")
	oid, err := ParseOID(oidText)
	if err != nil {
		return Record{}, false, err
	}
	rec := Record{OID: oid}
	if strings.HasPrefix(v, "No Such") || strings.HasPrefix(v, "No more variables") {
		return rec, true, nil
	}
	if v == `""` {
		rec.Tag, rec.Value = OctetString, []byte{}
		return rec, false, nil
	}
	if v == "NULL" {
		rec.Tag = Null
		return rec, false, nil
	}
	if isDigits(v) {
		// snmpwalk -Ot prints TimeTicks as a bare number.
		rec.Tag = TimeTicks
		rec.Value, err = decodeValue(TimeTicks, v, false)
		return rec, false, err
	}
	typ, val, ok := strings.Cut(v, ": ")
	if !ok {
		typ, val = strings.TrimSuffix(v, ":"), ""
	}
	switch typ {
	case "STRING":
		b, err := unquote(val)
		if err != nil {
			return rec, false, err
		}
		rec.Tag, rec.Value = OctetString, b
	case "Hex-STRING", "BITS", "Opaque":
		rec.Tag = OctetString
		if typ == "Opaque" {
			rec.Tag = Opaque
		}
		b, err := hexBytes(val)
		if err != nil {
			return rec, false, fmt.Errorf("%s: %w", typ, err)
		}
		rec.Value = b
	case "INTEGER":
		rec.Tag = Integer
		n, err := firstNumber(val)
		if err != nil {
			return rec, false, err
		}
		rec.Value, err = decodeValue(Integer, n, false)
		if err != nil {
			return rec, false, err
		}
	case "Counter32", "Gauge32", "UInteger32", "Timeticks", "Counter64":
		rec.Tag = map[string]Tag{"Counter32": Counter32, "Gauge32": Gauge32, "UInteger32": Gauge32,
			"Timeticks": TimeTicks, "Counter64": Counter64}[typ]
		n, err := firstNumber(val)
		if err != nil {
			return rec, false, err
		}
		rec.Value, err = decodeValue(rec.Tag, n, false)
		if err != nil {
			return rec, false, err
		}
	case "OID":
		rec.Tag = ObjectID
		rec.Value, err = decodeValue(ObjectID, strings.TrimSpace(val), false)
		if err != nil {
			return rec, false, err
		}
	case "IpAddress":
		rec.Tag = IPAddress
		rec.Value, err = decodeValue(IPAddress, strings.TrimSpace(val), false)
		if err != nil {
			return rec, false, err
		}
	case "Network Address":
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(val), ":", ""))
		if err != nil || len(b) != 4 {
			return rec, false, fmt.Errorf("bad Network Address %q", val)
		}
		rec.Tag, rec.Value = IPAddress, netip.AddrFrom4([4]byte(b))
	default:
		return rec, false, fmt.Errorf("unknown snmpwalk type %q (use snmpwalk -ObentU)", typ)
	}
	return rec, false, nil
}

// firstNumber takes the number from "5", "up(1)" or "(1234) 0:00:12.34".
func firstNumber(val string) (string, error) {
	val = strings.TrimSpace(val)
	if i := strings.IndexByte(val, '('); i >= 0 {
		if j := strings.IndexByte(val[i:], ')'); j > 0 {
			return val[i+1 : i+j], nil
		}
	}
	f := strings.Fields(val)
	if len(f) == 0 {
		return "", errors.New("missing number")
	}
	return f[0], nil
}

// hexBytes reads "00 C0 B7" style hex, ignoring line breaks and any
// trailing names (BITS prints "80 00 name(0)").
func hexBytes(val string) ([]byte, error) {
	var out []byte
	for f := range strings.FieldsSeq(val) {
		if len(f) != 2 {
			if strings.Contains(f, "(") {
				break
			}
			return nil, fmt.Errorf("bad hex byte %q", f)
		}
		b, err := strconv.ParseUint(f, 16, 8)
		if err != nil {
			return nil, fmt.Errorf("bad hex byte %q", f)
		}
		out = append(out, byte(b))
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// unquote undoes net-snmp's quoting: surrounding quotes, \" and \\.
func unquote(val string) ([]byte, error) {
	if !strings.HasPrefix(val, `"`) {
		return []byte(val), nil
	}
	if len(val) < 2 || !strings.HasSuffix(val, `"`) {
		return nil, fmt.Errorf("unterminated STRING %q", val)
	}
	in := val[1 : len(val)-1]
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		if in[i] == '\\' && i+1 < len(in) && (in[i+1] == '"' || in[i+1] == '\\') {
			i++
		}
		out = append(out, in[i])
	}
	return out, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
