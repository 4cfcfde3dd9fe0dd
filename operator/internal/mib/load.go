package mib

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"

	"github.com/golangsnmp/gomib"
	gomibtypes "github.com/golangsnmp/gomib/mib"
)

// Load parses every module in src and builds the tree. Problems in the MIB
// files are returned as diagnostics, not as an error: like net-snmp, Load
// keeps whatever it could resolve. A file over src.Limits is left out with an
// error diagnostic naming its file:line. The error is for I/O, cancellation
// and src.Limits.Timeout.
func Load(ctx context.Context, src Source) (*Tree, Diagnostics, error) {
	lim := src.Limits.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	type result struct {
		t     *Tree
		diags Diagnostics
		err   error
	}
	// The resolver does not watch ctx once parsing is done; the limits keep it short, and the
	// deadline holds even if they did not.
	done := make(chan result, 1)
	go func() {
		t, diags, err := load(ctx, src, lim)
		done <- result{t, diags, err}
	}()
	select {
	case r := <-done:
		return r.t, r.diags, r.err
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("loading mibs: %w (limit %s)", context.Cause(ctx), lim.Timeout)
	}
}

func load(ctx context.Context, src Source, lim Limits) (*Tree, Diagnostics, error) {
	files, diags, err := src.read()
	if err != nil {
		return nil, nil, err
	}
	shapes := make(map[string][]oidDef, len(files))
	for _, f := range files {
		shapes[f.path] = f.defs
	}
	deep := deepDefs(shapes, lim.MaxOIDDepth)
	byModule := make(map[string]file, len(files))
	for _, f := range files {
		if d, ok := deep[f.path]; ok {
			diags = append(diags, Diagnostic{Severity: SeverityError, File: f.path, Module: f.module, Line: d.line, Code: "limit-oid-depth",
				Message: fmt.Sprintf("%s: OID deeper than %d sub-identifiers; the file is not loaded", d.name, lim.MaxOIDDepth)})
			continue
		}
		byModule[f.module] = f
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("loading mibs: %w", err)
	}
	cfg := gomibtypes.PermissiveConfig()
	cfg.FailAt = gomibtypes.SeverityFatal - 1 // report everything, never fail the load
	m, err := gomib.Load(ctx, gomib.WithSource(memSource(byModule)), gomib.WithDiagnosticConfig(cfg))
	if err != nil && !errors.Is(err, gomib.ErrDiagnosticThreshold) {
		return nil, nil, fmt.Errorf("loading mibs: %w", err)
	}
	if m == nil {
		return nil, nil, fmt.Errorf("loading mibs: no result")
	}
	for _, d := range m.Diagnostics() {
		diags = append(diags, Diagnostic{
			Severity: severity(d.Severity),
			File:     byModule[d.Module].path,
			Module:   d.Module,
			Line:     d.Line,
			Column:   d.Column,
			Code:     d.Code,
			Message:  d.Message,
		})
	}
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i], diags[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	diags = capPerFile(diags, lim.MaxDiagnostics)
	t := &Tree{
		Modules: map[string]string{},
		byOID:   map[string]*Node{},
		byLabel: map[string]*Node{},
		all:     map[string][]*Node{},
		m:       m,
	}
	for _, mod := range m.Modules() {
		t.Modules[mod.Name()] = byModule[mod.Name()].path
	}
	t.files = byModule
	// Objects that share an OID under different names (PowerNet-MIB has
	// some) are separate nodes in net-snmp; gomib keeps one per OID.
	t.aliases = map[*gomibtypes.Node][]*gomibtypes.Object{}
	for _, obj := range m.Objects() {
		if gn := obj.Node(); gn != nil && gn.Name() != obj.Name() && gn.Object() != obj {
			t.aliases[gn] = append(t.aliases[gn], obj)
		}
	}
	t.Root = t.convert(m.Root(), nil, "")
	t.Root.Walk(func(n *Node) {
		if len(n.Indexes) == 0 || len(n.IndexOIDs) == len(n.Indexes) {
			return
		}
		n.IndexOIDs = make([]string, len(n.Indexes))
		for i, name := range n.Indexes {
			if in := t.ByQualified(n.Module, name); in != nil {
				n.IndexOIDs[i] = in.OID
			}
		}
	})
	return t, diags, nil
}

