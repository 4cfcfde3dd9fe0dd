// Package specs is Wattson's energy-pipeline suite: Ginkgo specs (in the _test files) that assert
// against the live system that every PDU is read, scraped, normalised and alerted on correctly.
//
// Compile it with `go test -c -o bin/specs.test ./specs`; the runtime runs that binary once per
// iteration. The helper packages beside it (config, prom, kube, sim, alerts) are public so that
// spec authors, here and elsewhere, can use them. See README.md.
package specs
