package mib

import (
	"context"
	"reflect"
	"testing"
)

func TestRepair(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      string
		wantLines []int
	}{
		{"empty middle element", "INDEX { a, b, , c }", "INDEX { a, b,   c }", []int{1}},
		{"leading comma", "INDEX {\n , a }", "INDEX {\n   a }", []int{2}},
		{"trailing comma", "INDEX { a, }", "INDEX { a  }", []int{1}},
		{"well formed", "INDEX { a, IMPLIED b }", "INDEX { a, IMPLIED b }", nil},
		{"inside a string", `DESCRIPTION "INDEX { a, , b }"`, `DESCRIPTION "INDEX { a, , b }"`, nil},
		{"inside a comment", "-- INDEX { a, , b }\nINDEX { c }", "-- INDEX { a, , b }\nINDEX { c }", nil},
		{"not the keyword", "MYINDEX { a, , b }", "MYINDEX { a, , b }", nil},
		{"comment inside the list", "INDEX { a, -- x, , y\n b }", "INDEX { a, -- x, , y\n b }", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, diags := repair("F", "M", []byte(tt.in), DefaultLimits.MaxRepairs)
			if string(got) != tt.want {
				t.Errorf("repair(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) != len(tt.in) {
				t.Errorf("repair changed the length: offsets (line numbers) would move")
			}
			var lines []int
			for _, d := range diags {
				if d.Severity != SeverityWarning || d.File != "F" || d.Code != "index-empty-element" {
					t.Errorf("unexpected diagnostic %s", d)
				}
				lines = append(lines, d.Line)
			}
			if !reflect.DeepEqual(lines, tt.wantLines) {
				t.Errorf("diagnostic lines = %v, want %v", lines, tt.wantLines)
			}
		})
	}
}

func TestScanIndexes(t *testing.T) {
	src := `
fooEntry OBJECT-TYPE
    SYNTAX FooEntry
    DESCRIPTION "mentions INDEX { notThis }"
    INDEX { fooA, -- a comment
            IMPLIED fooB }
    ::= { fooTable 1 }
barEntry OBJECT-TYPE
    AUGMENTS { fooEntry }
    ::= { barTable 1 }
`
	got := scanIndexes([]byte(src))
	want := map[string][]indexItem{"fooEntry": {{name: "fooA"}, {name: "fooB", implied: true}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scanIndexes = %+v, want %+v", got, want)
	}
}

func TestLoadSources(t *testing.T) {
	mibText := []byte(`ZZ-MIB DEFINITIONS ::= BEGIN
IMPORTS enterprises, OBJECT-TYPE, Integer32 FROM SNMPv2-SMI;
zz OBJECT IDENTIFIER ::= { enterprises 4242 }
zzValue OBJECT-TYPE
    SYNTAX Integer32
    MAX-ACCESS read-only
    STATUS current
    DESCRIPTION "A value."
    ::= { zz 1 }
END
`)
	tests := []struct {
		name    string
		src     Source
		wantErr bool
	}{
		{name: "in-memory file with any name", src: Files(map[string][]byte{"whatever.txt": mibText, "README": []byte("not a mib")})},
		{name: "missing directory", src: Dirs("testdata/does-not-exist"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, _, err := Load(context.Background(), tt.src)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			n := tree.Resolve("ZZ-MIB::zzValue")
			if n == nil || n.OID != "1.3.6.1.4.1.4242.1" || n.Type != "INTEGER" || n.Access != "ACCESS_READONLY" {
				t.Fatalf("ZZ-MIB::zzValue = %+v", n)
			}
			if got := tree.Modules["ZZ-MIB"]; got != "whatever.txt" {
				t.Errorf("module file = %q, want whatever.txt", got)
			}
			if tree.LongestPrefix("1.3.6.1.4.1.4242.1.0") != n {
				t.Errorf("LongestPrefix did not find zzValue")
			}
		})
	}
}
