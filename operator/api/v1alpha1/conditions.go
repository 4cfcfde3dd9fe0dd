package v1alpha1

// Condition types. Every condition carries a reason from the lists below and a message that names
// the offending field where there is one.
const (
	// ReadyCondition is True when the object is fully wired: for a PDUModel, its snmp_exporter
	// module compiled; for a PDU, its model is ready, its credentials are in the exporter's
	// configuration and its scrape object (ScrapeConfig, Probe or plain scrape config) exists.
	ReadyCondition = "Ready"
	// CollectingCondition is True when Prometheus really has fresh power data for the PDU:
	// the scrape target is up, its samples are recent and wattson_pdu_power_watts exists.
	CollectingCondition = "Collecting"
)

// Reasons of the Ready condition.
const (
	// CompiledReason: the PDUModel's module compiled from its MIBs (Ready=True).
	CompiledReason = "Compiled"
	// ConfiguredReason: the PDU is in the exporter configuration and is scraped (Ready=True).
	ConfiguredReason = "Configured"
	// InvalidSpecReason: a field is invalid beyond what the schema checks, e.g. a timeout longer
	// than the interval, or a scale that is not a number. The message names the field.
	InvalidSpecReason = "InvalidSpec"
	// MIBNotFoundReason: a MIB module in spec.mibs (or one it imports) is in no ConfigMap
	// labelled wattson.dev/mib=true.
	MIBNotFoundReason = "MIBNotFound"
	// CompileFailedReason: the MIB compiler rejected the model (an unknown object in spec.walk,
	// a lookup that does not share indexes, ...). The exporter keeps the last good module.
	CompileFailedReason = "CompileFailed"
	// AmbiguousNameReason: a bare name in the spec is defined by more than one MIB module, and
	// spec.mibs (with what they import) does not decide; the message lists every candidate as
	// MODULE::name, the form to write instead.
	AmbiguousNameReason = "AmbiguousName"
	// ModelNotFoundReason: spec.model names no PDUModel.
	ModelNotFoundReason = "ModelNotFound"
	// ModelNotReadyReason: the PDUModel exists but its module has not compiled.
	ModelNotReadyReason = "ModelNotReady"
	// SecretNotFoundReason: spec.snmp.secretRef names no Secret in the PDU's namespace.
	SecretNotFoundReason = "SecretNotFound"
	// SecretKeyMissingReason: the Secret lacks a key the SNMP version needs.
	SecretKeyMissingReason = "SecretKeyMissing"
	// CredentialsForbiddenReason: the operator may not read the referenced Secret: the namespace
	// has no RoleBinding of ClusterRole CredentialsReaderRole to the operator's ServiceAccount.
	// The message names the RoleBinding to create. Distinct from SecretNotFound: the Secret may
	// well exist.
	CredentialsForbiddenReason = "CredentialsForbidden"
	// DuplicateAddressReason: another PDU, created earlier, already reads spec.address:spec.port.
	DuplicateAddressReason = "DuplicateAddress"
)

// Reasons of the Collecting condition.
const (
	// PowerReportedReason: up is 1, samples are fresh and wattson_pdu_power_watts exists
	// (Collecting=True).
	PowerReportedReason = "PowerReported"
	// TargetMissingReason: Prometheus has no up series for the PDU (not scraped yet, or the
	// scrape configuration has not reached Prometheus).
	TargetMissingReason = "TargetMissing"
	// TargetDownReason: up is 0; the exporter cannot reach the PDU or the credentials are wrong.
	TargetDownReason = "TargetDown"
	// PowerMissingReason: the PDU is scraped but wattson_pdu_power_watts has no series for it
	// (recording rules not loaded, or the model's power annotation matches nothing).
	PowerMissingReason = "PowerMissing"
	// SamplesStaleReason: the newest power sample is older than StaleAfterIntervals scrape
	// intervals.
	SamplesStaleReason = "SamplesStale"
	// PrometheusNotConfiguredReason: the operator runs without --prometheus.url
	// (Collecting=Unknown).
	PrometheusNotConfiguredReason = "PrometheusNotConfigured"
	// PrometheusUnavailableReason: querying Prometheus failed (Collecting=Unknown).
	PrometheusUnavailableReason = "PrometheusUnavailable"
	// NotReadyReason: the PDU is not Ready, so nothing can be collected (Collecting=False).
	NotReadyReason = "NotReady"
)

// Labels and keys shared with users.
const (
	// MIBLabel marks ConfigMaps whose data keys are MIB files, for example
	// `kubectl create configmap apc-mibs --from-file=PowerNet-MIB && kubectl label configmap
	// apc-mibs wattson.dev/mib=true`.
	MIBLabel = "wattson.dev/mib"
	// CommunityKey is the Secret key holding an SNMP v1/v2c community.
	CommunityKey = "community"
	// UsernameKey is the Secret key holding an SNMPv3 user name.
	UsernameKey = "username"
	// AuthPasswordKey is the Secret key holding an SNMPv3 authentication key (authNoPriv, authPriv).
	AuthPasswordKey = "authPassword"
	// PrivPasswordKey is the Secret key holding an SNMPv3 privacy key (authPriv).
	PrivPasswordKey = "privPassword"
)
