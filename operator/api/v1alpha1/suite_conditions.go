package v1alpha1

// PassingCondition is True when the Suite's last run passed, False when it failed and Unknown
// when nothing is known: no run yet, a harness error, or the runtime cannot be asked. A gate
// can wait on it: kubectl wait suite/energy --for=condition=Passing.
const PassingCondition = "Passing"

// Reasons of a Suite's Ready condition.
const (
	// DeployedReason: the runtime's Deployment and Service (and, with prometheus-operator, its
	// ServiceMonitor and PrometheusRule; without, its rules ConfigMap) are applied (Ready=True).
	DeployedReason = "Deployed"
	// ImageMissingReason: spec.image is empty and the operator has no --suite.default-image.
	ImageMissingReason = "ImageMissing"
	// InvalidLabelFilterReason: Ginkgo cannot parse spec.labelFilter.
	InvalidLabelFilterReason = "InvalidLabelFilter"
	// DuplicateSuiteNameReason: another Suite, created earlier, already runs under the same
	// suite name (spec.suiteName, or metadata.name). The later one's runtime is removed.
	DuplicateSuiteNameReason = "DuplicateSuiteName"
	// ChildConflictReason: an object the Suite would write (wattson-suite-<name>) exists and
	// belongs to something else; it is left alone.
	ChildConflictReason = "ChildConflict"
)

// Reasons of a Suite's Passing condition. SecretNotFoundReason, SecretKeyMissingReason and
// CredentialsForbiddenReason (for spec.store.postgresURLSecretRef) and InvalidSpecReason are
// shared with the PDU.
const (
	// LastRunPassedReason: every spec of the last run passed (Passing=True).
	LastRunPassedReason = "LastRunPassed"
	// LastRunFailedReason: specs failed in the last run (Passing=False).
	LastRunFailedReason = "LastRunFailed"
	// HarnessErrorReason: the last run could not check anything (Passing=Unknown).
	HarnessErrorReason = "HarnessError"
	// NoRunYetReason: the runtime answers but has no run of the suite yet (Passing=Unknown).
	NoRunYetReason = "NoRunYet"
	// RuntimeUnreachableReason: the runtime's history API did not answer (Passing=Unknown).
	RuntimeUnreachableReason = "RuntimeUnreachable"
)

// Labels and ports of a Suite's runtime objects.
const (
	// SuiteLabel carries the Suite's name on every object made for it.
	SuiteLabel = "wattson.dev/suite"
	// KubernetesAssertLabel with value KubernetesAssertMetrics marks Services that serve
	// kubernetes-assert metrics, as kubernetes-assert's own Service does.
	KubernetesAssertLabel   = "kubernetes-assert"
	KubernetesAssertMetrics = "metrics"
	// RuntimePortName is the name of the runtime's port: metrics, history API, page and
	// POST /rerun.
	RuntimePortName = "assert"
	// RuntimePort is the runtime's port number.
	RuntimePort = 9464
	// SuitePrefix prefixes the names of a Suite's runtime objects: wattson-suite-<name>.
	SuitePrefix = "wattson-suite-"
	// SuiteMetricLabel is the target label the ServiceMonitor adds to every series of a
	// Suite's runtime (the Suite's name), so its rules select exactly its series.
	SuiteMetricLabel = "wattson_suite"
)
