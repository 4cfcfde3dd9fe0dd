package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MIBModuleName is the name a MIB file defines in "NAME DEFINITIONS ::= BEGIN", for example
// PowerNet-MIB; the file name does not matter.
// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_-]*$`
// +kubebuilder:validation:MaxLength=128
type MIBModuleName string

// ObjectName is a MIB object: a descriptor (rPDU2DeviceStatusPower), a qualified descriptor
// (PowerNet-MIB::rPDU2DeviceStatusPower) or a numeric OID (1.3.6.1.4.1.318.1.1.26.4.3.1.5).
// +kubebuilder:validation:Pattern=`^([A-Za-z][A-Za-z0-9_-]*::)?[A-Za-z0-9][A-Za-z0-9_.-]*$`
// +kubebuilder:validation:MaxLength=256
type ObjectName string

// Decimal is a decimal number written as a string (CRDs have no portable float), e.g. "0.1",
// "10" or "3.6e6".
// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`
// +kubebuilder:validation:MaxLength=32
type Decimal string

// Duration is a Go duration such as "500ms", "5s" or "1m30s".
// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
// +kubebuilder:validation:MaxLength=32
type Duration string

// Quantity is what a metric measures. Each has one SI unit, used in the normalised metric names:
// power (watts), energy (joules), current (amperes), voltage (volts), apparent_power
// (volt_amperes), power_factor (ratio), temperature (celsius).
// +kubebuilder:validation:Enum=power;energy;current;voltage;apparent_power;power_factor;temperature
type Quantity string

// Scope says where on the PDU a reading is taken.
// +kubebuilder:validation:Enum=device;inlet;phase;outlet
type Scope string

// Scopes, from the broadest. The power in PDU status comes from the broadest scope the model has.
const (
	ScopeDevice Scope = "device"
	ScopeInlet  Scope = "inlet"
	ScopePhase  Scope = "phase"
	ScopeOutlet Scope = "outlet"
)

// MetricType overrides the type snmp_exporter gives a metric.
// +kubebuilder:validation:Enum=gauge;counter;OctetString;DisplayString;PhysAddress48;Float;Double;InetAddressIPv4;InetAddressIPv6;InetAddress;InetAddressMissingSize;EnumAsInfo;EnumAsStateSet;Bits;DateAndTime;ParseDateAndTime;NTPTimeStamp
type MetricType string

// PDUModelSpec says how to read one kind of PDU: what snmp_exporter walks (as in snmp_exporter's
// generator.yml) and what the readings mean in SI units.
type PDUModelSpec struct {
	// mibs lists the MIB modules the model needs, by module name (e.g. PowerNet-MIB). Each must be
	// defined by a file in a ConfigMap labelled wattson.dev/mib=true in the operator's namespace;
	// modules they import (SNMPv2-SMI, ...) must be there too unless built in.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	MIBs []MIBModuleName `json:"mibs"`

	// walk lists the objects snmp_exporter walks: tables, columns or subtrees, by name or OID.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	Walk []ObjectName `json:"walk"`

	// get lists objects fetched with GET instead of walked (scalars such as sysUpTime.0).
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Get []ObjectName `json:"get,omitempty"`

	// lookups add a label to metrics indexed by sourceIndexes, looked up from another column
	// with the same indexes (e.g. an outlet's name), as in snmp_exporter's generator.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Lookups []Lookup `json:"lookups,omitempty"`

	// overrides change single metrics, keyed by MIB descriptor (e.g. to ignore one or to change
	// its type), as in snmp_exporter's generator.
	// +optional
	Overrides map[string]MetricOverride `json:"overrides,omitempty"`

	// maxRepetitions is the SNMP GETBULK max-repetitions (snmp_exporter's default is 25).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxRepetitions *int32 `json:"maxRepetitions,omitempty"`

	// retries is how often a failed SNMP request is retried (snmp_exporter's default is 3).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	Retries *int32 `json:"retries,omitempty"`

	// timeout bounds each SNMP request (snmp_exporter's default is 5s).
	// +optional
	Timeout Duration `json:"timeout,omitempty"`

	// energy says which metrics are power, energy, current or voltage and how to reach SI units.
	// The recording rules turn them into wattson_pdu_power_watts and friends.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Energy []EnergyAnnotation `json:"energy,omitempty"`
}

