package logging_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/wattson-dev/wattson/internal/logging"
)

func TestAddFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		level   string
		format  string
		wantErr string // "" for success
	}{
		{name: "defaults", level: "info", format: "logfmt"},
		{name: "debug json", args: []string{"--log.level=debug", "--log.format=json"}, level: "debug", format: "json"},
		{name: "level is case-insensitive", args: []string{"--log.level=WARN"}, level: "warn", format: "logfmt"},
		{name: "bad level", args: []string{"--log.level=loud"}, wantErr: `invalid value "loud" for flag -log.level: unrecognized log level loud (one of: debug, info, warn, error)`},
		{name: "slog's levels are not promslog's", args: []string{"--log.level=INFO+2"}, wantErr: "flag -log.level"},
		{name: "bad format", args: []string{"--log.format=xml"}, wantErr: `invalid value "xml" for flag -log.format: unrecognized log format xml (one of: logfmt, json)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c := logging.AddFlags(fs)
			err := fs.Parse(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) = %v, want an error containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Level.String() != tc.level || c.Format.String() != tc.format {
				t.Errorf("level, format = %s, %s; want %s, %s", c.Level, c.Format, tc.level, tc.format)
			}
		})
	}
}

// TestHelpShowsDefaults: -h shows both flags with promslog's help and defaults.
func TestHelpShowsDefaults(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	logging.AddFlags(fs)
	fs.PrintDefaults()
	for _, want := range []string{"-log.level", logging.LevelFlagHelp + " (default info)", "-log.format", logging.FormatFlagHelp + " (default logfmt)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

// TestNewJSON: --log.format=json writes one JSON object a line with level and msg, below the
// chosen level nothing.
func TestNewJSON(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c := logging.AddFlags(fs)
	if err := fs.Parse([]string{"--log.format=json", "--log.level=warn"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	log := c.New(&out)
	log.Info("hidden")
	log.Warn("shown", "pdu", "rack-1")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line, got %q", out.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if m["level"] != "WARN" || m["msg"] != "shown" || m["pdu"] != "rack-1" || m["source"] == nil || m["time"] == nil {
		t.Errorf("line = %v, want level WARN, msg shown, pdu rack-1, source and time", m)
	}
}

func TestNewLogfmt(t *testing.T) {
	var out bytes.Buffer
	logging.NewConfig().New(&out).Info("started", "addr", "127.0.0.1:1")
	if s := out.String(); !strings.Contains(s, "level=INFO") || !strings.Contains(s, "msg=started") || !strings.Contains(s, "addr=127.0.0.1:1") {
		t.Errorf("logfmt line = %q", s)
	}
}
