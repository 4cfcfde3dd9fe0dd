package controller

import (
	"context"
	"sync"

	"github.com/prometheus/snmp_exporter/config"

	"github.com/wattson-dev/wattson/operator/internal/generator"
)

// GeneratorCompiler is the MIB compiler of package generator, with the parsed MIBs of the last
// file set cached: every model reconciled against the same ConfigMaps reuses one parse.
type GeneratorCompiler struct {
	mu    sync.Mutex
	hash  string
	c     *generator.Compiler
	diags generator.Diagnostics
}

// CompileModule compiles one generator module against a set of MIB files (name -> content)
// whose hash is filesHash, parsing them again only when the hash changes. The returned diagnostics are the MIB problems of the
// whole file set plus the module's own warnings.
func (g *GeneratorCompiler) CompileModule(ctx context.Context, files map[string][]byte, filesHash, name string, gm *generator.GeneratorModule) (*config.Module, []generator.EnergyMetric, generator.Diagnostics, error) {
	g.mu.Lock()
	if g.c == nil || g.hash != filesHash {
		c, diags, err := generator.NewCompiler(ctx, generator.MIBSource{Files: files})
		if err != nil {
			g.mu.Unlock()
			return nil, nil, nil, err
		}
		g.c, g.diags, g.hash = c, diags, filesHash
	}
	c, diags := g.c, g.diags
	g.mu.Unlock()
	mod, energy, more, err := c.Module(name, gm)
	return mod, energy, append(append(generator.Diagnostics{}, diags...), more...), err
}
