package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// component is a part of the kit the chart installs or leaves out by a value.
type component struct {
	// dir is the kustomization whose build holds the component's objects.
	dir string
	// root: listed in the root kustomization.yaml (every such entry needs a component).
	root bool
	// depth: an object in several builds belongs to the deepest (byo-prometheus is in full-stack).
	depth int
	// file is the template file under templates/.
	file  string
	conds []string
}

// components: the root kustomization.yaml's resources, and byo-prometheus, which full-stack
// includes and which is what an existing Prometheus needs (its rules, monitors and dashboard).
var components = []component{
	{dir: "monitoring/operator", root: true, file: "operator.yaml", conds: []string{"operator.enabled"}},
	{dir: "runtime/config", root: true, file: "runtime.yaml", conds: []string{"runtime.enabled"}},
	{dir: "monitoring/network-policies", root: true, file: "network-policies.yaml", conds: []string{"networkPolicies.enabled"}},
	{dir: "monitoring/overlays/full-stack", root: true, file: "prometheus-stack.yaml", conds: []string{"prometheusStack.enabled"}},
	{dir: "monitoring/overlays/byo-prometheus", depth: 1, file: "monitoring.yaml", conds: []string{"monitoring.enabled"}},
}

// namespaces holds the Namespace objects: wattson-system always (every component lives there),
// wattson-monitoring with the stack.
var namespaces = component{dir: "the components above", file: "namespaces.yaml"}

// also ties objects of one component to another one they watch or admit: the runtime's
// monitor, rules and NetworkPolicy go with the runtime, the operator's and its exporter's with
// the operator.
var also = []struct{ group, kind, namespace, name, cond string }{
	{"networking.k8s.io", "NetworkPolicy", "wattson-system", "wattson-runtime", "runtime.enabled"},
	{"networking.k8s.io", "NetworkPolicy", "wattson-system", "wattson-operator", "operator.enabled"},
	{"networking.k8s.io", "NetworkPolicy", "wattson-system", "wattson-exporter", "operator.enabled"},
	{"monitoring.coreos.com", "ServiceMonitor", "wattson-system", "wattson-operator", "operator.enabled"},
	{"monitoring.coreos.com", "ServiceMonitor", "wattson-system", "wattson-snmp-exporter", "operator.enabled"},
}

// conditionalItems are list items rendered only with a component: the kit's "is it down"
// alerts for the operator, its exporter and the runtime would otherwise fire for ever when that
// component is not installed.
var conditionalItems = []struct{ kind, namespace, name, path, cond string }{
	{"PrometheusRule", "wattson-system", "wattson-kit", "spec.groups[name=wattson.kit].rules[alert=WattsonOperatorDown]", "operator.enabled"},
	{"PrometheusRule", "wattson-system", "wattson-kit", "spec.groups[name=wattson.kit].rules[alert=WattsonExporterDown]", "operator.enabled"},
	{"PrometheusRule", "wattson-system", "wattson-kit", "spec.groups[name=wattson.kit].rules[alert=WattsonRuntimeDown]", "runtime.enabled"},
}

// site is where a knob applies: objects of kind (and namespace/name when set), at path.
type site struct{ kind, namespace, name, path string }

func (s site) String() string { return fmt.Sprintf("%s %s/%s %s", s.kind, s.namespace, s.name, s.path) }

// how a knob's sites are templated.
type how int

const (
	// scalar: the field's value is the value's (default: the kustomize value; all sites agree).
	scalar how = iota
	// block: a mapping or list, rendered with toYaml (default: the kustomize value).
	block
	// orDefault: a string that keeps its kustomize value unless the value is set (default "").
	// A site path ending in [^PREFIX] is a list item PREFIX+VALUE (a flag).
	orDefault
	// appendItems: items appended to the list at the site (default []).
	appendItems
	// appendFlag: a flag --NAME=VALUE appended to the list at the site when the value is set
	// (default "").
	appendFlag
	// peer: a NetworkPolicy peer equal to the default (the site path selects the lists holding it).
	peer
	// base64: a Secret's data, given as text (default: the decoded kustomize value).
	base64Text
	// optionalField: a field the kustomize build leaves out, added to the mapping at the site
	// under the knob's key when the value is set (default {}).
	optionalField
)

