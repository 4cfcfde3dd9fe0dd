package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SuiteName is the name a suite runs under: the suite label of its metrics, its runs in the
// history and the key its runs are shared by in PostgreSQL.
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`
// +kubebuilder:validation:MaxLength=63
type SuiteName string

// SpecLabel is a Ginkgo label, as in Label("pdu") or Label("severity:critical"): no characters
// Ginkgo reserves for label filters (& | ! , ( ) /) and no surrounding space.
// +kubebuilder:validation:Pattern=`^[^&|!,()/\s]([^&|!,()/]*[^&|!,()/\s])?$`
// +kubebuilder:validation:MaxLength=128
type SpecLabel string

// AlertSeverity is the severity label of an alert, as Alertmanager routes on it.
// +kubebuilder:validation:Enum=critical;warning;info
type AlertSeverity string

// Alert severities.
const (
	SeverityCritical AlertSeverity = "critical"
	SeverityWarning  AlertSeverity = "warning"
	SeverityInfo     AlertSeverity = "info"
)

// TriggerKind is a kind of object whose changes rerun a suite.
// +kubebuilder:validation:Enum=PDU;PDUModel
type TriggerKind string

// Trigger kinds.
const (
	TriggerPDU      TriggerKind = "PDU"
	TriggerPDUModel TriggerKind = "PDUModel"
)

// SecretKeyReference names one key of a Secret in the object's namespace.
type SecretKeyReference struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key is the key in the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// SuiteStore is where the runtime keeps its history and, with several replicas, shares its runs.
type SuiteStore struct {
	// postgresURLSecretRef names the Secret key holding the PostgreSQL URL
	// (postgres://user:password@host:5432/db). The URL reaches the runtime as an environment
	// variable and never appears in the Deployment.
	// +required
	PostgresURLSecretRef SecretKeyReference `json:"postgresURLSecretRef"`
	// retention deletes runs older than this from PostgreSQL (the runtime's default is 720h;
	// "0s" keeps everything).
	// +optional
	Retention Duration `json:"retention,omitempty"`
}

// SuiteAlert tunes when a failing spec pages. Entries with a specLabel are tried in order and
// the first whose label a spec carries applies; the entry without specLabel applies to every
// other spec. Without such an entry, other specs page after 2 failed runs as warning.
type SuiteAlert struct {
	// specLabel selects the specs carrying this Ginkgo label, e.g. pdu or severity:critical.
	// Omit it for the entry that applies to every spec no other entry selects.
	// +optional
	SpecLabel SpecLabel `json:"specLabel,omitempty"`
	// failedRuns is how many complete runs in a row a spec must fail before it pages (default 2,
	// so one flake pages no one).
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	FailedRuns int32 `json:"failedRuns,omitempty"`
	// for is how long the spec must stay that failed before the alert fires, as in a
	// Prometheus rule (default 0s: at once).
	// +optional
	For PrometheusDuration `json:"for,omitempty"`
	// severity is the alert's severity label: critical, warning (default) or info.
	// +optional
	// +kubebuilder:default=warning
	Severity AlertSeverity `json:"severity,omitempty"`
}

// SuiteTrigger reruns the suite when objects of a kind change (created, deleted, or their spec
// or labels edited; status updates do not count).
// +kubebuilder:validation:XValidation:rule="self.kind != 'PDUModel' || !has(self.namespace)",message="namespace is only for PDU: PDUModels are cluster-scoped"
type SuiteTrigger struct {
	// kind is the kind to watch: PDU or PDUModel.
	// +required
	Kind TriggerKind `json:"kind"`
	// namespace limits the trigger to objects in this namespace; empty: every namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
	// selector limits the trigger to objects whose labels match; empty: every object.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// SuiteSpec is one compiled Ginkgo suite, run for ever by wattson-runtime.
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas == 1 || has(self.store)",message="replicas above 1 need store: the replicas share their runs through PostgreSQL"
type SuiteSpec struct {
	// image holds wattson-runtime (at /wattson-runtime) and the compiled suite (at binary), e.g.
	// an image built FROM ghcr.io/wattson-dev/wattson that adds its own specs.test. Empty: the
	// operator's --suite.default-image; with neither, the Suite is not Ready.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`
	// imagePullPolicy of the runtime container: Always, IfNotPresent or Never (Kubernetes'
	// default for the tag when empty).
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// binary is the path of the compiled suite in the image (ginkgo build or go test -c).
	// +optional
	// +kubebuilder:default="/specs.test"
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	// +kubebuilder:validation:MaxLength=256
	Binary string `json:"binary,omitempty"`
	// suiteName is the name the suite runs under: the suite label of its metrics and alerts and
	// its runs in the history. Two Suites may not claim one name; the one created first keeps
	// it. Default: the Suite's metadata.name.
	// +optional
	SuiteName SuiteName `json:"suiteName,omitempty"`
	// interval is the pause between the end of one run and the start of the next (default 1m).
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="must be at least 1s"
	Interval Duration `json:"interval,omitempty"`
	// timeout bounds one run, passed to Ginkgo as --ginkgo.timeout (default 10m).
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="must be at least 1s"
	Timeout Duration `json:"timeout,omitempty"`
	// labelFilter selects the specs that run, as Ginkgo's --label-filter, e.g. 'pdu && !slow'.
	// Empty: every spec. A filter Ginkgo cannot parse makes the Suite not Ready.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LabelFilter string `json:"labelFilter,omitempty"`
	// args are extra arguments for the suite (the runtime's --specs.arg), e.g.
	// --wattson.eventually-timeout=30s.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=1024
	Args []string `json:"args,omitempty"`
	// env is the environment of the runtime and so of the specs, which inherit it: where the
	// specs find what they check (the energy suite reads WATTSON_PROMETHEUS_URL and friends).
	// Values may come from Secrets and ConfigMaps.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:XValidation:rule="self.all(e, e.name != 'WATTSON_STORE_POSTGRES_URL')",message="WATTSON_STORE_POSTGRES_URL is set from spec.store"
	// +listType=map
	// +listMapKey=name
	Env []corev1.EnvVar `json:"env,omitempty"`
	// envFrom adds every key of ConfigMaps or Secrets to the environment.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// replicas is the number of runtime pods (default 1). Above 1 needs store: the replicas
	// then run each scheduled run once between them.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	Replicas *int32 `json:"replicas,omitempty"`
	// store keeps the history in PostgreSQL; without it the runtime keeps it in memory.
	// +optional
	Store *SuiteStore `json:"store,omitempty"`
	// serviceAccountName is the ServiceAccount the runtime pods run as; the specs use its
	// permissions (the energy suite reads PDUs and prometheus-operator objects). Default: the
	// namespace's default ServiceAccount.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// resources of the runtime container (default: requests 100m CPU and 64Mi, limit 512Mi).
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// alerts tune when a failing spec pages, per spec label; see SuiteAlert.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.filter(b, (has(b.specLabel) ? b.specLabel : '') == (has(a.specLabel) ? a.specLabel : '')).size() == 1)",message="each specLabel may appear once, and one entry at most may omit it"
	Alerts []SuiteAlert `json:"alerts,omitempty"`
	// triggers rerun the suite at once when the objects they select change; changes within the
	// operator's --suite.trigger-debounce are folded into one rerun.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Triggers []SuiteTrigger `json:"triggers,omitempty"`
}

