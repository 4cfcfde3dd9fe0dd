package generator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"

	"github.com/prometheus/snmp_exporter/config"
	"go.yaml.in/yaml/v2"

	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// MIBSource is where MIB files come from: directories and/or in-memory
// files (file name -> content, e.g. a ConfigMap's data).
type MIBSource = mib.Source

// Diagnostics are MIB problems and generator warnings, each with file:line
// where known.
type Diagnostics = mib.Diagnostics

// Header starts every generated snmp.yml, as in snmp_exporter.
const Header = "# WARNING: This file was auto-generated using snmp_exporter generator, manual changes will be lost.\n"

// Result is a compiled snmp_exporter configuration.
type Result struct {
	// Config is snmp_exporter's configuration (auths and modules).
	Config *config.Config
	// SnmpYAML is Config marshalled, with Header, and re-parsed strictly by
	// snmp_exporter's config package.
	SnmpYAML []byte
	// Energy holds the resolved energy annotations of all modules.
	Energy Energy
}

// Compiler holds loaded MIBs; one Compiler compiles many modules. It is
// safe for concurrent use.
type Compiler struct {
	tree   *mib.Tree
	diags  Diagnostics
	broken map[string]mib.Diagnostics
	logger *slog.Logger
}

// Option configures a Compiler.
type Option func(*Compiler)

// WithLogger sets where warnings are logged (default: discarded; they are
// also returned as Diagnostics).
func WithLogger(l *slog.Logger) Option { return func(c *Compiler) { c.logger = l } }

// NewCompiler loads the MIBs of src. MIB problems are returned as
// diagnostics; the error is for unreadable sources.
func NewCompiler(ctx context.Context, src MIBSource, opts ...Option) (*Compiler, Diagnostics, error) {
	c := &Compiler{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(c)
	}
	tree, diags, err := mib.Load(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	prepare(tree, c.logger)
	c.tree, c.diags, c.broken = tree, diags, brokenIndex(diags)
	return c, diags, nil
}

// Module generates one snmp_exporter module and its energy annotations.
func (c *Compiler) Module(name string, gm *GeneratorModule) (*config.Module, []EnergyMetric, Diagnostics, error) {
	if err := gm.Validate(); err != nil {
		return nil, nil, nil, fmt.Errorf("module %s: %w", name, err)
	}
	b := &moduleBuilder{tree: c.tree, name: name, cfg: gm, logger: c.logger, broken: c.broken, extra: energyWalks(gm)}
	if len(gm.MIBs) > 0 {
		b.scope = c.tree.Imports(gm.MIBs)
	}
	plans, lookups, err := b.planEnergy()
	if err != nil {
		return nil, nil, nil, withModule(name, err)
	}
	if len(lookups) > 0 {
		cfg := *gm
		cfg.Lookups = append(slices.Clone(gm.Lookups), lookups...)
		b.cfg = &cfg
	}
	out, err := b.build()
	if err != nil {
		return nil, nil, b.diags, withModule(name, err)
	}
	energy, err := b.resolveEnergy(out, plans)
	if err != nil {
		return nil, nil, b.diags, err
	}
	return out, energy, b.diags, nil
}

func withModule(name string, err error) error {
	var nf *NotFoundError
	var bd *BrokenDependencyError
	var an *AmbiguousNameError
	var ef *EnergyFieldError
	if errors.As(err, &nf) || errors.As(err, &bd) || errors.As(err, &an) || errors.As(err, &ef) {
		return err
	}
	return fmt.Errorf("module %s: %w", name, err)
}

// marshalMu guards config.DoNotHideSecrets, a package-level switch in
// snmp_exporter's config package.
var marshalMu sync.Mutex

// Compile loads MIBs from src and generates every module of gen. The
// returned diagnostics include MIB problems that did not stop generation.
func Compile(ctx context.Context, src MIBSource, gen *GeneratorConfig, opts ...Option) (*Result, Diagnostics, error) {
	c, diags, err := NewCompiler(ctx, src, opts...)
	if err != nil {
		return nil, nil, err
	}
	res, more, err := c.Compile(gen)
	return res, append(diags, more...), err
}

// Compile generates every module of gen from the loaded MIBs.
func (c *Compiler) Compile(gen *GeneratorConfig) (*Result, Diagnostics, error) {
	var diags Diagnostics
	out := &config.Config{Auths: gen.Auths, Modules: make(map[string]*config.Module, len(gen.Modules)), Version: gen.Version}
	res := &Result{Config: out}
	names := make([]string, 0, len(gen.Modules))
	for name := range gen.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m, energy, d, err := c.Module(name, gen.Modules[name])
		diags = append(diags, d...)
		if err != nil {
			return nil, diags, err
		}
		c.logger.Info("generated module", "module", name, "metrics", len(m.Metrics))
		out.Modules[name] = m
		res.Energy.Metrics = append(res.Energy.Metrics, energy...)
	}
	b, err := MarshalConfig(out)
	if err != nil {
		return nil, diags, err
	}
	res.SnmpYAML = b
	return res, diags, nil
}

// MarshalConfig renders an snmp_exporter config with Header and checks it
// by parsing it back strictly with snmp_exporter's own config package.
func MarshalConfig(cfg *config.Config) ([]byte, error) {
	marshalMu.Lock()
	config.DoNotHideSecrets = true
	out, err := yaml.Marshal(cfg)
	config.DoNotHideSecrets = false
	marshalMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("marshalling snmp.yml: %w", err)
	}
	if err := yaml.UnmarshalStrict(out, &config.Config{}); err != nil {
		return nil, fmt.Errorf("generated snmp.yml does not parse: %w", err)
	}
	return append([]byte(Header), out...), nil
}
