// Package suggest proposes a PDUModel for a vendor Wattson has never seen, from its MIB files
// and, optionally, a recording of the device (wattson-snmpsim record): the power, energy,
// current and voltage objects, their scale from the MIB's UNITS clauses and descriptions
// ("in tenths of Amps", "hundredths of kilowatts", "0.1 kWh", "milliamps", a per-row decimal
// digits column), their scope and location, the values that mean "not supported", and, with a
// recording, the SI value each series would take. It never guesses silently: every object that
// looks like an energy reading but whose unit it cannot read is listed in Result.Undecided.
package suggest