// Lookup adds a label taken from another column that shares the source indexes.
type Lookup struct {
	// sourceIndexes are the index labels to look up by, e.g. [rPDU2OutletSwitchedStatusIndex].
	// +required
	// +kubebuilder:validation:MinItems=1
	SourceIndexes []string `json:"sourceIndexes"`
	// lookup is the column whose value becomes the label, e.g. rPDU2OutletSwitchedStatusName.
	// +required
	Lookup ObjectName `json:"lookup"`
	// dropSourceIndexes removes the source index labels once the lookup label is added.
	// +optional
	DropSourceIndexes bool `json:"dropSourceIndexes,omitempty"`
}

// MetricOverride changes one metric, as snmp_exporter's generator overrides do.
type MetricOverride struct {
	// ignore drops the metric.
	// +optional
	Ignore bool `json:"ignore,omitempty"`
	// type forces the metric type (e.g. gauge, counter, DisplayString, EnumAsStateSet).
	// +optional
	Type MetricType `json:"type,omitempty"`
	// name renames the metric.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-zA-Z_:][a-zA-Z0-9_:]*$`
	Name string `json:"name,omitempty"`
	// help replaces the metric's help text.
	// +optional
	Help string `json:"help,omitempty"`
	// scale multiplies the value in snmp_exporter (prefer energy[].scale, which keeps the raw
	// metric unchanged).
	// +optional
	Scale Decimal `json:"scale,omitempty"`
	// offset is added to the value in snmp_exporter, after scale.
	// +optional
	Offset Decimal `json:"offset,omitempty"`
	// regexExtracts derive new metrics from a string value: suffix -> list of {regex, value}.
	// +optional
	RegexExtracts map[string][]RegexExtract `json:"regexExtracts,omitempty"`
}

// RegexExtract derives a metric value from a string with an anchored regular expression.
type RegexExtract struct {
	// regex is matched against the whole value.
	// +required
	Regex string `json:"regex"`
	// value is the result, with $1-style references; "$1" when empty.
	// +optional
	Value string `json:"value,omitempty"`
}

// EnergyAnnotation says what one metric measures and how to reach its SI unit. The SI value of a
// sample is value × scale (× quantityByIndex.scales[row]) ÷ 10^decimalDigitsFrom[row].
// +kubebuilder:validation:XValidation:rule="has(self.quantity) != has(self.quantityByIndex)",message="set exactly one of quantity and quantityByIndex"
type EnergyAnnotation struct {
	// metric is the MIB descriptor of a walked column or scalar, e.g. rPDU2DeviceStatusPower.
	// +required
	Metric ObjectName `json:"metric"`
	// quantity is what every row measures. Set this or quantityByIndex.
	// +optional
	Quantity Quantity `json:"quantity,omitempty"`
	// quantityByIndex picks the quantity per row from an index label (Raritan's sensorType).
	// +optional
	QuantityByIndex *QuantityByIndex `json:"quantityByIndex,omitempty"`
	// scale multiplies the value to reach the SI unit: "10" for hundredths of kW to W, "0.1" for
	// tenths of amperes, "360000" for tenths of kWh to J. Default "1".
	// +optional
	Scale Decimal `json:"scale,omitempty"`
	// decimalDigitsFrom names a column with the same indexes whose value d divides each row by
	// 10^d (Raritan's inletSensorDecimalDigits). It is walked automatically.
	// +optional
	DecimalDigitsFrom ObjectName `json:"decimalDigitsFrom,omitempty"`
	// scope is where the reading is taken: device (default), inlet, phase or outlet. The
	// normalised series get a scope label and, except for device, an inlet/phase/outlet label.
	// +optional
	// +kubebuilder:default=device
	Scope Scope `json:"scope,omitempty"`
	// locationLabel numbers the inlet, phase or outlet: an index label of the metric, or a column
	// of the same row (APC's rPDU2PhaseStatusNumber), which the operator then walks and looks
	// up. Default: the metric's last index label other than quantityByIndex.label.
	// +optional
	LocationLabel string `json:"locationLabel,omitempty"`
	// unitLabel tells daisy-chained units behind one address apart (a master and its link
	// units): an index label or a column of the same row, looked up like locationLabel; its value
	// becomes the unit label of every series, so each physical sensor keeps its own series.
	// Default: an integer index or column of the row whose name ends in Module, Unit, UnitId,
	// UnitNumber, Strapping, StrappingIndex or pduId (APC's rPDU2PhaseStatusModule, Eaton's
	// strappingIndex, Raritan's pduId). "none" turns it off.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	UnitLabel string `json:"unitLabel,omitempty"`
	// missingValues are raw values that mean the device does not measure this (APC answers -1
	// for "not supported"); rows with them get no normalised series instead of a wrong one.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	MissingValues []Decimal `json:"missingValues,omitempty"`
}

