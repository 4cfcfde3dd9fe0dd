// Package manager builds Wattson's controller manager: scheme, caches scoped to what the
// reconcilers read, leader election, health and metrics endpoints, the Prometheus poller and the
// MIB upload page. main and the tests (envtest, the benchmark) build the operator the same way.
package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"os"
	"path/filepath"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/collect"
	"github.com/wattson-dev/wattson/operator/internal/controller"
	"github.com/wattson-dev/wattson/operator/internal/upload"
)

// Scrape modes.
const (
	ScrapeModeAuto               = "auto"
	ScrapeModePrometheusOperator = "prometheus-operator"
	ScrapeModePlain              = "plain"
)

// Options are the operator's settings; main fills them from flags.
type Options struct {
	Namespace              string
	MetricsAddr            string
	ProbeAddr              string
	LeaderElection         bool
	PrometheusURL          string
	PollInterval           time.Duration
	ScrapeMode             string
	ExporterImage          string
	ExporterReplicas       int32
	ExporterAddr           string
	QPS                    float32
	Burst                  int
	MaxConcurrentReconcile int
	UploadAddr             string
	UploadTokenSecret      string
	// SuiteDefaultImage runs Suites that name no spec.image (the kit's own image).
	SuiteDefaultImage string
	// SuitePollInterval is how often each Suite's runtime history is read into its status.
	SuitePollInterval time.Duration
	// SuiteTriggerDebounce folds the changes that rerun a Suite within this window into one.
	SuiteTriggerDebounce time.Duration
	// SuiteURL overrides where Suites' runtimes are reached (default: their Service); for
	// tests that run the runtime on loopback.
	SuiteURL func(*v1alpha1.Suite) string
	// RerunToken overrides the bearer token sent with POST /rerun (default: the token of the
	// operator's own credentials, re-read from its file each time).
	RerunToken func() (string, error)
	// SkipControllerNameValidation lets tests run several managers in one process
	// (controller names must otherwise be unique per process, for metrics).
	SkipControllerNameValidation bool
	// MetricsSecure serves /metrics over HTTPS, to bearer tokens the apiserver authenticates and
	// allows get on the non-resource URL /metrics (kubebuilder's v4 layout).
	MetricsSecure bool
	// MetricsCertDir holds MetricsCertName and MetricsKeyName, reloaded on change; empty: a
	// self-signed certificate made at start.
	MetricsCertDir, MetricsCertName, MetricsKeyName string
}

// Validate fails fast on settings that cannot work, naming the flag.
func (o *Options) Validate() error {
	var errs []error
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace: required (or set POD_NAMESPACE)"))
	}
	switch o.ScrapeMode {
	case ScrapeModeAuto, ScrapeModePrometheusOperator, ScrapeModePlain:
	default:
		errs = append(errs, fmt.Errorf("--scrape-mode: %q is not auto, prometheus-operator or plain", o.ScrapeMode))
	}
	if o.ExporterReplicas < 1 {
		errs = append(errs, fmt.Errorf("--exporter.replicas: must be at least 1, got %d", o.ExporterReplicas))
	}
	if o.PrometheusURL != "" && o.PollInterval < time.Second {
		errs = append(errs, fmt.Errorf("--prometheus.poll-interval: must be at least 1s, got %s", o.PollInterval))
	}
	if o.SuitePollInterval < time.Second {
		errs = append(errs, fmt.Errorf("--suite.poll-interval: must be at least 1s, got %s", o.SuitePollInterval))
	}
	if o.SuiteTriggerDebounce < 0 {
		errs = append(errs, fmt.Errorf("--suite.trigger-debounce: must not be negative, got %s", o.SuiteTriggerDebounce))
	}
	if o.MetricsCertDir != "" {
		if !o.MetricsSecure {
			errs = append(errs, errors.New("--metrics-cert-path: needs --metrics-secure"))
		}
		for _, f := range []string{o.MetricsCertName, o.MetricsKeyName} {
			// controller-runtime would fall back to a self-signed certificate without a word.
			if _, err := os.Stat(filepath.Join(o.MetricsCertDir, f)); err != nil {
				errs = append(errs, fmt.Errorf("--metrics-cert-path: %w", err))
			}
		}
	}
	if o.QPS <= 0 || o.Burst <= 0 {
		errs = append(errs, errors.New("--kube-api-qps and --kube-api-burst: must be positive"))
	}
	return errors.Join(errs...)
}

// Scheme holds every kind the operator reads or writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, monitoringv1.AddToScheme, monitoringv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // static registration; cannot fail
		}
	}
	return s
}

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=wattson-system
// Leader election records its transitions as core/v1 Events.
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=wattson-system

// The metrics endpoint checks each scraper's token (TokenReview) and its right to get /metrics
// (SubjectAccessReview).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// metricsOptions serves the metrics as kubebuilder's v4 layout does: over HTTPS, to callers the
// apiserver authenticates and authorises, with HTTP/2 off (CVE-2023-44487 and CVE-2023-39325,
// the rapid-reset and stream-cancellation attacks on Go's HTTP/2 server).
func metricsOptions(o Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsAddr}
	if !o.MetricsSecure {
		return m
	}
	m.SecureServing = true
	m.FilterProvider = filters.WithAuthenticationAndAuthorization
	m.CertDir, m.CertName, m.KeyName = o.MetricsCertDir, o.MetricsCertName, o.MetricsKeyName
	m.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	return m
}