// capPerFile keeps the first max diagnostics of each file (diags sorted by file) and counts the
// rest in one.
func capPerFile(diags Diagnostics, max int) Diagnostics {
	out := diags[:0:0]
	for i := 0; i < len(diags); {
		j := i
		for j < len(diags) && diags[j].File == diags[i].File {
			j++
		}
		if j-i <= max {
			out = append(out, diags[i:j]...)
		} else {
			out = append(out, diags[i:i+max]...)
			out = append(out, Diagnostic{Severity: SeverityInfo, File: diags[i].File, Module: diags[i].Module, Code: "diagnostics-truncated",
				Message: fmt.Sprintf("%d more diagnostics in this file not shown", j-i-max)})
		}
		i = j
	}
	return out
}

func severity(s gomibtypes.Severity) Severity {
	switch {
	case s <= gomibtypes.SeverityError:
		return SeverityError
	case s <= gomibtypes.SeverityWarning:
		return SeverityWarning
	default:
		return SeverityInfo
	}
}

// memSource serves the pre-read, repaired files to gomib by module name.
type memSource map[string]file

func (s memSource) Find(name string) (gomib.FindResult, error) {
	f, ok := s[name]
	if !ok {
		return gomib.FindResult{}, fs.ErrNotExist
	}
	return gomib.FindResult{Content: f.content, Path: f.path}, nil
}

