package mib

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// goodMIB loads beside every bomb: one hostile file must not cost the others.
var goodMIB = []byte(`ZZ-MIB DEFINITIONS ::= BEGIN
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

const bombHeader = "BOMB-MIB DEFINITIONS ::= BEGIN\nIMPORTS enterprises FROM SNMPv2-SMI;\n"

// bombs are hostile MIB files, each a name -> content set, with the diagnostic each must yield.
// Sizes are what made the code before the limits take minutes or gigabytes.
func bombs() []struct {
	name     string
	files    map[string][]byte
	file     string
	code     string
	line     int
	contains string
} {
	deepChain := func(n, from int, parent string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "n%d OBJECT IDENTIFIER ::= { %s 1 }\n", from, parent)
		for i := from + 1; i < from+n; i++ {
			fmt.Fprintf(&b, "n%d OBJECT IDENTIFIER ::= { n%d 1 }\n", i, i-1)
		}
		return b.String()
	}
	nested := func(open, close string, n int) string {
		return "T ::= " + strings.Repeat(open, n) + "INTEGER" + strings.Repeat(close, n) + "\n"
	}
	fill := func(line string, size int) []byte {
		return []byte(bombHeader + strings.Repeat(line, (size-len(bombHeader))/len(line)))
	}
	return []struct {
		name     string
		files    map[string][]byte
		file     string
		code     string
		line     int
		contains string
	}{
		{name: "deep OID chain", files: map[string][]byte{"bomb": []byte(bombHeader + deepChain(100000, 0, "enterprises") + "END\n")},
			file: "bomb", code: "limit-oid-depth", line: 3 + 128 - wellKnownDepth, contains: "deeper than 128"},
		{name: "deep OID chain across two files", files: map[string][]byte{
			"bomb-a": []byte(bombHeader + deepChain(100, 0, "enterprises") + "END\n"),
			"bomb-b": []byte(strings.Replace(bombHeader, "BOMB-MIB", "BOMB2-MIB", 1) + deepChain(100, 100, "n99") + "END\n"),
		}, file: "bomb-b", code: "limit-oid-depth", line: 3 + 128 - wellKnownDepth - 100},
		{name: "long OID value", files: map[string][]byte{"bomb": []byte(bombHeader + "x OBJECT IDENTIFIER ::= { enterprises" + strings.Repeat(" 1", 200000) + " }\nEND\n")},
			file: "bomb", code: "limit-oid-depth", line: 3},
		{name: "nested SEQUENCE", files: map[string][]byte{"bomb": []byte(bombHeader + nested("SEQUENCE { a ", " }", 500000) + "END\n")},
			file: "bomb", code: "limit-nesting", line: 3},
		{name: "nested CHOICE", files: map[string][]byte{"bomb": []byte(bombHeader + "\n" + nested("CHOICE { a ", " }", 500000) + "END\n")},
			file: "bomb", code: "limit-nesting", line: 4},
		{name: "nested parentheses", files: map[string][]byte{"bomb": []byte(bombHeader + nested("(", ")", 2<<20) + "END\n")},
			file: "bomb", code: "limit-nesting", line: 3},
		{name: "16 MiB of INDEX{,}", files: map[string][]byte{"bomb": fill("INDEX{,}\n", 16<<20)},
			file: "bomb", code: "limit-file-size", contains: "larger than the limit of 8388608"},
		{name: "just under the size limit of INDEX{,}", files: map[string][]byte{"bomb": fill("INDEX{,}\n", DefaultLimits.MaxFileSize)},
			file: "bomb", code: "limit-repairs", line: 3 + DefaultLimits.MaxRepairs/2}, // two repairs a line
		{name: "unclosed INDEX lists", files: map[string][]byte{"bomb": fill("x OBJECT-TYPE INDEX {\n", DefaultLimits.MaxFileSize)},
			file: "bomb", code: "limit-nesting", line: 3 + DefaultLimits.MaxNesting},
		{name: "too much in all", files: func() map[string][]byte {
			out := map[string][]byte{}
			for i := range 9 {
				out[fmt.Sprintf("bomb-%d", i)] = []byte(strings.Replace(bombHeader, "BOMB-MIB", fmt.Sprintf("BOMB%d-MIB", i), 1) +
					strings.Repeat("-- a comment line, 32 bytes long\n", (8<<20-200)/33) + "END\n")
			}
			return out
		}(), file: "bomb-8", code: "limit-total-size"},
	}
}

// TestHostileMIBs loads each bomb beside a good MIB: the bomb is refused with a diagnostic naming
// its file:line, the good MIB still resolves, and Load stays within its deadline (a timeout is a
// failure here, not a pass) and a bounded allocation.
func TestHostileMIBs(t *testing.T) {
	for _, tt := range bombs() {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string][]byte{"good": goodMIB}
			for k, v := range tt.files {
				files[k] = v
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			tree, diags, err := Load(context.Background(), Source{Files: files, Limits: Limits{Timeout: 20 * time.Second}})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if n := tree.Resolve("ZZ-MIB::zzValue"); n == nil || n.OID != "1.3.6.1.4.1.4242.1" {
				t.Errorf("the good MIB beside the bomb did not load: %+v", n)
			}
			var found *Diagnostic
			for i, d := range diags {
				if d.Code == tt.code {
					found = &diags[i]
				}
			}
			if found == nil {
				t.Fatalf("no %s diagnostic in %v", tt.code, diags)
			}
			if found.File != tt.file || found.Line != tt.line || found.Severity != SeverityError {
				t.Errorf("diagnostic %s, want %s at %s:%d", found, tt.code, tt.file, tt.line)
			}
			if !strings.Contains(found.String(), tt.contains) || !strings.Contains(found.String(), "not loaded") {
				t.Errorf("diagnostic %q does not say %q and that the file is not loaded", found, tt.contains)
			}
			var size int
			for _, v := range tt.files {
				size += len(v)
			}
			// Allocation is bounded by a small multiple of the input (the deep chain alone
			// allocated 10 GB before the limits).
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(8*size+64<<20) {
				t.Errorf("allocated %d MB for %d MB of input", alloc>>20, size>>20)
			}
			if m := moduleHeaderRE.FindSubmatch(tt.files[tt.file]); m != nil && tree.Modules[string(m[1])] != "" {
				t.Errorf("module %s of the refused file loaded", m[1])
			}
		})
	}
}

func TestLoadDeadline(t *testing.T) {
	// A MIB set the limits allow but that cannot load in a nanosecond: the deadline wins.
	_, _, err := Load(context.Background(), Source{Files: map[string][]byte{"good": goodMIB}, Limits: Limits{Timeout: time.Nanosecond}})
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("Load with a 1ns limit: err = %v, want a deadline error", err)
	}
}

func TestDiagnosticsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString(bombHeader)
	for i := range 500 {
		fmt.Fprintf(&b, "x%d OBJECT IDENTIFIER ::= { missing%d 1 }\n", i, i)
	}
	b.WriteString("END\n")
	_, diags, err := Load(context.Background(), Files(map[string][]byte{"many": []byte(b.String())}))
	if err != nil {
		t.Fatal(err)
	}
	last := diags[len(diags)-1]
	if len(diags) != DefaultLimits.MaxDiagnostics+1 || last.Code != "diagnostics-truncated" {
		t.Fatalf("%d diagnostics, last %s; want %d and a truncation note", len(diags), last, DefaultLimits.MaxDiagnostics+1)
	}
}

// BenchmarkHostileMIBs reports the time and allocation of refusing each bomb.
func BenchmarkHostileMIBs(b *testing.B) {
	for _, tt := range bombs() {
		b.Run(strings.ReplaceAll(tt.name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Load(context.Background(), Files(tt.files)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
