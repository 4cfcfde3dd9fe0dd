package generator

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/snmp_exporter/config"

	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// This file holds snmp_exporter's generator rules (generator/tree.go at
// v0.30.1), re-implemented on mib.Tree. Where the rules look odd (not-
// accessible columns become metrics, lookups count matching indexes, ...)
// that is on purpose: the output must equal the reference generator's.

// combinedTypes are index types whose preceding index names their format;
// the pair collapses into one label.
var combinedTypes = map[string]string{
	"InetAddress":            "InetAddressType",
	"InetAddressMissingSize": "InetAddressType",
	"LldpPortId":             "LldpPortIdSubtype",
}

// displayStringRE matches DISPLAY-HINTs of text, ASCII or UTF-8.
var displayStringRE = regexp.MustCompile(`^\d+[at]$`)

// prepare applies the generator's one-off rewrites of the tree: first
// sentence of descriptions, indexes copied down from rows (and across
// AUGMENTS), and types promoted from hints and textual conventions.
func prepare(t *mib.Tree, logger *slog.Logger) {
	t.Root.Walk(func(n *mib.Node) {
		s := strings.Join(strings.Fields(n.Description), " ")
		n.Description = strings.Split(s, ". ")[0]
		for i, ix := range n.Indexes {
			if ix == "INTEGER" {
				// Example: snSlotsEntry in LANOPTICS-HUB-MIB.
				n.Indexes[i] = n.Label
			}
		}
	})
	t.Root.Walk(func(n *mib.Node) {
		if n.Augments == "" {
			return
		}
		augmented := t.ByLabel(n.Augments)
		if augmented == nil {
			logger.Warn("cannot find augmented row", "augments", n.Augments, "node", n.Label)
			return
		}
		for _, c := range n.Children {
			c.Indexes, c.IndexOIDs, c.ImpliedIndex = augmented.Indexes, augmented.IndexOIDs, augmented.ImpliedIndex
		}
		n.Indexes, n.IndexOIDs, n.ImpliedIndex = augmented.Indexes, augmented.IndexOIDs, augmented.ImpliedIndex
	})
	t.Root.Walk(func(n *mib.Node) {
		if len(n.Indexes) != 0 {
			for _, c := range n.Children {
				c.Indexes, c.IndexOIDs, c.ImpliedIndex = n.Indexes, n.IndexOIDs, n.ImpliedIndex
			}
		}
	})
	t.Root.Walk(func(n *mib.Node) {
		if n.Hint == "1x:" {
			n.Type = "PhysAddress48"
		}
		if displayStringRE.MatchString(n.Hint) {
			n.Type = "DisplayString"
		}
		switch tc := n.TextualConvention; tc {
		case "DisplayString":
			// Some MIBs take it from RFC1213-MIB, which has no hint.
			n.Type = "DisplayString"
		case "PhysAddress":
			n.Type = "PhysAddress48"
		case "Float", "Double", "DateAndTime", "ParseDateAndTime", "NTPTimeStamp",
			"InetAddressIPv4", "InetAddressIPv6", "InetAddress", "LldpPortId":
			n.Type = tc
		}
	})
}

// metricType maps a node type to an snmp_exporter metric type.
func metricType(t string) (string, bool) {
	if _, ok := combinedTypes[t]; ok {
		return t, true
	}
	switch t {
	case "gauge", "INTEGER", "GAUGE", "TIMETICKS", "UINTEGER", "UNSIGNED32", "INTEGER32":
		return "gauge", true
	case "counter", "COUNTER", "COUNTER64":
		return "counter", true
	case "OctetString", "OCTETSTR", "OBJID":
		return "OctetString", true
	case "BITSTRING":
		return "Bits", true
	case "InetAddressIPv4", "IpAddr", "IPADDR", "NETADDR":
		return "InetAddressIPv4", true
	case "PhysAddress48", "DisplayString", "Float", "Double", "InetAddressIPv6",
		"DateAndTime", "ParseDateAndTime", "NTPTimeStamp", "EnumAsInfo", "EnumAsStateSet":
		return t, true
	default:
		return "", false
	}
}

// metricAccess reports whether a node with this access becomes a metric;
// not-accessible index columns do, as in the reference generator.
func metricAccess(a string) bool {
	switch a {
	case "ACCESS_READONLY", "ACCESS_READWRITE", "ACCESS_CREATE", "ACCESS_NOACCESS":
		return true
	default:
		return false
	}
}

// minimizeOids drops OIDs that lie under another one in the list.
func minimizeOids(oids []string) []string {
	sort.Strings(oids)
	prev := ""
	out := []string{}
	for _, oid := range oids {
		if prev == "" || !strings.HasPrefix(oid+".", prev) {
			out = append(out, oid)
			prev = oid + "."
		}
	}
	return out
}

