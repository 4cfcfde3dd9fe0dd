package mib

import (
	"fmt"
	"time"
)

// Limits bound what one Load may cost. MIB files come from tenants (labelled ConfigMaps, the
// upload page), so a hostile or broken file must cost seconds and megabytes, not the operator.
// A file over a per-file limit is left out with an error diagnostic naming its file:line; the
// other files still load. Zero fields take the value of DefaultLimits.
type Limits struct {
	// MaxFileSize is the largest MIB file in bytes. PowerNet-MIB, the largest vendor MIB we
	// know, is 2.9 MB.
	MaxFileSize int
	// MaxTotalSize is the largest sum of file sizes of one Source; files past it are left out.
	MaxTotalSize int
	// MaxNesting is the deepest nesting of { } and ( ), e.g. SEQUENCE in CHOICE in SEQUENCE.
	// Real MIBs nest 3 or 4 deep; the parser recurses per level.
	MaxNesting int
	// MaxOIDDepth is the most sub-identifiers an OID may have: 128, RFC 2578 section 3.5.
	// It bounds chains of definitions (a ::= { b 1 }, b ::= { c 1 }, ...) across all files.
	MaxOIDDepth int
	// MaxRepairs is the most defects the tolerant pre-pass repairs in one file before it
	// refuses the file as not a MIB.
	MaxRepairs int
	// MaxDiagnostics is the most diagnostics reported per file; the rest are counted in one.
	MaxDiagnostics int
	// Timeout bounds Load when the context has no earlier deadline.
	Timeout time.Duration
}

// DefaultLimits are the limits of a zero Limits.
var DefaultLimits = Limits{
	MaxFileSize:    8 << 20,
	MaxTotalSize:   64 << 20,
	MaxNesting:     32,
	MaxOIDDepth:    128,
	MaxRepairs:     1000,
	MaxDiagnostics: 100,
	Timeout:        30 * time.Second,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxFileSize > 0 {
		d.MaxFileSize = l.MaxFileSize
	}
	if l.MaxTotalSize > 0 {
		d.MaxTotalSize = l.MaxTotalSize
	}
	if l.MaxNesting > 0 {
		d.MaxNesting = l.MaxNesting
	}
	if l.MaxOIDDepth > 0 {
		d.MaxOIDDepth = l.MaxOIDDepth
	}
	if l.MaxRepairs > 0 {
		d.MaxRepairs = l.MaxRepairs
	}
	if l.MaxDiagnostics > 0 {
		d.MaxDiagnostics = l.MaxDiagnostics
	}
	if l.Timeout > 0 {
		d.Timeout = l.Timeout
	}
	return d
}

// oidDef is one "name ... ::= { parent arc ... }" found by the pre-pass.
type oidDef struct {
	name, parent string
	// arcs is the number of sub-identifiers after the parent.
	arcs int
	line int
}

// shape is what the linear pre-pass learns of one file.
type shape struct {
	defs []oidDef
	// violation is the first limit the file breaks, nil if none.
	violation *Diagnostic
}

// oidMacros are the macros whose value is an OID: "name MACRO ... ::= { parent arc }".
var oidMacros = map[string]bool{
	"OBJECT-TYPE": true, "OBJECT-IDENTITY": true, "MODULE-IDENTITY": true, "NOTIFICATION-TYPE": true,
	"OBJECT-GROUP": true, "NOTIFICATION-GROUP": true, "MODULE-COMPLIANCE": true, "AGENT-CAPABILITIES": true,
	"OBJECT": true, // OBJECT IDENTIFIER
}

