package snmprec

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseTags(t *testing.T) {
	in := strings.Join([]string{
		"1.3.6.1.2.1.1.3.0|67|3046378168",
		"1.3.6.1.2.1.1.1.0|4|Raritan PDU, MD:PX3 | pipes stay",
		"1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.13742.6",
		"1.3.6.1.2.1.2.2.1.6.2|4x|00C0B7e18278",
		"1.3.6.1.2.1.2.2.1.1.1|2|-5",
		"1.3.6.1.2.1.4.20.1.3.127.0.0.1|64|255.0.0.0",
		"1.3.6.1.2.1.4.20.1.3.127.0.0.2|64x|ff000000",
		"1.3.6.1.2.1.2.2.1.10.1|65|4294967295",
		"1.3.6.1.2.1.2.2.1.5.1|66|100000000",
		"1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615",
		"1.3.6.1.2.1.99.1.0|68x|9f780442f60000",
		"1.3.6.1.2.1.99.2.0|5|",
		"1.3.6.1.2.1.99.3.0|4|",
		"# comment lines and blank lines are skipped",
		"",
		"1.3.6.1.4.1.318.1.1.26.4.3.1.5.1|2:numeric|initial=117,deviation=15,min=0,max=1600",
	}, "\n")
	recs, err := Parse(strings.NewReader(in), "t.snmprec")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		".1.3.6.1.2.1.1.3.0":                uint64(3046378168),
		".1.3.6.1.2.1.1.1.0":                []byte("Raritan PDU, MD:PX3 | pipes stay"),
		".1.3.6.1.2.1.1.2.0":                OID{1, 3, 6, 1, 4, 1, 13742, 6},
		".1.3.6.1.2.1.2.2.1.6.2":            []byte{0x00, 0xc0, 0xb7, 0xe1, 0x82, 0x78},
		".1.3.6.1.2.1.2.2.1.1.1":            int64(-5),
		".1.3.6.1.2.1.4.20.1.3.127.0.0.1":   netip.MustParseAddr("255.0.0.0"),
		".1.3.6.1.2.1.4.20.1.3.127.0.0.2":   netip.MustParseAddr("255.0.0.0"),
		".1.3.6.1.2.1.2.2.1.10.1":           uint64(4294967295),
		".1.3.6.1.2.1.2.2.1.5.1":            uint64(100000000),
		".1.3.6.1.2.1.31.1.1.1.6.1":         uint64(18446744073709551615),
		".1.3.6.1.2.1.99.1.0":               []byte{0x9f, 0x78, 0x04, 0x42, 0xf6, 0, 0},
		".1.3.6.1.2.1.99.2.0":               nil,
		".1.3.6.1.2.1.99.3.0":               []byte{},
		".1.3.6.1.4.1.318.1.1.26.4.3.1.5.1": int64(117),
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if i > 0 && Compare(recs[i-1].OID, r.OID) >= 0 {
			t.Errorf("records not sorted at %s", r.OID)
		}
		w, ok := want[r.OID.String()]
		if !ok {
			t.Errorf("unexpected record %s", r.OID)
			continue
		}
		if !reflect.DeepEqual(r.Value, w) {
			t.Errorf("%s: value %#v, want %#v", r.OID, r.Value, w)
		}
	}
	last := recs[len(recs)-1]
	if last.Variation != "numeric" || last.Params != "initial=117,deviation=15,min=0,max=1600" || last.Line != 16 {
		t.Errorf("variation record = %+v", last)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no pipe", "1.3.6.1.2.1.1.1.0 4 x", `t.snmprec:1: want OID|TAG|VALUE, found no "|"`},
		{"one pipe", "1.3.6.1.2.1.1.1.0|4", `t.snmprec:1: want OID|TAG|VALUE, found one "|"`},
		{"bad oid", "1.3.x.1|4|a", `t.snmprec:1: OID "1.3.x.1": bad sub-identifier "x"`},
		{"bad tag", "1.3.6.1|four|a", `t.snmprec:1: bad tag "four"`},
		{"unknown tag", "1.3.6.1|3|a", `t.snmprec:1: unknown tag 3`},
		{"bad int", "1.3.6.1.1|2|1\n1.3.6.1.2|2|3000000000", `t.snmprec:2: bad INTEGER "3000000000"`},
		{"bad hex", "1.3.6.1|4x|0g", `t.snmprec:1: bad hex value "0g"`},
		{"hex counter", "1.3.6.1|65x|00", `t.snmprec:1: hex value (tag 65x) is only allowed`},
		{"bad ip", "1.3.6.1|64|1.2.3", `t.snmprec:1: bad IpAddress "1.2.3"`},
		{"negative counter", "1.3.6.1|65|-1", `t.snmprec:1: bad Counter32 "-1"`},
		{"duplicate", "1.3.6.1.1|2|1\n1.3.6.1.1|2|2", `t.snmprec:2: duplicate OID .1.3.6.1.1 (first at line 1)`},
		{"variation module", "1.3.6.1|2:writecache|x", `t.snmprec:1: unsupported variation module "writecache"`},
		{"variation string", "1.3.6.1|4:numeric|initial=1", `t.snmprec:1: variation numeric needs a numeric tag`},
		{"numeric key", "1.3.6.1|2:numeric|initial=1,speed=2", `t.snmprec:1: unknown numeric parameter "speed"`},
		{"numeric bounds", "1.3.6.1|2:numeric|initial=10,min=20", `t.snmprec:1: numeric: initial=10 is outside [min, max]`},
		{"numeric counter wander", "1.3.6.1|65:numeric|rate=1,deviation=2", `t.snmprec:1: numeric: deviation is for gauges`},
		{"empty", "\n# only a comment\n", `t.snmprec:1: no records`},
		{"oid first arc", "3.1|2|1", `t.snmprec:1: OID "3.1" is not encodable`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), "t.snmprec")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want prefix %q", err, tt.want)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v is not ErrSyntax", err)
			}
		})
	}
}