// QuantityByIndex chooses the quantity of each row from the value of one of its index labels.
type QuantityByIndex struct {
	// label is an index label of the metric, e.g. sensorType.
	// +required
	Label string `json:"label"`
	// values maps the label's value (enum name or number) to a quantity; unlisted rows are not
	// energy readings.
	// +required
	// +kubebuilder:validation:MinProperties=1
	Values map[string]Quantity `json:"values"`
	// scales multiply rows with that label value on top of scale, e.g. activeEnergy: "3600"
	// for watt-hours.
	// +optional
	Scales map[string]Decimal `json:"scales,omitempty"`
}

// PDUModelStatus is what the operator made of the model.
type PDUModelStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready (reasons Compiled, MIBNotFound, CompileFailed, AmbiguousName,
	// InvalidSpec).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// module is the snmp_exporter module name PDUs of this model are scraped with.
	// +optional
	Module string `json:"module,omitempty"`
	// metrics is how many metrics the module exports.
	// +optional
	Metrics int32 `json:"metrics,omitempty"`
	// mibFiles are the ConfigMap keys (configmap/key) that defined the MIB modules used.
	// +optional
	MIBFiles []string `json:"mibFiles,omitempty"`
	// energy are the resolved energy annotations the recording rules are built from.
	// +optional
	Energy []EnergyMetric `json:"energy,omitempty"`
	// warnings are MIB problems that did not stop compilation, as file:line: message.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	Warnings []string `json:"warnings,omitempty"`
}

// EnergyMetric is an energy annotation resolved against the compiled module.
type EnergyMetric struct {
	// metric is the exported metric name.
	Metric string `json:"metric"`
	// labels are the metric's index labels (decimal digits are joined on them).
	// +optional
	Labels []string `json:"labels,omitempty"`
	// quantity is set when every row measures the same thing.
	// +optional
	Quantity Quantity `json:"quantity,omitempty"`
	// quantityLabel is the label selecting the quantity per row, when quantity is empty.
	// +optional
	QuantityLabel string `json:"quantityLabel,omitempty"`
	// quantities maps values of quantityLabel (as exported) to quantities.
	// +optional
	Quantities map[string]Quantity `json:"quantities,omitempty"`
	// scales are extra multipliers per value of quantityLabel.
	// +optional
	Scales map[string]Decimal `json:"scales,omitempty"`
	// scale multiplies every sample.
	Scale Decimal `json:"scale"`
	// decimalDigitsMetric is the exported metric holding each row's decimal exponent.
	// +optional
	DecimalDigitsMetric string `json:"decimalDigitsMetric,omitempty"`
	// decimalDigitsLabels are the labels to join the value and its exponent on.
	// +optional
	DecimalDigitsLabels []string `json:"decimalDigitsLabels,omitempty"`
	// scope is where the reading is taken.
	Scope Scope `json:"scope"`
	// locationLabel is the label copied to the inlet/phase/outlet label.
	// +optional
	LocationLabel string `json:"locationLabel,omitempty"`
	// unitLabel is the label copied to the unit label (daisy-chained units).
	// +optional
	UnitLabel string `json:"unitLabel,omitempty"`
	// drop are the vendor labels the normalised series do not keep: index labels and the
	// lookups added for locationLabel and unitLabel.
	// +optional
	Drop []string `json:"drop,omitempty"`
	// missingValues are raw values that mean "not measured"; such rows get no series.
	// +optional
	MissingValues []Decimal `json:"missingValues,omitempty"`
}

// PDUModel says how to read one kind of PDU over SNMP: the MIBs it needs, what snmp_exporter
// walks, and which metrics are power, energy, current and voltage in which units.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=pdum
// +kubebuilder:printcolumn:name="Module",type=string,JSONPath=`.status.module`
// +kubebuilder:printcolumn:name="Metrics",type=integer,JSONPath=`.status.metrics`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PDUModel struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata; the name is the model name PDUs refer to.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// spec says how to read the model.
	// +required
	Spec PDUModelSpec `json:"spec"`
	// status is what the operator made of it.
	// +optional
	Status PDUModelStatus `json:"status,omitempty"`
}

// PDUModelList is a list of PDUModels.
// +kubebuilder:object:root=true
type PDUModelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PDUModel `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PDUModel{}, &PDUModelList{})
}
