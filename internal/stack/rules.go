package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/procs"
)

// AlertRules reads Wattson's alerting rules, the PrometheusRules in monitoring/rules, and returns
// their spec as plain Prometheus rule files (file name -> contents): the same single source that
// a cluster loads through prometheus-operator. A non-zero forOverride replaces every rule's `for`
// duration, so that the demo and the end-to-end test see alerts in seconds rather than minutes.
func AlertRules(forOverride time.Duration) (map[string]string, error) {
	root, err := procs.RepoRoot()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(root, "monitoring", "rules", "wattson-*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no alert rules in %s", filepath.Join(root, "monitoring", "rules"))
	}
	out := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var pr struct {
			Kind string         `json:"kind"`
			Spec map[string]any `json:"spec"`
		}
		if err := yaml.Unmarshal(raw, &pr); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if pr.Kind != "PrometheusRule" {
			continue
		}
		if forOverride > 0 {
			overrideFor(pr.Spec, forOverride)
		}
		b, err := yaml.Marshal(pr.Spec)
		if err != nil {
			return nil, err
		}
		out[filepath.Base(f)[:len(filepath.Base(f))-len(".yaml")]+".yml"] = string(b)
	}
	return out, nil
}

func overrideFor(spec map[string]any, d time.Duration) {
	groups, _ := spec["groups"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		rules, _ := gm["rules"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			if _, ok := rm["for"]; ok {
				rm["for"] = d.String()
			}
		}
	}
}

// WithoutAlerts returns rule files (as from AlertRules) without the alerting rules named, and an
// error naming any that none of the files has.
func WithoutAlerts(files map[string]string, names ...string) (map[string]string, error) {
	found := map[string]bool{}
	out := map[string]string{}
	for file, content := range files {
		var spec map[string]any
		if err := yaml.Unmarshal([]byte(content), &spec); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		groups, _ := spec["groups"].([]any)
		for _, g := range groups {
			gm, _ := g.(map[string]any)
			rules, _ := gm["rules"].([]any)
			kept := rules[:0:0]
			for _, r := range rules {
				rm, _ := r.(map[string]any)
				if name, _ := rm["alert"].(string); slices.Contains(names, name) {
					found[name] = true
					continue
				}
				kept = append(kept, r)
			}
			gm["rules"] = kept
		}
		b, err := yaml.Marshal(spec)
		if err != nil {
			return nil, err
		}
		out[file] = string(b)
	}
	for _, n := range names {
		if !found[n] {
			return nil, fmt.Errorf("no alerting rule %s in the rule files", n)
		}
	}
	return out, nil
}

// SetRuleFiles replaces rule files given in Options.ExtraRuleFiles (name -> contents) and reloads
// Prometheus, as a config reloader does when a PrometheusRule changes.
func (s *Stack) SetRuleFiles(ctx context.Context, files map[string]string) error {
	for name, content := range files {
		if _, ok := s.opts.ExtraRuleFiles[name]; !ok {
			return fmt.Errorf("rule file %s is not one of the stack's (Options.ExtraRuleFiles)", name)
		}
		if err := writeFile(filepath.Join(s.Prometheus.Dir, "rules", name), []byte(content)); err != nil {
			return err
		}
	}
	if err := reload(ctx, s.Prometheus.URL); err != nil {
		return fmt.Errorf("reload Prometheus: %w", err)
	}
	return nil
}