// SuiteVerdict is what the last run said.
// +kubebuilder:validation:Enum=Passed;Failed;Error;Unknown
type SuiteVerdict string

// Verdicts.
const (
	// VerdictPassed: every spec of the last run passed.
	VerdictPassed SuiteVerdict = "Passed"
	// VerdictFailed: a spec of the last run failed: the system under test is broken.
	VerdictFailed SuiteVerdict = "Failed"
	// VerdictError: the last run could not check the system (harness error: no binary, no
	// report, no spec ran).
	VerdictError SuiteVerdict = "Error"
	// VerdictUnknown: no run yet, or the runtime cannot be asked.
	VerdictUnknown SuiteVerdict = "Unknown"
)

// SuiteRun summarises one run, as the runtime's history has it.
type SuiteRun struct {
	// id is the run's ID in the runtime's history (GET /api/runs/{id}).
	ID string `json:"id"`
	// result is passed, failed or error.
	Result string `json:"result"`
	// trigger says what started the run: start, interval, rerun, or the object that changed.
	// +optional
	Trigger string `json:"trigger,omitempty"`
	// startedAt is when the run started.
	StartedAt metav1.Time `json:"startedAt"`
	// finishedAt is when it ended.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// passed, failed and skipped count specs.
	Passed int32 `json:"passed"`
	// failed counts failed specs.
	Failed int32 `json:"failed"`
	// skipped counts skipped specs.
	// +optional
	Skipped int32 `json:"skipped,omitempty"`
	// error is why the harness failed, for result error (clipped).
	// +optional
	Error string `json:"error,omitempty"`
}