var invalidLabelCharRE = regexp.MustCompile(`[^a-zA-Z0-9_]`)

func sanitizeLabelName(name string) string {
	return invalidLabelCharRE.ReplaceAllString(name, "_")
}

// moduleBuilder generates one snmp_exporter module.
type moduleBuilder struct {
	tree    *mib.Tree
	name    string
	cfg     *GeneratorModule
	logger  *slog.Logger
	broken  map[string]mib.Diagnostics
	types   map[*mib.Node]string // type overrides of this module
	diags   mib.Diagnostics
	walked  map[*mib.Node]bool   // metric roots, for energy checks
	extra   []string             // OIDs added to the walk by energy annotations
	metrics map[string]*mib.Node // metric OID -> node
	// scope are the module's own MIBs and their imports (nil: none given); bare names resolve
	// there first.
	scope map[string]bool
	// resolveErr is the first ambiguous name met.
	resolveErr error
}

func (b *moduleBuilder) warn(msg string, args ...any) {
	b.logger.Warn(msg, append([]any{"module", b.name}, args...)...) //nolint:sloglint // every caller of warn passes a constant message
	var parts []string
	for i := 0; i+1 < len(args); i += 2 {
		parts = append(parts, fmt.Sprintf("%v=%v", args[i], args[i+1]))
	}
	b.diags = append(b.diags, mib.Diagnostic{
		Severity: mib.SeverityWarning, Module: b.name, Code: "generator",
		Message: msg + ": " + strings.Join(parts, " "),
	})
}

func (b *moduleBuilder) typeOf(n *mib.Node) string {
	if t, ok := b.types[n]; ok {
		return t
	}
	return n.Type
}

type oidKind uint8

const (
	oidNotFound oidKind = iota
	oidScalar
	oidInstance
	oidSubtree
)

// metricNode classifies an OID (or unresolved name) to walk.
func (b *moduleBuilder) metricNode(oid string) (*mib.Node, oidKind) {
	if n := b.resolve(oid); n != nil {
		if _, ok := metricType(b.typeOf(n)); ok && metricAccess(n.Access) && len(n.Indexes) == 0 {
			return n, oidScalar
		}
		return n, oidSubtree
	}
	n := b.tree.LongestPrefix(oid)
	if n == nil {
		return nil, oidNotFound
	}
	if _, ok := metricType(b.typeOf(n)); !ok || !metricAccess(n.Access) || len(n.Indexes) == 0 {
		return nil, oidNotFound
	}
	return n, oidInstance
}

// indexNode returns the node for index i of n: the object the row's INDEX
// resolved to, else (as net-snmp) the last node with that label.
func (b *moduleBuilder) indexNode(n *mib.Node, i int) *mib.Node {
	if i < len(n.IndexOIDs) {
		if in := b.tree.ByOID(n.IndexOIDs[i]); in != nil && in.Label == n.Indexes[i] {
			return in
		}
	}
	return b.tree.ByLabel(n.Indexes[i])
}

// lookupNode prefers, among nodes labelled lookup, one in the same row as
// the metric, then falls back to the name map.
func (b *moduleBuilder) lookupNode(lookup, metricOid string) *mib.Node {
	prefix := metricOid[:strings.LastIndex(metricOid, ".")]
	if !strings.Contains(lookup, "::") {
		for _, n := range b.tree.AllByLabel(lookup) {
			if strings.HasPrefix(n.OID, prefix) {
				return n
			}
		}
	}
	return b.resolve(lookup)
}

