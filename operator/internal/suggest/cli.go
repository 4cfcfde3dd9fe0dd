package suggest

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/listflag"
	"github.com/wattson-dev/wattson/operator/internal/mib"
)

// Main runs `wattson-operator suggest-model` (args without the subcommand) and returns the exit
// code: 0 with a model, 1 on an error, 2 on bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	var (
		dirs, mibs     listflag.Strings
		recording, out string
		o              Options
	)
	fs := flag.NewFlagSet("suggest-model", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: wattson-operator suggest-model --mibs-dir DIR [--mibs-dir DIR2] --mib MODULE [--recording F.snmprec] [--name NAME] [--output F.yaml]

Proposes a PDUModel from a vendor's MIB (and a recording of the device, from
wattson-snmpsim record): the power, energy, current and voltage objects with their scale,
scope and location. Objects whose unit it cannot read are listed, never guessed.

`)
		fs.PrintDefaults()
	}
	fs.Var(&dirs, "mibs-dir", "directory of MIB files (repeatable)")
	fs.Var(&mibs, "mib", "vendor MIB module to take objects from, e.g. PowerNet-MIB (repeatable)")
	fs.StringVar(&recording, "recording", "", "a .snmprec recording of the device: keep only what it answers, and print each series' SI value")
	fs.StringVar(&o.Name, "name", "", "the PDUModel's name (default: from the first --mib)")
	fs.StringVar(&out, "output", "", "file to write the model to (default: standard output)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(dirs) == 0 || len(mibs) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "suggest-model: --mibs-dir and --mib are required (see -h)")
		return 2
	}
	o.MIBs = mibs
	if recording != "" {
		rec, err := readRecording(recording)
		if err != nil {
			fmt.Fprintln(stderr, "suggest-model:", err)
			return 1
		}
		o.Recording = rec
	}
	res, err := Suggest(context.Background(), mib.Dirs(dirs...), o)
	if err != nil {
		fmt.Fprintln(stderr, "suggest-model:", err)
		return 1
	}
	doc, err := Render(res)
	if err != nil {
		fmt.Fprintln(stderr, "suggest-model:", err)
		return 1
	}
	if out == "" {
		_, _ = stdout.Write(doc)
	} else if err := os.WriteFile(out, doc, 0o644); err != nil {
		fmt.Fprintln(stderr, "suggest-model:", err)
		return 1
	}
	fmt.Fprintf(stderr, "suggest-model: %d energy entries, %d objects left undecided (listed at the top of the model)\n", len(res.Model.Spec.Energy), len(res.Undecided))
	return 0
}

// Render writes the model as YAML, with what to check first as comments: the objects whose
// unit could not be read, the decisions to review, and each series' SI value on the recording.
func Render(res *Result) ([]byte, error) {
	b, err := yaml.Marshal(res.Model)
	if err != nil {
		return nil, fmt.Errorf("marshalling the model: %w", err)
	}
	b = []byte(strings.Replace(string(b), "status: {}\n", "", 1))
	var h strings.Builder
	h.WriteString("# Suggested by wattson-operator suggest-model. Check every value below against the device's display.\n")
	if len(res.Undecided) > 0 {
		h.WriteString("#\n# Not in the model: unit or quantity unreadable from the MIB (add them by hand if you know it):\n")
		for _, u := range res.Undecided {
			fmt.Fprintf(&h, "#   %s: %s\n", u.Object, u.Reason)
		}
	}
	if len(res.Notes) > 0 {
		h.WriteString("#\n# Decisions to review:\n")
		for _, n := range res.Notes {
			fmt.Fprintf(&h, "#   %s\n", n)
		}
	}
	if len(res.Readings) > 0 {
		h.WriteString("#\n# What each series reads on the recording (SI units):\n")
		for _, r := range res.Readings {
			fmt.Fprintf(&h, "#   %s%s: %g -> %.6g %s (%s)\n", r.Object, r.Instance, r.Raw, r.SI, siUnit(string(r.Quantity)), r.Scope)
		}
	}
	return append([]byte(h.String()), b...), nil
}

func siUnit(q string) string {
	return map[string]string{"power": "W", "energy": "J", "current": "A", "voltage": "V", "apparent_power": "VA", "power_factor": "", "temperature": "°C"}[q]
}

func readRecording(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading recording: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		p := strings.SplitN(text, "|", 3)
		if len(p) != 3 {
			return nil, fmt.Errorf("%s:%d: want OID|TAG|VALUE", path, line)
		}
		out[strings.TrimPrefix(p[0], ".")] = p[2]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading recording: %w", err)
	}
	return out, nil
}

// ReadRecording reads a .snmprec file into OID -> value, as Options.Recording wants it.
func ReadRecording(path string) (map[string]string, error) { return readRecording(path) }