type knob struct {
	value string
	how   how
	sites []site
	// flag is appendFlag's flag name (with the leading --).
	flag string
	// key is optionalField's field name.
	key string
}

// Images: every string that names one of these images (alone, or after a flag's =) is templated
// from IMAGE.repository and IMAGE.tag. Wattson's tag defaults to the chart's appVersion.
var images = []struct{ value, repository string }{
	{"image", kitImage},
	{"prometheusStack.prometheusOperator.image", "quay.io/prometheus-operator/prometheus-operator"},
	{"prometheusStack.prometheusOperator.configReloaderImage", "quay.io/prometheus-operator/prometheus-config-reloader"},
	{"prometheusStack.prometheus.image", "quay.io/prometheus/prometheus"},
	{"prometheusStack.alertmanager.image", "quay.io/prometheus/alertmanager"},
}

// kitImage is the one image holding every Wattson binary (Dockerfile).
const kitImage = "ghcr.io/wattson-dev/wattson"

var operatorContainer = "spec.template.spec.containers[name=manager]"

var knobs = []knob{
	{value: "operator.replicas", how: scalar, sites: []site{{"Deployment", "wattson-system", "wattson-operator", "spec.replicas"}}},
	{value: "operator.resources", how: block, sites: []site{{"Deployment", "wattson-system", "wattson-operator", operatorContainer + ".resources"}}},
	{value: "operator.extraArgs", how: appendItems, sites: []site{{"Deployment", "wattson-system", "wattson-operator", operatorContainer + ".args"}}},
	{value: "exporter.image", how: appendFlag, flag: "--exporter.image", sites: []site{{"Deployment", "wattson-system", "wattson-operator", operatorContainer + ".args"}}},
	// The energy Suite (runtime/config/suite.yaml): the operator renders the runtime from it.
	{value: "runtime.replicas", how: scalar, sites: []site{{"Suite", "wattson-system", "energy", "spec.replicas"}}},
	{value: "runtime.resources", how: block, sites: []site{{"Suite", "wattson-system", "energy", "spec.resources"}}},
	{value: "runtime.interval", how: scalar, sites: []site{{"Suite", "wattson-system", "energy", "spec.interval"}}},
	{value: "runtime.timeout", how: scalar, sites: []site{{"Suite", "wattson-system", "energy", "spec.timeout"}}},
	{value: "runtime.labelFilter", how: scalar, sites: []site{{"Suite", "wattson-system", "energy", "spec.labelFilter"}}},
	{value: "runtime.extraEnv", how: appendItems, sites: []site{{"Suite", "wattson-system", "energy", "spec.env"}}},
	{value: "runtime.store", how: optionalField, key: "store", sites: []site{{"Suite", "wattson-system", "energy", "spec"}}},
	// Bring your own Prometheus: where the operator and the runtime find it.
	{value: "prometheus.url", how: orDefault, sites: []site{
		{"Deployment", "wattson-system", "wattson-operator", operatorContainer + ".args[^--prometheus.url=]"},
		{"Suite", "wattson-system", "energy", "spec.env[name=WATTSON_PROMETHEUS_URL].value"},
	}},
	{value: "alertmanager.url", how: orDefault, sites: []site{
		{"Suite", "wattson-system", "energy", "spec.env[name=WATTSON_ALERTMANAGER_URL].value"},
	}},
	// Who may reach the components' metrics: the kit's Prometheus, or yours.
	{value: "networkPolicies.prometheus", how: peer, sites: []site{
		{"NetworkPolicy", "wattson-system", "wattson-exporter", "spec.ingress"},
		{"NetworkPolicy", "wattson-system", "wattson-runtime", "spec.ingress"},
		{"NetworkPolicy", "wattson-system", "wattson-operator", "spec.ingress"},
	}},
	{value: "prometheusStack.prometheusOperator.resources", how: block, sites: []site{{"Deployment", "wattson-monitoring", "wattson-prometheus-operator", "spec.template.spec.containers[name=prometheus-operator].resources"}}},
	{value: "prometheusStack.prometheus.replicas", how: scalar, sites: []site{{"Prometheus", "wattson-monitoring", "wattson", "spec.replicas"}}},
	{value: "prometheusStack.prometheus.resources", how: block, sites: []site{{"Prometheus", "wattson-monitoring", "wattson", "spec.resources"}}},
	{value: "prometheusStack.prometheus.retention", how: scalar, sites: []site{{"Prometheus", "wattson-monitoring", "wattson", "spec.retention"}}},
	{value: "prometheusStack.prometheus.retentionSize", how: scalar, sites: []site{{"Prometheus", "wattson-monitoring", "wattson", "spec.retentionSize"}}},
	{value: "prometheusStack.prometheus.scrapeInterval", how: scalar, sites: []site{{"Prometheus", "wattson-monitoring", "wattson", "spec.scrapeInterval"}}},
	{value: "prometheusStack.prometheus.evaluationInterval", how: scalar, sites: []site{{"Prometheus", "wattson-monitoring", "wattson", "spec.evaluationInterval"}}},
	{value: "prometheusStack.alertmanager.replicas", how: scalar, sites: []site{{"Alertmanager", "wattson-monitoring", "wattson", "spec.replicas"}}},
	{value: "prometheusStack.alertmanager.resources", how: block, sites: []site{{"Alertmanager", "wattson-monitoring", "wattson", "spec.resources"}}},
	{value: "prometheusStack.alertmanager.config", how: base64Text, sites: []site{{"Secret", "wattson-monitoring", "wattson-alertmanager-config", "data.alertmanager\\.yaml"}}},
}

