// Package buildinfo is what every Wattson binary says about its own build: the `--version` text
// and the wattson_build_info gauge, both from prometheus/common/version, whose variables `make
// build` and the Dockerfile set with -ldflags from the git tag or commit (LDFLAGS in the Makefile).
// A plain `go build` still reports the VCS revision Go embeds, and the version "devel".
package buildinfo
