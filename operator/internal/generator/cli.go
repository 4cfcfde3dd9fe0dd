package generator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v2"

	"github.com/wattson-dev/wattson/internal/listflag"
	"github.com/wattson-dev/wattson/internal/logging"
	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// Exit codes of Main.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// options are the flags of snmp_exporter's generator, plus ours.
type options struct {
	generatorPath     string
	outputPath        string
	energyOutputPath  string
	mibsDirs          listflag.Strings
	failOnParseErrors bool
	noFailOnParse     bool
}

// Main runs the generator command line: args[0] is the subcommand
// ("generate", or "parse-errors"/"parse_errors"), the rest are flags with
// the names snmp_exporter's generator uses. It returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	cmd := args[0]
	var o options
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.mibsDirs, "mibs-dir", "directory of MIB files (repeatable; read flat, first module definition wins)")
	fs.Var(&o.mibsDirs, "m", "shorthand for --mibs-dir")
	fs.BoolVar(&o.failOnParseErrors, "fail-on-parse-errors", false, "exit non-zero if any MIB has an error-severity problem, even one no module needs")
	fs.BoolVar(&o.noFailOnParse, "no-fail-on-parse-errors", false, "accepted for compatibility with snmp_exporter's generator (the default)")
	logConfig := logging.AddFlags(fs)
	fs.String("snmp.mibopts", "", "accepted for compatibility with snmp_exporter's generator; ignored")
	switch cmd {
	case "generate":
		fs.StringVar(&o.generatorPath, "generator-path", "generator.yml", "path to the input generator.yml")
		fs.StringVar(&o.generatorPath, "g", "generator.yml", "shorthand for --generator-path")
		fs.StringVar(&o.outputPath, "output-path", "snmp.yml", "path to write snmp_exporter's config")
		fs.StringVar(&o.outputPath, "o", "snmp.yml", "shorthand for --output-path")
		fs.StringVar(&o.energyOutputPath, "energy-output-path", "", "path to write the resolved x-wattson-energy annotations (YAML); none if empty")
	case "parse-errors", "parse_errors":
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "unknown command %q\n", cmd)
		usage(stderr)
		return exitUsage
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		return exitUsage
	}
	if o.noFailOnParse {
		o.failOnParseErrors = false
	}
	logger := logConfig.New(stderr)
	if len(o.mibsDirs) == 0 {
		logger.Error("no MIB directory given", "help", "pass --mibs-dir DIR (repeatable)")
		return exitUsage
	}
	ctx := context.Background()
	if cmd == "generate" {
		return generate(ctx, o, logger)
	}
	return parseErrors(ctx, o, stdout, logger)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  generate --generator-path F --mibs-dir D [--mibs-dir D2] --output-path O [--energy-output-path E] [--fail-on-parse-errors]
  parse-errors --mibs-dir D [--mibs-dir D2] [--fail-on-parse-errors]
`)
}

func generate(ctx context.Context, o options, logger *slog.Logger) int {
	content, err := os.ReadFile(o.generatorPath)
	if err != nil {
		logger.Error("cannot read generator config", "err", err)
		return exitError
	}
	gen, err := ParseGeneratorConfig(content)
	if err != nil {
		logger.Error("invalid generator config", "file", o.generatorPath, "err", err)
		return exitError
	}
	logger.Info("loading MIBs", "dirs", strings.Join(o.mibsDirs, ":"))
	c, diags, err := NewCompiler(ctx, mib.Dirs(o.mibsDirs...), WithLogger(logger))
	if err != nil {
		logger.Error("cannot load MIBs", "err", err)
		return exitError
	}
	logDiagnostics(logger, diags)
	if errs := diags.Errors(); o.failOnParseErrors && len(errs) > 0 {
		logger.Error("failing on MIB errors", "errors", len(errs), "help", "run 'parse-errors' to list them, or drop --fail-on-parse-errors")
		return exitError
	}
	res, _, err := c.Compile(gen)
	if err != nil {
		logger.Error("cannot generate config", "err", err)
		return exitError
	}
	if err := writeFile(o.outputPath, res.SnmpYAML); err != nil {
		logger.Error("cannot write output", "err", err)
		return exitError
	}
	logger.Info("config written", "file", o.outputPath)
	if o.energyOutputPath != "" {
		out, err := yaml.Marshal(res.Energy)
		if err != nil {
			logger.Error("cannot marshal energy annotations", "err", err)
			return exitError
		}
		if err := writeFile(o.energyOutputPath, out); err != nil {
			logger.Error("cannot write energy annotations", "err", err)
			return exitError
		}
		logger.Info("energy annotations written", "file", o.energyOutputPath, "metrics", len(res.Energy.Metrics))
	}
	return exitOK
}

// logDiagnostics summarises MIB problems; parse-errors lists them all.
func logDiagnostics(logger *slog.Logger, diags Diagnostics) {
	for _, d := range diags {
		switch d.Severity {
		case mib.SeverityError:
			logger.Warn("MIB problem", "at", d.Location(), "code", d.Code, "msg", d.Message)
		case mib.SeverityWarning:
			logger.Debug("MIB warning", "at", d.Location(), "code", d.Code, "msg", d.Message)
		}
	}
	if n := len(diags.Errors()); n > 0 {
		logger.Warn("MIBs have problems; generation fails only if a module needs a broken object", "errors", n, "help", "run 'parse-errors' to list them")
	}
}

func parseErrors(ctx context.Context, o options, stdout io.Writer, logger *slog.Logger) int {
	_, diags, err := mib.Load(ctx, mib.Dirs(o.mibsDirs...))
	if err != nil {
		logger.Error("cannot load MIBs", "err", err)
		return exitError
	}
	for _, d := range diags {
		if d.Severity == mib.SeverityInfo {
			continue
		}
		fmt.Fprintln(stdout, d.String())
	}
	errs := len(diags.Errors())
	if len(diags) == 0 {
		logger.Info("no parse errors")
	}
	if o.failOnParseErrors && errs > 0 {
		return exitError
	}
	return exitOK
}

// writeFile writes atomically so a failed run leaves the old file intact.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("renaming into %s: %w", path, err)
	}
	return nil
}