// versionOf: fields that must name the version of an image's tag (prometheus-operator reads
// spec.version to pick the configuration it generates).
var versionOf = []struct {
	site  site
	image string
}{
	{site{"Prometheus", "wattson-monitoring", "wattson", "spec.version"}, "prometheusStack.prometheus.image"},
	{site{"Alertmanager", "wattson-monitoring", "wattson", "spec.version"}, "prometheusStack.alertmanager.image"},
}

func (s site) match(o *object) bool {
	return o.kind == s.kind && (s.namespace == "" || o.namespace == s.namespace) && (s.name == "" || o.name == s.name)
}

// find resolves a site in every object; it fails unless the site exists.
func find(objs []*object, s site) ([]*yaml.Node, error) {
	var out []*yaml.Node
	for _, o := range objs {
		if s.match(o) {
			out = append(out, resolve(o.doc, s.path)...)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no field at %s in the root kustomize build: the manifest changed; update hack/helmchart/knobs.go", s)
	}
	return out, nil
}

func (g *gen) setDefault(path string, v any) error {
	if old, ok := g.defaults[path]; ok {
		a, _ := yaml.Marshal(old)
		b, _ := yaml.Marshal(v)
		if !bytes.Equal(a, b) {
			return fmt.Errorf("value %s has two defaults in the kustomize build: %s and %s", path, a, b)
		}
	}
	g.defaults[path] = v
	return nil
}

// applyKnobs replaces every knob's fields with placeholders and records the values' defaults.
func (g *gen) applyKnobs(repo string, objs []*object) error {
	if err := g.applyImages(repo, objs); err != nil {
		return err
	}
	for _, k := range knobs {
		for _, s := range k.sites {
			nodes, err := find(objs, s)
			if err != nil {
				return fmt.Errorf("knob %s: %w", k.value, err)
			}
			for _, n := range nodes {
				if err := g.apply(k, s, n); err != nil {
					return fmt.Errorf("knob %s at %s: %w", k.value, s, err)
				}
			}
		}
	}
	for _, c := range conditionalItems {
		nodes, err := find(objs, site{c.kind, c.namespace, c.name, c.path})
		if err != nil {
			return fmt.Errorf("conditional item: %w", err)
		}
		for _, n := range nodes {
			item := *n
			var buf bytes.Buffer
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err := enc.Encode(&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{&item}}); err != nil {
				return err
			}
			text := strings.ReplaceAll(strings.TrimRight(buf.String(), "\n"), "{{", `{{ "{{" }}`)
			cond := c.cond
			setToken(n, g.token(sub{line: func(indent, _ string) string {
				lines := strings.Split(text, "\n")
				for i := range lines {
					lines[i] = indent + lines[i]
				}
				return fmt.Sprintf("{{- if .Values.%s }}\n%s\n{{- end }}", cond, strings.Join(lines, "\n"))
			}}))
		}
	}
	return nil
}