// scanShape makes one pass over content, skipping strings and comments, and records its nesting
// and OID definitions. It stops at the first limit broken. It never allocates per byte.
func scanShape(path, module string, content []byte, lim Limits) shape {
	var (
		sh     shape
		n      = len(content)
		line   = 1
		depth  int
		cur    string // the name of the definition being read
		prev   []byte // the previous identifier
		assign bool   // the last token was ::=
		fail   = func(code, msg string) {
			sh.violation = &Diagnostic{Severity: SeverityError, File: path, Module: module, Line: line, Code: code, Message: msg}
		}
	)
	for i := 0; i < n && sh.violation == nil; i++ {
		c := content[i]
		switch {
		case c == '\n':
			line++
		case c == '"':
			for i++; i < n && content[i] != '"'; i++ {
				if content[i] == '\n' {
					line++
				}
			}
		case c == '-' && i+1 < n && content[i+1] == '-':
			i = skipComment(content, i)
		case c == ':' && i+2 < n && content[i+1] == ':' && content[i+2] == '=':
			i += 2
			assign = true
			continue
		case c == '{' || c == '(':
			depth++
			if depth > lim.MaxNesting {
				fail("limit-nesting", fmt.Sprintf("nesting of { } and ( ) deeper than %d levels", lim.MaxNesting))
				break
			}
			if c == '{' && assign {
				d, end, ok := scanOIDValue(content, i, &line)
				if d.arcs+1 > lim.MaxOIDDepth {
					fail("limit-oid-depth", fmt.Sprintf("OID value with more than %d sub-identifiers", lim.MaxOIDDepth))
					break
				}
				if ok {
					d.name = cur
					if cur != "" {
						sh.defs = append(sh.defs, d)
					}
					depth--
					i = end
				}
				cur = ""
			}
		case c == '}' || c == ')':
			depth--
		case isIdentStart(c):
			j := i
			for j < n && isIdentByte(content[j]) && !(content[j] == '-' && j+1 < n && content[j+1] == '-') {
				j++
			}
			word := content[i:j]
			if oidMacros[string(word)] && len(prev) > 0 && prev[0] >= 'a' && prev[0] <= 'z' {
				cur = string(prev)
			}
			prev = word
			i = j - 1
		}
		if !isSpace(c) {
			assign = false
		}
	}
	return sh
}

// scanOIDValue reads "{ parent arc name(arc) ... }" at content[open] == '{'. It returns the
// definition (parent and arc count), the offset of the closing brace, and whether the braces
// held an OID value (identifiers, numbers and name(number) only).
func scanOIDValue(content []byte, open int, line *int) (oidDef, int, bool) {
	d := oidDef{line: *line}
	n := len(content)
	first := true
	lines := 0
	for k := open + 1; k < n; k++ {
		c := content[k]
		switch {
		case c == '\n':
			lines++
		case isSpace(c):
		case c == '-' && k+1 < n && content[k+1] == '-':
			k = skipComment(content, k)
		case c == '}':
			*line += lines
			return d, k, true
		case isIdentStart(c) || c >= '0' && c <= '9':
			e := k
			for e < n && isIdentByte(content[e]) && !(content[e] == '-' && e+1 < n && content[e+1] == '-') {
				e++
			}
			word := content[k:e]
			hasNumber := e < n && content[e] == '('
			if hasNumber { // name(number): one sub-identifier
				close := e + 1
				for close < n && content[close] >= '0' && content[close] <= '9' {
					close++
				}
				if close >= n || content[close] != ')' {
					return d, 0, false
				}
				e = close + 1
			}
			if first && isIdentStart(c) && !hasNumber {
				d.parent = string(word)
			} else {
				d.arcs++
			}
			first = false
			k = e - 1
		default:
			return d, 0, false
		}
	}
	return d, 0, false
}

// wellKnownDepth is the depth assumed for a parent defined in no file: the SMI's own nodes
// (enterprises is 1.3.6.1.4.1) are at most this deep.
const wellKnownDepth = 7

// deepDefs returns, per file, the first definition whose OID would have more than max
// sub-identifiers, following parents across every file. Cycles are left to the resolver, which
// reports them.
func deepDefs(shapes map[string][]oidDef, max int) map[string]oidDef {
	byName := map[string]oidDef{}
	for _, defs := range shapes {
		for _, d := range defs {
			if _, ok := byName[d.name]; !ok {
				byName[d.name] = d
			}
		}
	}
	depth := make(map[string]int, len(byName))
	var chain []string
	onChain := map[string]bool{}
	// resolve returns the number of sub-identifiers of name's OID, iteratively: a chain can be
	// as long as the files are.
	resolve := func(name string) int {
		chain = chain[:0]
		clear(onChain)
		base := 0
		for {
			if v, ok := depth[name]; ok {
				base = v
				break
			}
			d, ok := byName[name]
			if !ok {
				base = wellKnownDepth
				break
			}
			if onChain[name] {
				break // a cycle: the resolver reports it
			}
			onChain[name] = true
			chain = append(chain, name)
			if d.parent == "" {
				break
			}
			name = d.parent
		}
		for i := len(chain) - 1; i >= 0; i-- {
			base += byName[chain[i]].arcs
			depth[chain[i]] = base
		}
		return base
	}
	out := map[string]oidDef{}
	for path, defs := range shapes {
		for _, d := range defs {
			got := d.arcs
			if d.parent != "" {
				got += resolve(d.parent)
			}
			if got > max {
				out[path] = d
				break
			}
		}
	}
	return out
}