func (b *moduleBuilder) build() (*config.Module, error) {
	cfg := b.cfg
	out := &config.Module{}
	needToWalk := map[string]struct{}{}
	tableInstances := map[string][]string{}
	b.types = map[*mib.Node]string{}
	b.walked = map[*mib.Node]bool{}
	b.metrics = map[string]*mib.Node{}

	for name, params := range cfg.Overrides {
		if params.Type == "" {
			continue
		}
		n := b.resolve(name)
		if n == nil {
			b.warn("could not find node to override type", "node", name)
			continue
		}
		b.types[n] = params.Type
	}

	type request struct {
		name, field string
		get         bool
	}
	var requests []request
	for _, w := range cfg.Walk {
		requests = append(requests, request{name: w, field: "walk"})
	}
	for _, g := range cfg.Get {
		requests = append(requests, request{name: g, field: "get", get: true})
	}
	for _, e := range b.extra {
		requests = append(requests, request{name: e, field: "x-wattson-energy.decimal_digits_from"})
	}
	toWalk := []string{}
	gets := map[string]bool{}
	for _, r := range requests {
		if strings.HasPrefix(r.name, ".") {
			return nil, fmt.Errorf("invalid OID %s, prefix of '.' should be removed", r.name)
		}
		oid := r.name
		if n := b.resolve(r.name); n != nil {
			oid = n.OID
		} else if b.resolveErr != nil {
			return nil, b.resolveErr
		} else if !isNumericOID(r.name) {
			return nil, b.notFound(r.field, r.name)
		}
		if r.get {
			gets[oid] = true
		}
		toWalk = append(toWalk, oid)
	}
	toWalk = minimizeOids(toWalk)

	metricNodes := map[*mib.Node]struct{}{}
	for _, oid := range toWalk {
		n, kind := b.metricNode(oid)
		if gets[oid] && kind == oidSubtree {
			return nil, fmt.Errorf("get %s (%s): not a scalar or a table instance, list it under walk", oid, n.Label)
		}
		switch kind {
		case oidNotFound:
			return nil, b.notFound("walk", oid)
		case oidSubtree:
			needToWalk[oid] = struct{}{}
		case oidInstance:
			// A trailing period marks a GET instead of a walk.
			needToWalk[oid+"."] = struct{}{}
			tableInstances[n.OID] = append(tableInstances[n.OID], strings.Replace(oid, n.OID, "", 1))
		case oidScalar:
			needToWalk[oid+".0."] = struct{}{}
		}
		if err := b.checkBroken(oid, n); err != nil {
			return nil, err
		}
		metricNodes[n] = struct{}{}
		b.walked[n] = true
	}
	roots := make([]*mib.Node, 0, len(metricNodes))
	for n := range metricNodes {
		roots = append(roots, n)
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].OID < roots[j].OID })

	for _, root := range roots {
		root.Walk(func(n *mib.Node) {
			t, ok := metricType(b.typeOf(n))
			if !ok || !metricAccess(n.Access) {
				return
			}
			metric := &config.Metric{
				Name:       sanitizeLabelName(n.Label),
				Oid:        n.OID,
				Type:       t,
				Help:       n.Description + " - " + n.OID,
				Indexes:    []*config.Index{},
				Lookups:    []*config.Lookup{},
				EnumValues: n.EnumValues,
			}
			if cfg.Overrides[metric.Name].Ignore {
				return
			}
			prevType, prev2Type := "", ""
			for count := range n.Indexes {
				indexNode := b.indexNode(n, count)
				if indexNode == nil {
					b.warn("could not find index for node", "node", n.Label, "index", n.Indexes[count])
					return
				}
				index := &config.Index{Labelname: n.Indexes[count]}
				index.Type, ok = metricType(b.typeOf(indexNode))
				if !ok {
					b.warn("cannot handle index type on node", "node", n.Label, "index", n.Indexes[count], "type", b.typeOf(indexNode))
					return
				}
				index.FixedSize = indexNode.FixedSize
				if n.ImpliedIndex && count+1 == len(n.Indexes) {
					index.Implied = true
				}
				index.EnumValues = indexNode.EnumValues
				// An enum-valued index is labelled with the enum name unless
				// the user asked for its type explicitly (the reference
				// generator does this since after v0.30.1).
				if _, overridden := b.types[indexNode]; !overridden && index.Type == "gauge" && len(index.EnumValues) > 0 {
					index.Type = "EnumAsInfo"
				}
				if subtype, ok := combinedTypes[index.Type]; ok {
					switch subtype {
					case prevType:
						metric.Indexes = metric.Indexes[:len(metric.Indexes)-1]
					case prev2Type:
						metric.Indexes = metric.Indexes[:len(metric.Indexes)-2]
					default:
						b.warn("cannot handle index type on node, missing preceding", "node", n.Label, "type", index.Type, "missing", subtype)
						return
					}
				}
				prev2Type = prevType
				prevType = indexNode.TextualConvention
				metric.Indexes = append(metric.Indexes, index)
			}
			out.Metrics = append(out.Metrics, metric)
			b.metrics[metric.Oid] = n
		})
	}

	filterMap := map[string][]string{}
	for _, f := range cfg.Filters.Static {
		for _, oid := range f.Targets {
			if n := b.resolve(oid); n != nil {
				oid = n.OID
			}
			filterMap[oid] = f.Indices
		}
	}

	requiredAsIndex := []string{}
	for _, l := range cfg.Lookups {
		requiredAsIndex = append(requiredAsIndex, l.SourceIndexes...)
	}
	for _, metric := range out.Metrics {
		toDelete := []string{}
		for _, lookup := range cfg.Lookups {
			found := 0
			for _, index := range metric.Indexes {
				for _, li := range lookup.SourceIndexes {
					if index.Labelname == li {
						found++
					}
				}
			}
			if found != len(lookup.SourceIndexes) {
				continue
			}
			// A lookup in the metric's own row is never ambiguous (the reference generator's
			// rule, which generator.yml files rely on with PDU-MIB and PDU2-MIB loaded).
			indexNode := b.lookupNode(lookup.Lookup, metric.Oid)
			if indexNode == nil {
				if b.resolveErr != nil {
					return nil, b.resolveErr
				}
				return nil, b.notFound("lookup", lookup.Lookup)
			}
			typ, ok := metricType(b.typeOf(indexNode))
			if !ok {
				return nil, fmt.Errorf("lookup %s: unknown index type %s", lookup.Lookup, b.typeOf(indexNode))
			}
			l := &config.Lookup{
				Labelname: sanitizeLabelName(indexNode.Label),
				Type:      typ,
				Oid:       indexNode.OID,
			}
			for _, old := range lookup.SourceIndexes {
				l.Labels = append(l.Labels, sanitizeLabelName(old))
			}
			metric.Lookups = append(metric.Lookups, l)
			if slices.Contains(requiredAsIndex, l.Labelname) {
				metric.Indexes = append(metric.Indexes, &config.Index{Labelname: l.Labelname, Type: l.Type})
			}
			if len(tableInstances[metric.Oid]) > 0 {
				for _, index := range tableInstances[metric.Oid] {
					needToWalk[indexNode.OID+index+"."] = struct{}{}
				}
			} else {
				needToWalk[indexNode.OID] = struct{}{}
			}
			if indices, ok := filterMap[indexNode.OID]; ok {
				delete(needToWalk, metric.Oid)
				for _, index := range indices {
					needToWalk[metric.Oid+"."+index+"."] = struct{}{}
				}
			}
			if lookup.DropSourceIndexes {
				toDelete = append(toDelete, lookup.SourceIndexes...)
			}
		}
		for _, l := range toDelete {
			metric.Lookups = append(metric.Lookups, &config.Lookup{Labelname: sanitizeLabelName(l)})
		}
	}

	for _, metric := range out.Metrics {
		for _, index := range metric.Indexes {
			index.Labelname = sanitizeLabelName(index.Labelname)
		}
	}

	// An InetAddress must follow its InetAddressType; else it is a string.
	for _, metric := range out.Metrics {
		if metric.Type != "InetAddress" && metric.Type != "InetAddressMissingSize" {
			continue
		}
		arcs := strings.Split(metric.Oid, ".")
		last, _ := strconv.Atoi(arcs[len(arcs)-1])
		arcs[len(arcs)-1] = strconv.Itoa(last - 1)
		prevOid := strings.Join(arcs, ".")
		if prev := b.tree.ByOID(prevOid); prev == nil || prev.TextualConvention != "InetAddressType" {
			metric.Type = "OctetString"
			continue
		}
		if len(tableInstances[metric.Oid]) > 0 {
			for _, index := range tableInstances[metric.Oid] {
				needToWalk[prevOid+index+"."] = struct{}{}
			}
		} else {
			needToWalk[prevOid] = struct{}{}
		}
	}

	for name, params := range cfg.Overrides {
		for _, metric := range out.Metrics {
			if name != metric.Name && name != metric.Oid {
				continue
			}
			metric.RegexpExtracts = nil
			if len(params.RegexpExtracts) > 0 {
				metric.RegexpExtracts = map[string][]config.RegexpExtract{}
				for label, res := range params.RegexpExtracts {
					for _, re := range res {
						metric.RegexpExtracts[label] = append(metric.RegexpExtracts[label], re.toConfig())
					}
				}
			}
			metric.DateTimePattern = params.DateTimePattern
			metric.Offset = params.Offset
			metric.Scale = params.Scale
			if params.Help != "" {
				metric.Help = params.Help
			}
			if params.Name != "" {
				metric.Name = params.Name
			}
		}
	}

	for _, f := range cfg.Filters.Static {
		for _, oid := range f.Targets {
			if n := b.resolve(oid); n != nil {
				oid = n.OID
			}
			delete(needToWalk, oid)
			for _, index := range f.Indices {
				needToWalk[oid+"."+index+"."] = struct{}{}
			}
		}
	}
	for _, f := range cfg.Filters.Dynamic {
		out.Filters = append(out.Filters, config.DynamicFilter{Oid: f.Oid, Targets: f.Targets, Values: f.Values})
	}

	oids := make([]string, 0, len(needToWalk))
	for k := range needToWalk {
		oids = append(oids, k)
	}
	for _, k := range minimizeOids(oids) {
		if strings.HasSuffix(k, ".") {
			out.Get = append(out.Get, k[:len(k)-1])
		} else {
			out.Walk = append(out.Walk, k)
		}
	}
	out.WalkParams = cfg.WalkParams.toConfig()
	if b.resolveErr != nil {
		return nil, b.resolveErr
	}
	return out, nil
}

func isNumericOID(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if _, err := strconv.ParseUint(part, 10, 32); err != nil {
			return false
		}
	}
	return true
}
