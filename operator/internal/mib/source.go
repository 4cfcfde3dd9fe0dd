package mib

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Source is a set of MIB files: directories on disk, in-memory files (for
// example the data of a Kubernetes ConfigMap), or both. Like net-snmp, every
// file is indexed by the module name it defines, not by its file name, and
// the first file to define a module wins: directories in order, then Files in
// name order.
type Source struct {
	// Dirs are read flat (not recursively), as net-snmp reads --mibs-dir.
	Dirs []string
	// Files maps a file name to its content.
	Files map[string][]byte
	// Limits bound the cost of loading; zero fields take DefaultLimits.
	Limits Limits
}

// Dirs returns a Source reading the given directories.
func Dirs(dirs ...string) Source { return Source{Dirs: dirs} }

// Files returns a Source holding in-memory files.
func Files(files map[string][]byte) Source { return Source{Files: files} }

// file is one MIB module after the tolerant pre-pass.
type file struct {
	path    string
	module  string
	content []byte
	indexes map[string][]indexItem
	defs    []oidDef
}

// moduleHeaderRE finds "NAME DEFINITIONS ::= BEGIN", the first definition of
// a module; net-snmp indexes directories with the same rule.
var moduleHeaderRE = regexp.MustCompile(`(?m)^[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t\r\n]+DEFINITIONS[ \t\r\n]*(?:[A-Z]+[ \t]+TAGS[ \t\r\n]*)?::=[ \t\r\n]*BEGIN`)

// read collects the modules of s, repairing what net-snmp tolerates.
// A file over a limit is left out with an error diagnostic; the error is for I/O only.
func (s Source) read() ([]file, Diagnostics, error) {
	var (
		files []file
		diags Diagnostics
		seen  = map[string]string{}
		lim   = s.Limits.withDefaults()
		total int
	)
	refuse := func(path, module string, line int, code, msg string) {
		diags = append(diags, Diagnostic{Severity: SeverityError, File: path, Module: module, Line: line, Code: code,
			Message: msg + "; the file is not loaded"})
	}
	add := func(path string, content []byte) {
		if bytes.IndexByte(content[:min(len(content), 1024)], 0) >= 0 {
			return // binary, not a MIB
		}
		if len(content) > lim.MaxFileSize {
			refuse(path, "", 0, "limit-file-size", fmt.Sprintf("file of %d bytes is larger than the limit of %d", len(content), lim.MaxFileSize))
			return
		}
		if total+len(content) > lim.MaxTotalSize {
			refuse(path, "", 0, "limit-total-size", fmt.Sprintf("the MIB files before this one and it hold more than the limit of %d bytes", lim.MaxTotalSize))
			return
		}
		total += len(content)
		m := moduleHeaderRE.FindSubmatchIndex(content)
		if m == nil {
			return // README, LICENSE, ...: not a MIB
		}
		name := string(content[m[2]:m[3]])
		if prev, ok := seen[name]; ok {
			diags = append(diags, Diagnostic{
				Severity: SeverityInfo, File: path, Module: name, Line: 1, Code: "module-duplicate",
				Message: fmt.Sprintf("module %s is also defined in %s, which is used", name, prev),
			})
			return
		}
		seen[name] = path
		sh := scanShape(path, name, content, lim)
		if sh.violation != nil {
			sh.violation.Message += "; the file is not loaded"
			diags = append(diags, *sh.violation)
			return
		}
		fixed, repairs := repair(path, name, content, lim.MaxRepairs)
		if len(repairs) > lim.MaxRepairs {
			d := repairs[lim.MaxRepairs]
			refuse(path, name, d.Line, "limit-repairs", fmt.Sprintf("more than %d defects to repair (%s): this is not a MIB", lim.MaxRepairs, d.Code))
			return
		}
		diags = append(diags, repairs...)
		files = append(files, file{path: path, module: name, content: fixed, indexes: scanIndexes(fixed), defs: sh.defs})
	}
	for _, dir := range s.Dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("reading mibs dir: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if e.Type()&fs.ModeSymlink == 0 && !e.Type().IsRegular() {
				continue
			}
			path := filepath.Join(dir, e.Name())
			content, err := os.ReadFile(path)
			if err != nil {
				if isDirErr(path) {
					continue
				}
				return nil, nil, fmt.Errorf("reading mib file: %w", err)
			}
			add(path, content)
		}
	}
	names := make([]string, 0, len(s.Files))
	for name := range s.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		add(name, s.Files[name])
	}
	return files, diags, nil
}