func TestParseWalk(t *testing.T) {
	in := `.1.3.6.1.2.1.1.1.0 = STRING: "Linux box \"quoted\"
second line"
.1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.8072.3.2.10
.1.3.6.1.2.1.1.3.0 = 12345
.1.3.6.1.2.1.1.4.0 = ""
.1.3.6.1.2.1.2.2.1.3.1 = INTEGER: 24
.1.3.6.1.2.1.2.2.1.6.2 = Hex-STRING: 00 C0 B7 E1 82 78 00 01 02 03 04 05 06 07 08 09
0A 0B 
.1.3.6.1.2.1.2.2.1.10.1 = Counter32: 123
.1.3.6.1.2.1.2.2.1.5.1 = Gauge32: 10000000
.1.3.6.1.2.1.31.1.1.1.6.1 = Counter64: 18446744073709551615
.1.3.6.1.2.1.4.20.1.1.10.0.0.1 = IpAddress: 10.0.0.1
.1.3.6.1.2.1.1.9.0 = Timeticks: (42) 0:00:00.42
.1.3.6.1.2.1.2.2.1.7.1 = INTEGER: up(1)
.1.3.6.1.2.1.99.0 = No Such Object available on this agent at this OID
.1.3.6.1.2.1.99.1 = No more variables left in this MIB View (It is past the end of the MIB tree)
`
	recs, err := ParseWalk(strings.NewReader(in), "t.snmpwalk")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, r := range recs {
		got[r.OID.String()] = r.Value
	}
	want := map[string]any{
		".1.3.6.1.2.1.1.1.0":             []byte("Linux box \"quoted\"\nsecond line"),
		".1.3.6.1.2.1.1.2.0":             OID{1, 3, 6, 1, 4, 1, 8072, 3, 2, 10},
		".1.3.6.1.2.1.1.3.0":             uint64(12345),
		".1.3.6.1.2.1.1.4.0":             []byte{},
		".1.3.6.1.2.1.2.2.1.3.1":         int64(24),
		".1.3.6.1.2.1.2.2.1.6.2":         []byte{0, 0xc0, 0xb7, 0xe1, 0x82, 0x78, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
		".1.3.6.1.2.1.2.2.1.10.1":        uint64(123),
		".1.3.6.1.2.1.2.2.1.5.1":         uint64(10000000),
		".1.3.6.1.2.1.31.1.1.1.6.1":      uint64(18446744073709551615),
		".1.3.6.1.2.1.4.20.1.1.10.0.0.1": netip.MustParseAddr("10.0.0.1"),
		".1.3.6.1.2.1.1.9.0":             uint64(42),
		".1.3.6.1.2.1.2.2.1.7.1":         int64(1),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if _, err := ParseWalk(strings.NewReader(".1.3.6.1 = Float: 1.0\n"), "w"); err == nil || !strings.HasPrefix(err.Error(), "w:1: unknown snmpwalk type") {
		t.Errorf("unknown type error = %v", err)
	}
	if _, err := ParseWalk(strings.NewReader("garbage\n"), "w"); err == nil || !strings.HasPrefix(err.Error(), "w:1:") {
		t.Errorf("garbage error = %v", err)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	in := "1.3.6.1.2.1.1.1.0|4|plain text\n" +
		"1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.1\n" +
		"1.3.6.1.2.1.1.3.0|67:numeric|initial=5,rate=100\n" +
		"1.3.6.1.2.1.2.2.1.6.1|4x|00ff10\n" +
		"1.3.6.1.2.1.4.20.1.3.1.2.3.4|64|255.255.0.0\n" +
		"1.3.6.1.2.1.31.1.1.1.6.1|70|12345678901234\n"
	recs, err := Parse(strings.NewReader(in), "a")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Format(&buf, recs); err != nil {
		t.Fatal(err)
	}
	if buf.String() != in {
		t.Errorf("round trip:\n%s\nwant\n%s", buf.String(), in)
	}
}

func TestParseNumeric(t *testing.T) {
	p, err := ParseNumeric("initial=7060,source=1.3.6.1.4.1.318.1.1.26.4.3.1.5.1,factor=0.5")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Cumulative || p.Factor != 0.5 || p.Initial != 7060 || p.Source.String() != ".1.3.6.1.4.1.318.1.1.26.4.3.1.5.1" {
		t.Errorf("got %+v", p)
	}
	p, err = ParseNumeric("min=3,max=9,deviation=2")
	if err != nil || p.Initial != 3 || p.Cumulative {
		t.Errorf("initial defaults to min: %+v, %v", p, err)
	}
	for _, bad := range []string{"", "rate=-1", "period=0", "initial=1,initial=2", "rate=1,source=1.3.6.1", "min=5,max=1", "initial=NaN", "deviation"} {
		if _, err := ParseNumeric(bad); err == nil {
			t.Errorf("ParseNumeric(%q) accepted", bad)
		}
	}
}