func (g *gen) apply(k knob, s site, n *yaml.Node) error {
	expr := ".Values." + k.value
	switch k.how {
	case scalar:
		v, err := toAny(n)
		if err != nil {
			return err
		}
		if err := g.setDefault(k.value, v); err != nil {
			return err
		}
		if _, isString := v.(string); isString {
			setToken(n, g.token(sub{inline: "{{ " + expr + " | quote }}"}))
		} else {
			setToken(n, g.token(sub{inline: "{{ " + expr + " }}"}))
		}
	case block:
		v, err := toAny(n)
		if err != nil {
			return err
		}
		if err := g.setDefault(k.value, v); err != nil {
			return err
		}
		setToken(n, g.token(sub{line: func(indent, lead string) string {
			return fmt.Sprintf("%s%s\n{{- toYaml %s | nindent %d }}", indent, strings.TrimSuffix(lead, " "), expr, len(indent)+2)
		}}))
	case orDefault:
		if err := g.setDefault(k.value, ""); err != nil {
			return err
		}
		prefix := ""
		if i := strings.LastIndex(s.path, "[^"); i >= 0 && strings.HasSuffix(s.path, "]") {
			prefix = s.path[i+2 : len(s.path)-1]
		}
		orig := strings.TrimPrefix(n.Value, prefix)
		setToken(n, g.token(sub{inline: fmt.Sprintf("{{ printf \"%%s%%s\" %s (%s | default %s) | quote }}", goQuote(prefix), expr, goQuote(orig))}))
	case appendItems:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("not a list")
		}
		if err := g.setDefault(k.value, []any{}); err != nil {
			return err
		}
		t := g.token(sub{line: func(indent, _ string) string {
			return fmt.Sprintf("{{- with %s }}\n{{- toYaml . | nindent %d }}\n{{- end }}", expr, len(indent))
		}})
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t})
	case appendFlag:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("not a list")
		}
		if err := g.setDefault(k.value, ""); err != nil {
			return err
		}
		t := g.token(sub{line: func(indent, _ string) string {
			return fmt.Sprintf("{{- with %s }}\n%s- {{ printf \"%s=%%s\" . | quote }}\n{{- end }}", expr, indent, k.flag)
		}})
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t})
	case optionalField:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("not a mapping")
		}
		if mapGet(n, k.key) != nil {
			return fmt.Errorf("already has %s: make the knob a block", k.key)
		}
		if err := g.setDefault(k.value, map[string]any{}); err != nil {
			return err
		}
		t := g.token(sub{line: func(indent, _ string) string {
			return fmt.Sprintf("{{- with %s }}\n%s%s:\n{{- toYaml . | nindent %d }}\n{{- end }}", expr, indent, k.key, len(indent)+2)
		}})
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "x"})
	case peer:
		// n is the ingress list; the peers to replace are its rules' from items equal to the
		// default (set by the first site: the kit's Prometheus).
		found := 0
		for _, rule := range n.Content {
			from := mapGet(rule, "from")
			if from == nil {
				continue
			}
			for _, p := range from.Content {
				v, err := toAny(p)
				if err != nil {
					return err
				}
				if !isPrometheusPeer(v) {
					continue
				}
				if err := g.setDefault(k.value, v); err != nil {
					return err
				}
				found++
				setToken(p, g.token(sub{line: func(indent, lead string) string {
					return fmt.Sprintf("%s- {{- toYaml %s | nindent %d }}", indent, expr, len(indent)+2)
				}}))
			}
		}
		if found == 0 {
			return fmt.Errorf("no ingress peer selecting the kit's Prometheus")
		}
	case base64Text:
		raw, err := base64.StdEncoding.DecodeString(n.Value)
		if err != nil {
			return err
		}
		if err := g.setDefault(k.value, string(raw)); err != nil {
			return err
		}
		setToken(n, g.token(sub{inline: "{{ " + expr + " | b64enc }}"}))
	}
	return nil
}

