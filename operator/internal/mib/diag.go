package mib

import (
	"fmt"
	"strings"
)

// Severity ranks a Diagnostic.
type Severity int

// Severities, from the most serious.
const (
	// SeverityError is a defect that changed or dropped a definition.
	SeverityError Severity = iota
	// SeverityWarning is a defect that was tolerated without losing meaning.
	SeverityWarning
	// SeverityInfo is a remark.
	SeverityInfo
)

func (s Severity) String() string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	default:
		return "info"
	}
}

// MarshalText makes Severity readable in JSON and YAML.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Diagnostic is one problem found in a MIB file.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	// File is the path (or in-memory name) of the MIB file, empty if unknown.
	File string `json:"file,omitempty"`
	// Module is the MIB module the problem was found in.
	Module string `json:"module,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Code is a stable identifier such as "import-module-not-found".
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// Location renders file:line:column, omitting what is unknown.
func (d Diagnostic) Location() string {
	loc := d.File
	if loc == "" {
		loc = d.Module
	}
	if d.Line > 0 {
		loc += fmt.Sprintf(":%d", d.Line)
		if d.Column > 0 {
			loc += fmt.Sprintf(":%d", d.Column)
		}
	}
	return loc
}

func (d Diagnostic) String() string {
	var b strings.Builder
	if loc := d.Location(); loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	b.WriteString(d.Severity.String())
	b.WriteString(": ")
	if d.Module != "" && d.File != "" {
		b.WriteString(d.Module)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Code != "" {
		b.WriteString(" [")
		b.WriteString(d.Code)
		b.WriteString("]")
	}
	return b.String()
}

// Diagnostics is a list of problems.
type Diagnostics []Diagnostic

// Errors returns only the error-severity diagnostics.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == SeverityError {
			out = append(out, d)
		}
	}
	return out
}

// HasErrors reports whether any diagnostic has error severity.
func (ds Diagnostics) HasErrors() bool { return len(ds.Errors()) > 0 }
