package listflag

import "strings"

// Strings is a flag.Value collecting every occurrence of a repeatable flag, in order:
//
//	var dirs listflag.Strings
//	fs.Var(&dirs, "mibs-dir", "directory of MIB files (repeatable)")
type Strings []string

// String joins the values with commas.
func (s *Strings) String() string { return strings.Join(*s, ",") }

// Set appends one value.
func (s *Strings) Set(v string) error { *s = append(*s, v); return nil }
