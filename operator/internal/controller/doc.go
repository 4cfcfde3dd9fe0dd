// Package controller holds Wattson's reconcilers, written in Flux's style: fetch the object
// (ignore not-found), patch its status in a defer, run small steps that each own a condition,
// give children owner references and deterministic names, and reconcile everything every time.
//
//   - PDUModelReconciler compiles a model's MIBs (from ConfigMaps labelled wattson.dev/mib=true)
//     into an snmp_exporter module, kept in a ConfigMap so the last good module survives a bad edit.
//   - PDUReconciler checks a PDU (model, Secret, address, interval), makes its ScrapeConfig or
//     Probe, and reports Ready and Collecting (from Prometheus).
//   - PipelineReconciler is a singleton that assembles snmp.yml (in a Secret), the SNMPv3
//     environment, the exporter Deployment and Service, and the recording rules, plus a plain
//     scrape configuration where prometheus-operator is absent. It only creates or updates what
//     package render renders.
//   - SuiteReconciler checks a Suite (image, label filter, store Secret, suite name), writes its
//     runtime as package render renders it (Service, ServiceMonitor and PrometheusRule or rules
//     ConfigMap, then Deployment), and reports Ready and Passing from the runtime's history API.
//   - SuiteTriggerReconciler reruns Suites (POST /rerun?trigger=) when the PDUs and PDUModels
//     their triggers select change, debounced per Suite.
//   - SecretWatcher (secrets.go) is no reconciler: it streams Secrets' metadata to the others,
//     one watch per namespace holding PDUs or Suites, where the tenant's RoleBinding allows it
//     (the operator's ClusterRole grants no Secret).
//
// Each reconciler lives in its own file with its SetupWithManager, which says what it watches;
// Setup registers the field indexes they share and calls them all.
package controller
