package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

//go:embed values.yaml.tmpl
var valuesTemplate string

// valuesYAML renders values.yaml.tmpl with the defaults the knobs took from the kustomize build;
// every default must appear in it once, and it may name no other.
func (g *gen) valuesYAML() ([]byte, error) {
	used := map[string]bool{}
	var errs []string
	funcs := template.FuncMap{
		// y PATH INDENT: the default of PATH as YAML after "key:", nested at INDENT spaces.
		"y": func(path string, indent int) string {
			v, ok := g.defaults[path]
			if !ok {
				errs = append(errs, "values.yaml.tmpl names "+path+", which no knob has")
				return ""
			}
			used[path] = true
			var buf bytes.Buffer
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err := enc.Encode(map[string]any{"x": v}); err != nil {
				errs = append(errs, err.Error())
				return ""
			}
			text := strings.TrimPrefix(strings.TrimRight(buf.String(), "\n"), "x:")
			lines := strings.Split(text, "\n")
			for i := 1; i < len(lines); i++ {
				if lines[i] != "" {
					lines[i] = strings.Repeat(" ", indent-2) + lines[i]
				}
			}
			return strings.Join(lines, "\n")
		},
	}
	t, err := template.New("values.yaml").Funcs(funcs).Option("missingkey=error").Parse(valuesTemplate)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString("# " + generatedMark + "\n# Template: hack/helmchart/values.yaml.tmpl; defaults: the root kustomize build's values.\n")
	if err := t.Execute(&out, nil); err != nil {
		return nil, err
	}
	for path := range g.defaults {
		if !used[path] {
			errs = append(errs, "values.yaml.tmpl does not name the knob "+path)
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out.Bytes(), nil
}

func (g *gen) chartYAML() ([]byte, error) {
	version := strings.TrimPrefix(g.appVersion, "v")
	if version == g.appVersion || version == "" {
		return nil, fmt.Errorf("Wattson's tag %q is not vX.Y.Z: the chart's version is that release's", g.appVersion) //nolint:staticcheck // ST1005: Wattson is a name
	}
	return []byte(fmt.Sprintf(`# %s
apiVersion: v2
name: wattson
description: >-
  Wattson: the energy-monitoring chain of a data centre (PDU, snmp_exporter, Prometheus,
  Alertmanager) declared as Kubernetes resources, with a spec runtime that keeps proving it works.
  The same install as the repository's kustomization.yaml.
type: application
# The release the manifests name (make release-manifests VERSION=vX.Y.Z moves both).
version: %s
appVersion: %s
home: https://github.com/wattson-dev/wattson
sources:
  - https://github.com/wattson-dev/wattson
keywords: [energy, pdu, snmp, prometheus, operator]
`, generatedMark, version, g.appVersion)), nil
}