// FailingSpec is a spec that failed in the last complete run.
type FailingSpec struct {
	// name is the spec's full text.
	Name string `json:"name"`
	// labels are its Ginkgo labels.
	// +optional
	Labels []string `json:"labels,omitempty"`
	// location is file:line of the failure.
	// +optional
	Location string `json:"location,omitempty"`
	// message is the failure message (clipped to 1 KiB).
	// +optional
	Message string `json:"message,omitempty"`
}

// FlakySpec is a spec that flipped between passing and failing over recent runs.
type FlakySpec struct {
	// name is the spec's full text.
	Name string `json:"name"`
	// runs is how many recent complete runs ran it.
	Runs int32 `json:"runs"`
	// failures is how many of them it failed.
	Failures int32 `json:"failures"`
	// flips counts changes between pass and fail from one run to the next.
	Flips int32 `json:"flips"`
}

// TriggerStatus is the last rerun the operator asked for.
type TriggerStatus struct {
	// trigger names what changed, as sent in POST /rerun?trigger=, e.g. "PDU dc1/rack1".
	Trigger string `json:"trigger"`
	// time is when the rerun was asked for.
	Time metav1.Time `json:"time"`
	// error is why the runtime refused or could not be reached; empty when it accepted.
	// +optional
	Error string `json:"error,omitempty"`
}

// SuiteStatus is what the operator made of the Suite and what its runtime reports.
type SuiteStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready (the runtime is rendered and applied) and Passing (the last run
	// passed); see the README's table of reasons.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// suiteName is the name the suite runs under.
	// +optional
	SuiteName string `json:"suiteName,omitempty"`
	// url is where the operator reaches the runtime's API.
	// +optional
	URL string `json:"url,omitempty"`
	// readyReplicas are the runtime pods ready, from the Deployment's status.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// verdict is what the last run said: Passed, Failed, Error or Unknown.
	// +optional
	Verdict SuiteVerdict `json:"verdict,omitempty"`
	// lastRun is the newest run of the suite.
	// +optional
	LastRun *SuiteRun `json:"lastRun,omitempty"`
	// consecutiveFailures counts the newest complete runs that failed, in a row (harness
	// errors are skipped: they say nothing about the system).
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`
	// failingSpecCount is how many specs failed in the last complete run.
	// +optional
	FailingSpecCount int32 `json:"failingSpecCount,omitempty"`
	// failingSpecs are the specs that failed in the last complete run (the first 20).
	// +optional
	// +kubebuilder:validation:MaxItems=20
	FailingSpecs []FailingSpec `json:"failingSpecs,omitempty"`
	// flakySpecCount is how many specs flipped between pass and fail in the last 50 complete runs.
	// +optional
	FlakySpecCount int32 `json:"flakySpecCount,omitempty"`
	// flakySpecs are those specs, most flips first (the first 10).
	// +optional
	// +kubebuilder:validation:MaxItems=10
	FlakySpecs []FlakySpec `json:"flakySpecs,omitempty"`
	// lastTrigger is the last rerun the operator asked for because a watched object changed.
	// +optional
	LastTrigger *TriggerStatus `json:"lastTrigger,omitempty"`
}

// Suite is a compiled Ginkgo suite that wattson-runtime runs for ever in the cluster: the
// operator renders its Deployment, Service, ServiceMonitor and PrometheusRule, reruns it when
// the objects it watches change, and reports its runs here.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 49 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 49 characters (lower case, digits, '-'; starting with a letter): the runtime's Service is named wattson-suite-<name>"
// +kubebuilder:printcolumn:name="Suite",type=string,JSONPath=`.status.suiteName`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready Pods",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.verdict`
// +kubebuilder:printcolumn:name="Failures",type=integer,JSONPath=`.status.consecutiveFailures`
// +kubebuilder:printcolumn:name="Failing",type=integer,JSONPath=`.status.failingSpecCount`
// +kubebuilder:printcolumn:name="Flaky",type=integer,JSONPath=`.status.flakySpecCount`,priority=1
// +kubebuilder:printcolumn:name="Last Run",type=date,JSONPath=`.status.lastRun.finishedAt`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Suite struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata; the runtime's objects are named wattson-suite-<name>.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// spec is the suite to run and how to alert on it.
	// +required
	Spec SuiteSpec `json:"spec"`
	// status is what the runtime reports.
	// +optional
	Status SuiteStatus `json:"status,omitempty"`
}

// EffectiveSuiteName is spec.suiteName, or the Suite's name when it is empty.
func (s *Suite) EffectiveSuiteName() string {
	if s.Spec.SuiteName != "" {
		return string(s.Spec.SuiteName)
	}
	return s.Name
}

// SuiteList is a list of Suites.
// +kubebuilder:object:root=true
type SuiteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Suite `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Suite{}, &SuiteList{})
}