// ConfigToken returns the bearer token of cfg: read from cfg.BearerTokenFile on every call
// (projected ServiceAccount tokens rotate), else cfg.BearerToken; empty when cfg authenticates
// otherwise (client certificates).
func ConfigToken(cfg *rest.Config) func() (string, error) {
	file, token := cfg.BearerTokenFile, cfg.BearerToken
	return func() (string, error) {
		if file == "" {
			return token, nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading the operator's token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
}

// identity is the operator's user name as the apiserver authenticates it (a SelfSubjectReview,
// which every authenticated user may create), so that a CredentialsForbidden condition names
// the right ServiceAccount; empty if the review fails.
func identity(cfg *rest.Config) string {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		ctrl.Log.WithName("setup").Error(err, "asking the apiserver who the operator is; CredentialsForbidden messages will not name its ServiceAccount")
		return ""
	}
	return r.Status.UserInfo.Username
}

// New builds the manager with every reconciler and runnable added.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	po := o.ScrapeMode == ScrapeModePrometheusOperator
	if o.ScrapeMode == ScrapeModeAuto {
		var err error
		if po, err = controller.PrometheusOperatorServed(cfg); err != nil {
			return nil, err
		}
	}
	ns := map[string]cache.Config{o.Namespace: {}}
	// Suites' runtimes live in the Suites' namespaces: there, only Wattson's own objects.
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.ManagedByLabel: v1alpha1.ManagedBy})
	nsAndManaged := map[string]cache.Config{o.Namespace: {}, cache.AllNamespaces: {LabelSelector: managed}}
	byObject := map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}:  {Namespaces: ns},
		&corev1.Service{}:    {Namespaces: nsAndManaged},
		&appsv1.Deployment{}: {Namespaces: nsAndManaged},
	}
	if po {
		byObject[&monitoringv1.PrometheusRule{}] = cache.ByObject{Namespaces: nsAndManaged}
		byObject[&monitoringv1.ServiceMonitor{}] = cache.ByObject{Label: managed}
	} else {
		byObject[&corev1.ConfigMap{}] = cache.ByObject{Namespaces: nsAndManaged}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "wattson-operator.wattson.dev",
		LeaderElectionNamespace: o.Namespace,
		// Wattson's own kinds are cached cluster-wide; what the operator writes lives in its
		// namespace. Secrets are never cached: controller.SecretWatcher watches their metadata
		// only, namespace by namespace where tenants granted it (the operator's ClusterRole
		// grants no Secret), and the reconcilers read the data of the Secrets PDUs and Suites
		// reference, one uncached Get each, so the cache holds no tenant's Secret data.
		Cache:      cache.Options{ByObject: byObject},
		Client:     client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Controller: ctrlconfig.Controller{SkipNameValidation: &o.SkipControllerNameValidation},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	copts := controller.Options{
		Namespace: o.Namespace, PrometheusOperator: po, ExporterAddr: o.ExporterAddr,
		ExporterImage: o.ExporterImage, ExporterReplicas: o.ExporterReplicas,
		MaxConcurrentReconciles: o.MaxConcurrentReconcile, RecheckAfter: 2 * o.PollInterval,
		SuiteDefaultImage: o.SuiteDefaultImage, SuitePollInterval: o.SuitePollInterval, SuiteURL: o.SuiteURL,
		SuiteTriggerDebounce: o.SuiteTriggerDebounce, RerunToken: o.RerunToken,
		Identity: identity(cfg),
	}
	if copts.RerunToken == nil {
		copts.RerunToken = ConfigToken(cfg)
	}
	if o.PrometheusURL != "" {
		events := make(chan event.GenericEvent, 1024)
		poller, err := collect.NewPoller(o.PrometheusURL, o.PollInterval, func(key types.NamespacedName) {
			pdu := &v1alpha1.PDU{}
			pdu.Namespace, pdu.Name = key.Namespace, key.Name
			events <- event.GenericEvent{Object: pdu}
		})
		if err != nil {
			return nil, err
		}
		if err := mgr.Add(poller); err != nil {
			return nil, err
		}
		copts.Readings, copts.ReadingEvents = poller, events
	}
	if err := controller.Setup(mgr, copts); err != nil {
		return nil, err
	}
	if o.UploadAddr != "" {
		srv, err := upload.New(upload.Options{
			Addr: o.UploadAddr, Namespace: o.Namespace, TokenSecret: o.UploadTokenSecret,
			Client: mgr.GetClient(), Config: cfg,
		})
		if err != nil {
			return nil, err
		}
		if err := mgr.Add(srv); err != nil {
			return nil, err
		}
	}
	ctrl.Log.WithName("setup").Info("operator configured", "namespace", o.Namespace, "prometheusOperator", po, "prometheus", o.PrometheusURL)
	return mgr, nil
}