func isDirErr(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// repair blanks out defects that net-snmp's parser skips silently, keeping
// every byte offset (and so every line number) unchanged, and returns one
// warning per repair. Today that is empty elements in an INDEX list, as in
// APC PowerNet-MIB's "INDEX { a, b, , c }": net-snmp ignores the stray comma;
// a strict parser drops the whole row and every column under it.
//
// It stops after max+1 repairs, so a file of nothing but defects costs no more than a MIB. Line
// numbers are counted as the scan goes: one pass, however many repairs.
func repair(path, module string, content []byte, max int) ([]byte, Diagnostics) {
	var (
		out   []byte
		diags Diagnostics
		lc    lineCounter
	)
	n := len(content)
	for i := 0; i < n && len(diags) <= max; i++ {
		switch c := content[i]; {
		case c == '"':
			// Skip a quoted string.
			for i++; i < n && content[i] != '"'; i++ {
			}
		case c == '-' && i+1 < n && content[i+1] == '-':
			i = skipComment(content, i)
		case c == 'I' && bytes.HasPrefix(content[i:], []byte("INDEX")) && (i == 0 || !isIdentByte(content[i-1])) && (i+5 >= n || !isIdentByte(content[i+5])):
			j := i + 5
			for j < n && isSpace(content[j]) {
				j++
			}
			if j >= n || content[j] != '{' {
				continue
			}
			end := bytes.IndexByte(content[j:], '}')
			if end < 0 {
				// No list closes after here: searching again at every later INDEX
				// would make the scan quadratic.
				i = n
				continue
			}
			end += j
			// Walk the list; a comma not preceded by an element is empty.
			sawElement := false
			for k := j + 1; k <= end; k++ {
				switch b := content[k]; {
				case b == '-' && k+1 < n && content[k+1] == '-':
					k = skipComment(content, k)
				case b == ',' || b == '}':
					if !sawElement && (b == ',' || k > j+1 && lastNonSpace(content, j+1, k) == ',') {
						if out == nil {
							out = bytes.Clone(content)
						}
						pos := k
						if b == '}' {
							pos = lastNonSpaceIndex(content, j+1, k)
						}
						out[pos] = ' '
						line, col := lc.at(content, pos)
						diags = append(diags, Diagnostic{
							Severity: SeverityWarning, File: path, Module: module, Line: line, Column: col,
							Code:    "index-empty-element",
							Message: "empty element in INDEX list ignored, as net-snmp does",
						})
					}
					sawElement = false
				case !isSpace(b):
					sawElement = true
				}
			}
			i = end
		}
	}
	if out == nil {
		return content, nil
	}
	return out, diags
}

func isIdentByte(b byte) bool {
	return b == '-' || b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func lastNonSpaceIndex(content []byte, from, to int) int {
	for k := to - 1; k >= from; k-- {
		if !isSpace(content[k]) {
			return k
		}
	}
	return -1
}

func lastNonSpace(content []byte, from, to int) byte {
	if k := lastNonSpaceIndex(content, from, to); k >= 0 {
		return content[k]
	}
	return 0
}

// lineCounter converts byte offsets to 1-based line and column. Offsets must not decrease:
// it counts the newlines since the last offset only, so a scan stays linear.
type lineCounter struct {
	pos, line, lineStart int
}

func (lc *lineCounter) at(content []byte, pos int) (int, int) {
	if lc.line == 0 {
		lc.line = 1
	}
	for ; lc.pos < pos; lc.pos++ {
		if content[lc.pos] == '\n' {
			lc.line++
			lc.lineStart = lc.pos + 1
		}
	}
	return lc.line, pos - lc.lineStart + 1
}
