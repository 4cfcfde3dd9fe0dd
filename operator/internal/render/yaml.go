package render

import (
	"bytes"
	"encoding/json"
	"fmt"

	yamlv3 "go.yaml.in/yaml/v3"
)

// marshalYAML writes v as YAML in its JSON field order, without wrapping long lines: PromQL
// expressions stay on one line, so the output reads (and diffs) like hand-written config.
func marshalYAML(v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var node yamlv3.Node
	if err := yamlv3.Unmarshal(j, &node); err != nil {
		return nil, err
	}
	clearStyle(&node)
	var buf bytes.Buffer
	enc := yamlv3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return nil, fmt.Errorf("encoding yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// clearStyle drops the flow style and quoting JSON input implies, so the output is block YAML.
func clearStyle(n *yamlv3.Node) {
	n.Style = 0
	for _, c := range n.Content {
		clearStyle(c)
	}
}
