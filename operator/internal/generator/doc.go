// Package generator turns snmp_exporter generator.yml modules and MIB files
// into snmp_exporter modules (snmp.yml) in pure Go, without net-snmp.
//
// It is a drop-in for snmp_exporter's generator (v0.30.1 rules, plus the
// later default of labelling enum-valued indexes with EnumAsInfo): the same
// generator.yml format, the same flags (see Main), and output built with
// snmp_exporter's own config package and re-parsed strictly before it is
// written. On the fixture MIBs it reproduces the reference generator's
// output byte for byte (TestConformance).
//
// Beyond upstream:
//
//   - MIB problems are diagnostics with file:line:column (parse-errors), and
//     a module fails only if it walks an object a problem made unusable; a
//     name that resolves nowhere fails with the closest known names.
//   - Defects net-snmp accepts silently are repaired with a warning, such as
//     the empty INDEX element in APC's PowerNet-MIB.
//   - MODULE::name follows the module's IMPORTS, so IF-MIB::interfaces
//     resolves even when RFC1213-MIB is loaded too.
//   - An optional x-wattson-energy list per module says what a metric
//     measures (power, energy, current, voltage, apparent power, power
//     factor, temperature) and how to reach SI units: a constant scale, a
//     per-row 10^digits divisor from a sibling column, and a per-row
//     quantity chosen by an index (Raritan's sensorType). These resolve to
//     EnergyMetric values for the operator's recording rules; snmp.yml stays
//     free of them because snmp_exporter rejects unknown keys.
//
// Library use (the operator reads MIBs from ConfigMaps):
//
//	files := map[string][]byte{"PowerNet-MIB": data} // e.g. from a ConfigMap
//	c, diags, err := generator.NewCompiler(ctx, generator.MIBSource{Files: files})
//	module, energy, warnings, err := c.Module("apc", &generator.GeneratorModule{Walk: ...})
//
// Compile does the same for a whole GeneratorConfig and marshals snmp.yml.
package generator
