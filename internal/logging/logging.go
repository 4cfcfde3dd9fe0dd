package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/common/promslog"
)

// The flag names, as promslog/flag's LevelFlagName and FormatFlagName.
const (
	LevelFlagName  = "log.level"
	FormatFlagName = "log.format"
)

// The flags' help, as promslog/flag's LevelFlagHelp and FormatFlagHelp.
var (
	LevelFlagHelp  = "Only log messages with the given severity or above. One of: [" + strings.Join(promslog.LevelFlagOptions, ", ") + "]"
	FormatFlagHelp = "Output format of log messages. One of: [" + strings.Join(promslog.FormatFlagOptions, ", ") + "]"
)

// Config is what the flags set: a promslog configuration, info and logfmt by default.
type Config struct {
	promslog.Config
}

// NewConfig returns the defaults: info, logfmt.
func NewConfig() *Config {
	c := &Config{promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat()}}
	if err := c.Format.Set(promslog.FormatFlagOptions[0]); err != nil {
		panic(err) // "logfmt" is promslog's first format
	}
	return c
}

// AddFlags registers --log.level and --log.format on fs and returns the configuration they set.
// An invalid value is a parse error naming the flag and listing the values it takes:
//
//	invalid value "loud" for flag -log.level: unrecognized log level loud (one of: debug, info, warn, error)
func AddFlags(fs *flag.FlagSet) *Config {
	c := NewConfig()
	fs.Var(c.LevelValue(), LevelFlagName, LevelFlagHelp)
	fs.Var(options{c.Format, promslog.FormatFlagOptions}, FormatFlagName, FormatFlagHelp)
	return c
}

// LevelValue is the level as a flag.Value, for a second spelling of the flag (the simulator's
// snmpsim-compatible --log-level).
func (c *Config) LevelValue() flag.Value {
	return options{c.Level, promslog.LevelFlagOptions}
}

// New returns the logger the flags chose, writing to w.
func (c *Config) New(w io.Writer) *slog.Logger {
	pc := c.Config
	pc.Writer = w
	return promslog.New(&pc)
}

// SlogLevel is the chosen level as an slog.Level.
func (c *Config) SlogLevel() slog.Level { return c.Level.Level() }

// options wraps a promslog value so that its error lists the values the flag takes.
type options struct {
	v interface {
		String() string
		Set(string) error
	}
	allowed []string
}

func (o options) String() string {
	if o.v == nil { // flag.isZeroValue calls String on a zero value
		return ""
	}
	return o.v.String()
}

func (o options) Set(s string) error {
	if err := o.v.Set(s); err != nil {
		return fmt.Errorf("%w (one of: %s)", err, strings.Join(o.allowed, ", "))
	}
	return nil
}
