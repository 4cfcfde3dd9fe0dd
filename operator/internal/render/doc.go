// Package render turns PDUs and PDUModels into the configuration of the pipeline: the
// snmp_exporter generator module of a model, snmp_exporter's auths, one prometheus-operator
// ScrapeConfig or Probe per PDU, a plain Prometheus scrape configuration for clusters without
// prometheus-operator, the recording rules that normalise every vendor to wattson_pdu_* metrics,
// and snmp_exporter itself: its Deployment, Service, and the Secrets holding snmp.yml and the
// SNMPv3 environment.
//
// Everything here is a pure function of its arguments, so the controllers, the tests and the
// loopback demo (which runs a local Prometheus on the plain configuration) share one renderer.
package render
