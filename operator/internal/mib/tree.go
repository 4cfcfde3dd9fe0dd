package mib

import (
	"sort"
	"strings"

	gomib "github.com/golangsnmp/gomib/mib"
)

// Node is one OID in the tree, described the way net-snmp describes it.
type Node struct {
	// OID is dotted decimal without a leading dot.
	OID string
	// Label is the descriptor, for example "ifDescr".
	Label string
	// Module is the module that defines Label.
	Module string
	// Type is net-snmp's base type name: INTEGER (also for Integer32), UNSIGNED32,
	// GAUGE, COUNTER, COUNTER64, TIMETICKS, IPADDR, NETADDR, OCTETSTR, OBJID,
	// BITSTRING, OPAQUE or OTHER (tables, rows and non-objects).
	Type string
	// Access is ACCESS_READONLY, ACCESS_READWRITE, ACCESS_CREATE,
	// ACCESS_NOACCESS, ACCESS_NOTIFY, ACCESS_WRITEONLY or "unknown".
	Access string
	// TextualConvention is the name of the TEXTUAL-CONVENTION or type
	// assignment used by SYNTAX, empty for a base type.
	TextualConvention string
	// Hint is the effective DISPLAY-HINT.
	Hint string
	// FixedSize is the size of a fixed-size textual convention, else 0.
	FixedSize int
	Units     string
	// Description is the DESCRIPTION text as written.
	Description string
	// EnumValues holds enumeration labels, and BITS labels for BITS.
	EnumValues map[int]string
	// Indexes are the INDEX descriptors of a row.
	Indexes []string
	// IndexOIDs are the OIDs of the objects in Indexes, as resolved by
	// the row's module (net-snmp only keeps the descriptors).
	IndexOIDs []string
	// ImpliedIndex is set when the last index is IMPLIED.
	ImpliedIndex bool
	// Augments names the row a row AUGMENTS.
	Augments string

	Parent   *Node
	Children []*Node
}

// Walk calls f for n and its descendants, depth first in OID order.
func (n *Node) Walk(f func(*Node)) {
	f(n)
	for _, c := range n.Children {
		c.Walk(f)
	}
}

// Tree is a loaded set of MIB modules.
type Tree struct {
	// Root is the unnamed root above ccitt(0), iso(1) and joint-iso-ccitt(2).
	Root *Node
	// Modules lists the modules that loaded, with their files.
	Modules map[string]string

	byOID map[string]*Node
	// byLabel keeps, for a label defined more than once, the node met last
	// in OID order: the rule snmp_exporter's generator applies.
	byLabel map[string]*Node
	all     map[string][]*Node
	files   map[string]file
	aliases map[*gomib.Node][]*gomib.Object
	m       *gomib.Mib
}

// ByOID returns the node with exactly this OID.
func (t *Tree) ByOID(oid string) *Node { return t.byOID[oid] }

// ByLabel returns the node with this unqualified label.
func (t *Tree) ByLabel(label string) *Node { return t.byLabel[label] }

// ByQualified resolves MODULE::label. Unlike net-snmp, which only finds
// labels whose node it filed under that module, this also follows the
// module's IMPORTS, so IF-MIB::interfaces resolves even when RFC1213-MIB
// defines the same OID.
func (t *Tree) ByQualified(module, label string) *Node {
	return t.qualified(module, label, map[string]bool{})
}

func (t *Tree) qualified(module, label string, seen map[string]bool) *Node {
	if seen[module] || t.m == nil {
		return nil
	}
	seen[module] = true
	mod := t.m.Module(module)
	if mod == nil {
		return nil
	}
	if obj := mod.Object(label); obj != nil {
		return t.byOID[obj.OID().String()]
	}
	if gn := mod.Node(label); gn != nil {
		return t.byOID[gn.OID().String()]
	}
	for _, imp := range mod.Imports() {
		for _, sym := range imp.Symbols {
			if sym == label {
				if n := t.qualified(imp.Module, label, seen); n != nil {
					return n
				}
			}
		}
	}
	return nil
}

// Resolve finds a node by label, MODULE::label or numeric OID.
func (t *Tree) Resolve(name string) *Node {
	if mod, label, ok := strings.Cut(name, "::"); ok {
		return t.ByQualified(mod, label)
	}
	if n := t.byLabel[name]; n != nil {
		return n
	}
	return t.byOID[name]
}

// AllByLabel returns every node with this label, in OID order.
func (t *Tree) AllByLabel(label string) []*Node { return t.all[label] }

// Labels returns every label in the tree, sorted; used for suggestions.
func (t *Tree) Labels() []string {
	out := make([]string, 0, len(t.byLabel))
	for l := range t.byLabel {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// LongestPrefix returns the deepest node whose OID is a prefix of oid.
func (t *Tree) LongestPrefix(oid string) *Node {
	n := t.Root
	for {
		var next *Node
		for _, c := range n.Children {
			if oid == c.OID || strings.HasPrefix(oid, c.OID+".") {
				next = c
				break
			}
		}
		if next == nil {
			if n == t.Root {
				return nil
			}
			return n
		}
		n = next
	}
}

// Imports returns the modules given and every module they import, directly or not.
func (t *Tree) Imports(modules []string) map[string]bool {
	out := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		if out[name] {
			return
		}
		out[name] = true
		if t.m == nil {
			return
		}
		if mod := t.m.Module(name); mod != nil {
			for _, imp := range mod.Imports() {
				visit(imp.Module)
			}
		}
	}
	for _, m := range modules {
		visit(m)
	}
	return out
}

// Candidates returns one node per distinct OID labelled label, in OID order, keeping only nodes
// defined by a module in scope when scope is not nil.
func (t *Tree) Candidates(label string, scope map[string]bool) []*Node {
	var out []*Node
	seen := map[string]bool{}
	for _, n := range t.all[label] {
		if seen[n.OID] || scope != nil && !scope[n.Module] {
			continue
		}
		seen[n.OID] = true
		out = append(out, n)
	}
	return out
}
