package buildinfo

import (
	"flag"
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
)

// Namespace prefixes the gauge: wattson_build_info, one name for every binary (the job label
// tells them apart), as prometheus_build_info is for Prometheus's.
const Namespace = "wattson"

// Devel is the version of a build without -ldflags (go build, go run, go test).
const Devel = "devel"

func init() {
	if version.Version == "" {
		version.Version = Devel
	}
}

// NewCollector returns the wattson_build_info gauge: always 1, labelled with version, revision,
// branch, goversion, goos, goarch and tags.
func NewCollector() prometheus.Collector { return versioncollector.NewCollector(Namespace) }

// Register adds wattson_build_info to reg.
func Register(reg prometheus.Registerer) error {
	if err := reg.Register(NewCollector()); err != nil {
		return fmt.Errorf("registering %s_build_info: %w", Namespace, err)
	}
	return nil
}

// Print is the --version text of program, as Prometheus's binaries print it.
func Print(program string) string { return version.Print(program) }

// Version is the version the binary was built as ("devel" without -ldflags).
func Version() string { return version.Version }

// Flag adds --version to fs. After fs.Parse, if it was set, the caller prints Print and exits 0:
//
//	showVersion := buildinfo.Flag(fs)
//	...
//	if *showVersion { fmt.Println(buildinfo.Print("wattson-runtime")); return 0 }
func Flag(fs *flag.FlagSet) *bool {
	return fs.Bool("version", false, "print the version and build information, then exit")
}

// Fprint writes Print(program) and a newline to w.
func Fprint(w io.Writer, program string) {
	fmt.Fprintln(w, Print(program))
}
