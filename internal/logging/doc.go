// Package logging gives every Wattson binary the Prometheus ecosystem's logging flags,
// --log.level and --log.format, and the promslog logger they configure.
//
// promslog's own flag helpers (github.com/prometheus/common/promslog/flag) register the flags on
// a kingpin application, as Prometheus and Alertmanager parse theirs. Wattson's binaries use the
// standard library's flag package (the simulator keeps snmpsim's spellings, the generator
// snmp_exporter's generator's), so this package registers promslog's own flag values,
// promslog.Level and promslog.Format, under the same names, defaults and help as promslog/flag,
// without pulling kingpin into every binary.
package logging
