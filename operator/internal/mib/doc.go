// Package mib loads SNMP MIB modules in pure Go and presents them as an OID
// tree shaped like the one net-snmp builds, which is what snmp_exporter's
// generator rules were written against.
//
// Parsing and resolution are done by github.com/golangsnmp/gomib; this
// package keeps that dependency behind a small surface (Source, Load, Tree,
// Node, Diagnostic) so it can be replaced without touching the generator.
// It adds what the generator needs on top: diagnostics with file:line,
// net-snmp-style type names, module-qualified lookups that follow IMPORTS,
// and a tolerant pre-pass that repairs defects net-snmp silently accepts.
package mib
