package v1alpha1

// The contract between Wattson's components: the objects the operator writes and their keys, the
// labels on what it creates, the scrape job and labels of every PDU series, and the normalised
// metric names. The operator writes them; internal/stack, the specs, the e2e tests and the
// monitoring kit read them from here, so a rename is one edit that every reader follows.

// CredentialsReaderRole is the ClusterRole (config/rbac/credentials_reader.yaml) a tenant binds
// to the operator's ServiceAccount with a RoleBinding in their own namespace, so that the operator
// may read and watch the Secrets its PDUs and Suites reference there. The operator's own
// ClusterRole grants no Secret anywhere.
const CredentialsReaderRole = "wattson-credentials-reader"

// Objects the operator writes in its own namespace (one of each).
const (
	// ExporterName names snmp_exporter's Deployment and Service.
	ExporterName = "wattson-snmp-exporter"
	// ExporterPort is snmp_exporter's HTTP port (its Service port and container port).
	ExporterPort = 9116
	// ExporterConfigName is the Secret holding snmp_exporter's configuration under SNMPConfigKey.
	// A Secret, because snmp.yml holds the SNMP communities and keys.
	ExporterConfigName = "wattson-snmp-exporter-config"
	// SNMPConfigKey is the key of snmp.yml, in ExporterConfigName and in the module ConfigMaps.
	SNMPConfigKey = "snmp.yml"
	// ExporterEnvName is the Secret snmp_exporter reads as its environment (the SNMPv3 keys that
	// snmp.yml references by variable).
	ExporterEnvName = "wattson-snmp-exporter-env"
	// ScrapeConfigsName is the Secret holding the plain Prometheus scrape configuration under
	// ScrapeConfigsKey (written when prometheus-operator's CRDs are absent).
	ScrapeConfigsName = "wattson-scrape-configs"
	// ScrapeConfigsKey is the key of the plain scrape configuration in ScrapeConfigsName.
	ScrapeConfigsKey = "scrape-configs.yml"
	// RecordingRulesName is the PrometheusRule (or, without prometheus-operator, the ConfigMap
	// under RecordingRulesKey) holding the normalising recording rules.
	RecordingRulesName = "wattson-recording-rules"
	// RecordingRulesKey is the key of the rule file in the RecordingRulesName ConfigMap.
	RecordingRulesKey = "wattson.rules.yml"
)

// Labels and annotations on the objects the operator writes.
const (
	// ConfigHashAnnotation, on snmp_exporter's pod template, is a hash of its configuration and
	// environment: a change rolls the Deployment.
	ConfigHashAnnotation = "wattson.dev/config-hash"
	// ComponentLabel tells Wattson's own ConfigMaps apart; its value for compiled modules is
	// ModuleComponent.
	ComponentLabel = "wattson.dev/component"
	// ModuleComponent is the ComponentLabel value of a ConfigMap holding a PDUModel's last good
	// compiled module.
	ModuleComponent = "module"
	// ModelAnnotation names the PDUModel a module ConfigMap belongs to.
	ModelAnnotation = "wattson.dev/pdumodel"
	// ManagedByLabel marks the objects the operator creates; its cache and watches select them by it.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of ManagedByLabel.
	ManagedBy = "wattson"
	// PartOfLabel is on every object of Wattson's, the operator's and the shipped manifests' alike:
	// Prometheus selects ScrapeConfigs, Probes, ServiceMonitors and PrometheusRules by it. Not
	// ManagedByLabel: Helm sets app.kubernetes.io/managed-by: Helm on everything it installs.
	PartOfLabel = "app.kubernetes.io/part-of"
	// PartOf is the value of PartOfLabel.
	PartOf = "wattson"
	// PDULabel names the PDU a ScrapeConfig or Probe belongs to.
	PDULabel = "wattson.dev/pdu"
)

// The scrape job and the target labels of every PDU series.
const (
	// PDUJob is the job label of every PDU scrape (and so of up, scrape_* and every series).
	PDUJob = "wattson-pdu"
	// NamespaceLabel, PDUNameLabel and ModelLabel are on every PDU series: the PDU's namespace,
	// name and spec.model.
	NamespaceLabel = "namespace"
	PDUNameLabel   = "pdu"
	ModelLabel     = "model"
	// ScopeLabel, on the normalised metrics, holds a series' scope: device, inlet, phase or
	// outlet.
	ScopeLabel = "scope"
	// UnitLabel, on the normalised metrics of a model whose tables number daisy-chained units
	// (a master and its link units behind one address), says which unit a sensor is on; its
	// value is the vendor's unit number (spec.energy[].unitLabel).
	UnitLabel = "unit"
	// StaleAfterIntervals is when a PDU stops counting as scraped and fresh: its newest sample is
	// older than this many of its scrape intervals (spec.interval). The Collecting condition
	// (SamplesStale) and the specs both use it.
	StaleAfterIntervals = 3
)

// Normalised metric names, one per quantity, in SI units. Energy is a counter in joules (the SI
// unit; divide by 3.6e6 for kWh), so rate(wattson_pdu_energy_joules_total[5m]) is watts.
const (
	MetricPower         = "wattson_pdu_power_watts"
	MetricEnergy        = "wattson_pdu_energy_joules_total"
	MetricCurrent       = "wattson_pdu_current_amperes"
	MetricVoltage       = "wattson_pdu_voltage_volts"
	MetricApparentPower = "wattson_pdu_apparent_power_volt_amperes"
	MetricPowerFactor   = "wattson_pdu_power_factor_ratio"
	MetricTemperature   = "wattson_pdu_temperature_celsius"
)

// MetricName is the normalised metric of a quantity, e.g. wattson_pdu_power_watts for power, or ""
// for a quantity Wattson does not know.
func MetricName(q Quantity) string {
	switch q {
	case "power":
		return MetricPower
	case "energy":
		return MetricEnergy
	case "current":
		return MetricCurrent
	case "voltage":
		return MetricVoltage
	case "apparent_power":
		return MetricApparentPower
	case "power_factor":
		return MetricPowerFactor
	case "temperature":
		return MetricTemperature
	}
	return ""
}

// MetricNames lists every normalised metric name.
func MetricNames() []string {
	return []string{MetricPower, MetricEnergy, MetricCurrent, MetricVoltage, MetricApparentPower, MetricPowerFactor, MetricTemperature}
}