func (s memSource) ListModules() ([]string, error) {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// convert copies gomib's node gn (and its subtree) into our Node.
func (t *Tree) convert(gn *gomibtypes.Node, parent *Node, parentOID string) *Node {
	n := &Node{Parent: parent, Type: "OTHER", Access: "unknown", Label: gn.Name()}
	if parent != nil {
		n.OID = strconv.FormatUint(uint64(gn.Arc()), 10)
		if parentOID != "" {
			n.OID = parentOID + "." + n.OID
		}
	}
	if mod := gn.Module(); mod != nil {
		n.Module = mod.Name()
	}
	if obj := gn.Object(); obj != nil {
		t.describeObject(n, gn, obj)
	} else if notif := gn.Notification(); notif != nil {
		n.Type = "NOTIFTYPE"
		n.Description = notif.Description()
	}
	if parent != nil {
		t.byOID[n.OID] = n
		if n.Label != "" {
			t.byLabel[n.Label] = n
			t.all[n.Label] = append(t.all[n.Label], n)
		}
	}
	children := gn.Children()
	sort.Slice(children, func(i, j int) bool { return children[i].Arc() < children[j].Arc() })
	for _, c := range children {
		n.Children = append(n.Children, t.convert(c, n, n.OID))
		for _, obj := range t.aliases[c] {
			alias := &Node{Parent: n, OID: n.Children[len(n.Children)-1].OID, Type: "OTHER", Access: "unknown", Label: obj.Name()}
			if obj.Module() != nil {
				alias.Module = obj.Module().Name()
			}
			t.describeObject(alias, c, obj)
			t.byLabel[alias.Label] = alias
			t.all[alias.Label] = append(t.all[alias.Label], alias)
			n.Children = append(n.Children, alias)
		}
	}
	return n
}

// baseTypeNames are the SMI's own types; any other named type in a SYNTAX
// chain is a textual convention (or type assignment) in net-snmp's sense.
var baseTypeNames = map[string]bool{
	"INTEGER": true, "Integer32": true, "Unsigned32": true, "Gauge32": true, "Gauge": true,
	"Counter32": true, "Counter": true, "Counter64": true, "TimeTicks": true, "IpAddress": true,
	"NetworkAddress": true, "Opaque": true, "OCTET STRING": true, "OBJECT IDENTIFIER": true, "BITS": true,
}

func (t *Tree) describeObject(n *Node, gn *gomibtypes.Node, obj *gomibtypes.Object) {
	n.Description = obj.Description()
	n.Units = obj.Units()
	n.Access = accessName(obj.Access())
	switch gn.Kind() {
	case gomibtypes.KindTable:
		return
	case gomibtypes.KindRow:
		if items, ok := t.files[n.Module].indexes[n.Label]; ok {
			// IndexOIDs are filled in by Load once every node exists.
			for _, ix := range items {
				n.Indexes = append(n.Indexes, ix.name)
				n.ImpliedIndex = n.ImpliedIndex || ix.implied
			}
		} else {
			for _, ix := range obj.Index() {
				if ix.Object == nil {
					continue
				}
				n.Indexes = append(n.Indexes, ix.Object.Name())
				n.IndexOIDs = append(n.IndexOIDs, ix.Object.OID().String())
				n.ImpliedIndex = n.ImpliedIndex || ix.Implied
			}
		}
		if a := obj.Augments(); a != nil {
			n.Augments = a.Name()
		}
		return
	}
	typ := obj.Type()
	if typ == nil {
		return // unresolved SYNTAX: reported as a diagnostic, not a metric
	}
	n.Type = netsnmpType(typ)
	n.Hint = obj.EffectiveDisplayHint()
	for t := typ; t != nil; t = t.Parent() {
		if t.Name() == "" || baseTypeNames[t.Name()] {
			continue
		}
		n.TextualConvention = t.Name()
		n.FixedSize = fixedSize(t)
		break
	}
	enums := obj.EffectiveEnums()
	bits := obj.EffectiveBits()
	if len(enums)+len(bits) > 0 {
		n.EnumValues = make(map[int]string, len(enums)+len(bits))
		for _, e := range enums {
			n.EnumValues[int(e.Value)] = e.Label
		}
		for _, b := range bits {
			n.EnumValues[int(b.Value)] = b.Label
		}
	}
}

// fixedSize mirrors net-snmp: a textual convention whose only range is a
// single value (SIZE (6) for MacAddress) has that fixed size.
func fixedSize(t *gomibtypes.Type) int {
	r := t.Sizes()
	if len(r) == 0 {
		r = t.Ranges()
	}
	if len(r) == 1 && r[0].Min == r[0].Max {
		return int(r[0].Min)
	}
	return 0
}

func netsnmpType(t *gomibtypes.Type) string {
	if len(t.EffectiveBits()) > 0 {
		return "BITSTRING"
	}
	switch t.EffectiveBase() {
	case gomibtypes.BaseInteger32:
		// net-snmp tells INTEGER from Integer32; both are gauges here.
		return "INTEGER"
	case gomibtypes.BaseUnsigned32:
		return "UNSIGNED32"
	case gomibtypes.BaseGauge32:
		return "GAUGE"
	case gomibtypes.BaseCounter32:
		return "COUNTER"
	case gomibtypes.BaseCounter64:
		return "COUNTER64"
	case gomibtypes.BaseTimeTicks:
		return "TIMETICKS"
	case gomibtypes.BaseIpAddress:
		return "IPADDR"
	case gomibtypes.BaseOctetString:
		return "OCTETSTR"
	case gomibtypes.BaseObjectIdentifier:
		return "OBJID"
	case gomibtypes.BaseBits:
		return "BITSTRING"
	case gomibtypes.BaseOpaque:
		return "OPAQUE"
	default:
		return "OTHER"
	}
}

func accessName(a gomibtypes.Access) string {
	switch a {
	case gomibtypes.AccessReadOnly:
		return "ACCESS_READONLY"
	case gomibtypes.AccessReadWrite:
		return "ACCESS_READWRITE"
	case gomibtypes.AccessReadCreate:
		return "ACCESS_CREATE"
	case gomibtypes.AccessNotAccessible:
		return "ACCESS_NOACCESS"
	case gomibtypes.AccessAccessibleForNotify:
		return "ACCESS_NOTIFY"
	case gomibtypes.AccessWriteOnly:
		return "ACCESS_WRITEONLY"
	default:
		return "unknown"
	}
}
