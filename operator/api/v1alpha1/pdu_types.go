package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrometheusDuration is a Prometheus duration such as "30s", "1m" or "1m30s".
// +kubebuilder:validation:Pattern=`^(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$`
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=16
type PrometheusDuration string

// SNMPVersion is the SNMP protocol version.
// +kubebuilder:validation:Enum=v1;v2c;v3
type SNMPVersion string

// SNMP versions.
const (
	SNMPv1  SNMPVersion = "v1"
	SNMPv2c SNMPVersion = "v2c"
	SNMPv3  SNMPVersion = "v3"
)

// SecurityLevel is the SNMPv3 security level.
// +kubebuilder:validation:Enum=noAuthNoPriv;authNoPriv;authPriv
type SecurityLevel string

// SNMPv3 security levels.
const (
	NoAuthNoPriv SecurityLevel = "noAuthNoPriv"
	AuthNoPriv   SecurityLevel = "authNoPriv"
	AuthPriv     SecurityLevel = "authPriv"
)

// AuthProtocol is the SNMPv3 authentication protocol.
// +kubebuilder:validation:Enum=MD5;SHA;SHA224;SHA256;SHA384;SHA512
type AuthProtocol string

// PrivProtocol is the SNMPv3 privacy protocol.
// +kubebuilder:validation:Enum=DES;AES;AES192;AES192C;AES256;AES256C
type PrivProtocol string

// ScrapeResource is the prometheus-operator object made for a PDU.
// +kubebuilder:validation:Enum=ScrapeConfig;Probe
type ScrapeResource string

// Scrape resources.
const (
	ScrapeConfigResource ScrapeResource = "ScrapeConfig"
	ProbeResource        ScrapeResource = "Probe"
)

// SecretReference names a Secret in the PDU's namespace.
type SecretReference struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SNMP says how to talk to the PDU. Credentials live only in the Secret: the key community for
// v1/v2c; username, authPassword and privPassword for v3.
// +kubebuilder:validation:XValidation:rule="self.version == 'v3' || (!has(self.securityLevel) && !has(self.authProtocol) && !has(self.privProtocol) && !has(self.contextName))",message="securityLevel, authProtocol, privProtocol and contextName are only for version v3"
// +kubebuilder:validation:XValidation:rule="self.version != 'v3' || !has(self.securityLevel) || self.securityLevel == 'noAuthNoPriv' || has(self.authProtocol)",message="authProtocol is required for securityLevel authNoPriv and authPriv"
// +kubebuilder:validation:XValidation:rule="self.version != 'v3' || !has(self.securityLevel) || self.securityLevel != 'authPriv' || has(self.privProtocol)",message="privProtocol is required for securityLevel authPriv"
type SNMP struct {
	// version is the SNMP version: v1, v2c (default) or v3.
	// +optional
	// +kubebuilder:default=v2c
	Version SNMPVersion `json:"version,omitempty"`
	// secretRef names the Secret holding the credentials, in the PDU's namespace.
	// +required
	SecretRef SecretReference `json:"secretRef"`
	// securityLevel is the SNMPv3 security level (default noAuthNoPriv).
	// +optional
	SecurityLevel SecurityLevel `json:"securityLevel,omitempty"`
	// authProtocol is the SNMPv3 authentication protocol.
	// +optional
	AuthProtocol AuthProtocol `json:"authProtocol,omitempty"`
	// privProtocol is the SNMPv3 privacy protocol.
	// +optional
	PrivProtocol PrivProtocol `json:"privProtocol,omitempty"`
	// contextName is the SNMPv3 context.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ContextName string `json:"contextName,omitempty"`
}

// PDUSpec is one PDU to read.
type PDUSpec struct {
	// address is the PDU's host name or IP address.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9.:_-]*[A-Za-z0-9])?$`
	Address string `json:"address"`
	// port is the SNMP UDP port.
	// +optional
	// +kubebuilder:default=161
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
	// model is the name of the PDUModel describing the device, e.g. apc-rpdu2.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Model string `json:"model"`
	// snmp holds the version and the Secret with the credentials.
	// +required
	SNMP SNMP `json:"snmp"`
	// labels are added to every series of the PDU, e.g. site, room and rack. Wattson adds
	// namespace, pdu (the PDU's name) and model itself.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$') && !k.startsWith('__') && !(k in ['pdu', 'namespace', 'model', 'instance', 'job', 'scope', 'inlet', 'phase', 'outlet']))",message="keys must be Prometheus label names, not starting with __, and not one Wattson sets (pdu, namespace, model, instance, job, scope, inlet, phase, outlet)"
	Labels map[string]string `json:"labels,omitempty"`
	// interval is how often Prometheus scrapes the PDU (default 60s).
	// +optional
	// +kubebuilder:default="60s"
	Interval PrometheusDuration `json:"interval,omitempty"`
	// timeout bounds one scrape; it must not exceed interval (default 10s).
	// +optional
	// +kubebuilder:default="10s"
	Timeout PrometheusDuration `json:"timeout,omitempty"`
	// scrapeResource is the prometheus-operator object made for the PDU: ScrapeConfig (default)
	// or Probe. Without prometheus-operator a plain scrape configuration is written instead.
	// +optional
	// +kubebuilder:default=ScrapeConfig
	ScrapeResource ScrapeResource `json:"scrapeResource,omitempty"`
}

// PowerReading is a power value read back from Prometheus.
type PowerReading struct {
	// watts is the PDU's total active power, in watts, as a decimal string.
	Watts string `json:"watts"`
	// time is when Prometheus took the sample.
	Time metav1.Time `json:"time"`
}

// PDUStatus is what the operator observed.
type PDUStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready and Collecting; see the README's table of reasons.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// module is the snmp_exporter module the PDU is scraped with.
	// +optional
	Module string `json:"module,omitempty"`
	// auth is the snmp_exporter auth the PDU is scraped with (its secrets are not shown).
	// +optional
	Auth string `json:"auth,omitempty"`
	// scrapeObject is the ScrapeConfig or Probe (namespace/name), or the plain scrape job name.
	// +optional
	ScrapeObject string `json:"scrapeObject,omitempty"`
	// lastPower is the last power reading Prometheus had.
	// +optional
	LastPower *PowerReading `json:"lastPower,omitempty"`
}

// PDU is one power distribution unit read over SNMP by snmp_exporter and scraped by Prometheus.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.address`
// +kubebuilder:printcolumn:name="Model",type=string,JSONPath=`.spec.model`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Collecting",type=string,JSONPath=`.status.conditions[?(@.type=="Collecting")].status`
// +kubebuilder:printcolumn:name="Watts",type=string,JSONPath=`.status.lastPower.watts`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PDU struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata; the name becomes the pdu label.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// spec is the PDU to read.
	// +required
	Spec PDUSpec `json:"spec"`
	// status is what the operator observed.
	// +optional
	Status PDUStatus `json:"status,omitempty"`
}

// PDUList is a list of PDUs.
// +kubebuilder:object:root=true
type PDUList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PDU `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PDU{}, &PDUList{})
}