// isPrometheusPeer: the peer that selects the kit's Prometheus pods in wattson-monitoring.
func isPrometheusPeer(v any) bool {
	m, _ := v.(map[string]any)
	ns, _ := m["namespaceSelector"].(map[string]any)
	pod, _ := m["podSelector"].(map[string]any)
	nsl, _ := ns["matchLabels"].(map[string]any)
	pl, _ := pod["matchLabels"].(map[string]any)
	return len(m) == 2 && nsl["kubernetes.io/metadata.name"] == "wattson-monitoring" && pl["app.kubernetes.io/name"] == "prometheus"
}

// applyImages templates every string naming one of the images, and the version fields.
func (g *gen) applyImages(repo string, objs []*object) error {
	tags := map[string]string{}
	pullPolicySites := 0
	for _, im := range images {
		count := 0
		for _, o := range objs {
			if o.kind == "CustomResourceDefinition" {
				continue
			}
			var walk func(parent, n *yaml.Node) error
			walk = func(parent, n *yaml.Node) error {
				if n.Kind == yaml.ScalarNode {
					i := strings.Index(n.Value, im.repository+":")
					if i < 0 || (i > 0 && n.Value[i-1] != '=') {
						return nil
					}
					tag := n.Value[i+len(im.repository)+1:]
					if old, ok := tags[im.value]; ok && old != tag {
						return fmt.Errorf("%s: image %s has tags %s and %s in the kustomize build", o.id(), im.repository, old, tag)
					}
					tags[im.value] = tag
					count++
					prefix := n.Value[:i]
					tagExpr := fmt.Sprintf(".Values.%s.tag", im.value)
					if im.value == "image" {
						tagExpr = "(.Values.image.tag | default .Chart.AppVersion)"
					}
					setToken(n, g.token(sub{inline: fmt.Sprintf("{{ printf \"%%s%%s:%%s\" %s .Values.%s.repository %s | quote }}", goQuote(prefix), im.value, tagExpr)}))
					// A container or Suite naming Wattson's image gets image.pullPolicy.
					if im.value == "image" && prefix == "" && parent != nil && parent.Kind == yaml.MappingNode && mapGet(parent, "imagePullPolicy") == nil {
						t := g.token(sub{line: func(indent, _ string) string {
							return fmt.Sprintf("{{- with .Values.image.pullPolicy }}\n%simagePullPolicy: {{ . }}\n{{- end }}", indent)
						}})
						parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "x"})
						pullPolicySites++
					}
					return nil
				}
				// Iterate over a copy: the walk may append to the mapping.
				content := append([]*yaml.Node(nil), n.Content...)
				for i, c := range content {
					if n.Kind == yaml.MappingNode && i%2 == 0 {
						continue
					}
					if err := walk(n, c); err != nil {
						return err
					}
				}
				return nil
			}
			if err := walk(nil, o.doc); err != nil {
				return err
			}
		}
		if count == 0 {
			return fmt.Errorf("image %s (value %s) is in no object of the root kustomize build: update hack/helmchart/knobs.go", im.repository, im.value)
		}
		def := map[string]any{"repository": im.repository, "tag": tags[im.value]}
		if im.value == "image" {
			// The chart's appVersion is Wattson's tag; image.tag overrides it.
			def["tag"] = ""
			def["pullPolicy"] = ""
			g.appVersion = tags[im.value]
		}
		if err := g.setDefault(im.value, def); err != nil {
			return err
		}
	}
	if pullPolicySites == 0 {
		return fmt.Errorf("no container runs %s: image.pullPolicy applies nowhere", kitImage)
	}
	for _, v := range versionOf {
		nodes, err := find(objs, v.site)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Value != tags[v.image] {
				return fmt.Errorf("%s is %q, but its image's tag is %q", v.site, n.Value, tags[v.image])
			}
			setToken(n, g.token(sub{inline: fmt.Sprintf("{{ .Values.%s.tag | quote }}", v.image)}))
		}
	}
	// The release the root kustomization names (make release-manifests moves it).
	data, err := os.ReadFile(filepath.Join(repo, "kustomization.yaml"))
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), "newTag: "+g.appVersion) {
		return fmt.Errorf("the root kustomization.yaml does not name %s's tag %s", kitImage, g.appVersion)
	}
	return nil
}
