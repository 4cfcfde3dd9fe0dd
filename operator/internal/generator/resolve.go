package generator

import (
	"fmt"
	"sort"
	"strings"

	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// AmbiguousNameError reports a bare name that more than one loaded MIB module defines, at
// different OIDs, with none of them (or more than one) in the module's own MIBs.
type AmbiguousNameError struct {
	// Module is the generator module that used the name.
	Module string
	// Name is the name as written.
	Name string
	// Scope are the MIB modules the name was looked up in first (x-wattson-mibs, a PDUModel's
	// spec.mibs, and what they import); empty when the module has none.
	Scope []string
	// Candidates are MODULE::name (OID), one per definition.
	Candidates []string
}

func (e *AmbiguousNameError) Error() string {
	where := "the loaded MIBs"
	if len(e.Scope) > 0 {
		where = "the module's MIBs (" + strings.Join(e.Scope, ", ") + ") and what they import"
	}
	return fmt.Sprintf("module %s: %q is ambiguous: %s define it %d times: %s; write MODULE::%s to choose one",
		e.Module, e.Name, where, len(e.Candidates), strings.Join(e.Candidates, ", "), e.Name)
}

// lookupName resolves a name as written in generator.yml or a PDUModel: MODULE::label (following
// the module's IMPORTS), a numeric OID, or a bare label. A bare label resolves in the module's
// own MIBs and their imports first, then in every loaded MIB; more than one definition at
// different OIDs at the first level that has any is an *AmbiguousNameError. (snmp_exporter's
// generator silently takes the last one in OID order.)
func (b *moduleBuilder) lookupName(name string) (*mib.Node, error) {
	if strings.Contains(name, "::") || isNumericOID(name) {
		return b.tree.Resolve(name), nil
	}
	levels := []map[string]bool{nil}
	if b.scope != nil {
		levels = []map[string]bool{b.scope, nil}
	}
	for _, scope := range levels {
		cands := b.tree.Candidates(name, scope)
		switch {
		case len(cands) == 1:
			return cands[0], nil
		case len(cands) > 1:
			e := &AmbiguousNameError{Module: b.name, Name: name, Scope: b.cfg.MIBs}
			for _, n := range cands {
				e.Candidates = append(e.Candidates, fmt.Sprintf("%s::%s (%s)", n.Module, name, n.OID))
			}
			sort.Strings(e.Candidates)
			return nil, e
		}
	}
	return b.tree.Resolve(name), nil
}

// resolve is lookupName for the generator's rules, which treat "not found" as nil: an ambiguous
// name also gives nil, and its error is kept for build to return.
func (b *moduleBuilder) resolve(name string) *mib.Node {
	n, err := b.lookupName(name)
	if err != nil && b.resolveErr == nil {
		b.resolveErr = err
	}
	return n
}
