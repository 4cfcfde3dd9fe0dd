// Package record walks a live SNMP agent (v1, v2c or v3) and writes what it answers as a
// .snmprec recording, as snmpsim's recorder (snmpsim-record-commands) does, so a user can turn
// a PDU Wattson has never seen into a recording the simulator serves. Anonymise replaces the
// strings that identify a site (names, serials, locations, contacts) and addresses with stable
// placeholders, so recordings can be attached to bug reports.
package record
