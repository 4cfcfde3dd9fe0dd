package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	ginkgotypes "github.com/onsi/ginkgo/v2/types"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/render"
	"github.com/wattson-dev/wattson/operator/internal/runs"
)

// Field indexes of Suites.
const (
	indexSuiteName   = "suite.name"
	indexSuiteSecret = "suite.secret"
)

// How much of the runtime's history the status is made of.
const (
	suiteHistoryRuns = 50
	maxFailingSpecs  = 20
	maxFlakySpecs    = 10
	maxMessage       = 1024
)

// SuiteReconciler renders a Suite's runtime (Deployment, Service and, with prometheus-operator,
// ServiceMonitor and PrometheusRule, else a rules ConfigMap), owned by the Suite, and reports
// in its status what the runtime's history API says about its runs.
type SuiteReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// PrometheusOperator selects a ServiceMonitor and PrometheusRule (true) or a ConfigMap
	// holding the rule file (false).
	PrometheusOperator bool
	// DefaultImage runs Suites without spec.image; empty makes them ImageMissing.
	DefaultImage string
	// URL says where the operator reaches a Suite's runtime; nil means render.SuiteURL (its
	// Service). Tests point it at a runtime on loopback.
	URL func(*v1alpha1.Suite) string
	// HTTP asks the runtimes; nil means a client with a 10s timeout.
	HTTP *http.Client
	// PollInterval is how often the runtime's history is read into the status.
	PollInterval time.Duration
	// Token is the bearer token sent to the runtimes (see runs.Client); nil sends none.
	Token func() (string, error)
	// Triggers, when set, gives the last rerun asked for each Suite (status.lastTrigger) and
	// tells this reconciler when one was sent.
	Triggers *SuiteTriggerReconciler
	// Secrets streams the metadata of the Secrets in the Suites' namespaces.
	Secrets *SecretWatcher
	// Forbidden words the message of CredentialsForbidden (credentialsForbidden).
	Forbidden func(field, namespace, name string) string
}

// +kubebuilder:rbac:groups=wattson.dev,resources=suites,verbs=get;list;watch
// +kubebuilder:rbac:groups=wattson.dev,resources=suites/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors;prometheusrules,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:urls=/wattson-runtime/api/*,verbs=get

// SetupWithManager registers the Suite indexes and controller: Suites, their children, the
// Suites sharing their suite name, their store Secret and the reruns sent.
func (r *SuiteReconciler) SetupWithManager(mgr ctrl.Manager) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1alpha1.Suite{}, indexSuiteName, func(o client.Object) []string {
		return []string{o.(*v1alpha1.Suite).EffectiveSuiteName()}
	}); err != nil {
		return fmt.Errorf("indexing Suites by suite name: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Suite{}, indexSuiteSecret, func(o client.Object) []string {
		s := o.(*v1alpha1.Suite)
		if s.Spec.Store == nil {
			return nil
		}
		return []string{s.Namespace + "/" + s.Spec.Store.PostgresURLSecretRef.Name}
	}); err != nil {
		return fmt.Errorf("indexing Suites by Secret: %w", err)
	}
	if r.HTTP == nil {
		r.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if r.PollInterval <= 0 {
		r.PollInterval = 30 * time.Second
	}
	c := mgr.GetClient()
	byIndex := func(index string, key func(client.Object) string) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
			var list v1alpha1.SuiteList
			if err := c.List(ctx, &list, client.MatchingFields{index: key(obj)}); err != nil {
				return nil
			}
			reqs := make([]reconcile.Request, 0, len(list.Items))
			for _, s := range list.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
			}
			return reqs
		})
	}
	b := ctrl.NewControllerManagedBy(mgr).Named("suite").
		For(&v1alpha1.Suite{}, specChanged).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Watches(&v1alpha1.Suite{}, byIndex(indexSuiteName, func(o client.Object) string { return o.(*v1alpha1.Suite).EffectiveSuiteName() }), specChanged).
		// Metadata only, per namespace, as every Secret watch of the operator (SecretWatcher).
		WatchesRawSource(source.Channel(r.Secrets.Subscribe(), byIndex(indexSuiteSecret, func(o client.Object) string { return o.GetNamespace() + "/" + o.GetName() })))
	if r.PrometheusOperator {
		b = b.Owns(&monitoringv1.ServiceMonitor{}).Owns(&monitoringv1.PrometheusRule{})
	} else {
		b = b.Owns(&corev1.ConfigMap{})
	}
	if r.Triggers != nil {
		b = b.WatchesRawSource(source.Channel(r.Triggers.sent, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

// Reconcile checks the Suite, writes its runtime and reports its runs.
func (r *SuiteReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	s := &v1alpha1.Suite{}
	if err := r.Get(ctx, req.NamespacedName, s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references remove the runtime
	}
	before := s.DeepCopy()
	defer func() {
		s.Status.ObservedGeneration = s.Generation
		if equality.Semantic.DeepEqual(before.Status, s.Status) {
			return
		}
		if err := r.Status().Patch(ctx, s, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching Suite status: %w", err))
		}
	}()
	s.Status.SuiteName = s.EffectiveSuiteName()
	if r.Triggers != nil {
		if t, ok := r.Triggers.Last(req.NamespacedName); ok {
			s.Status.LastTrigger = &t
		}
	}

	image, reason, msg, err := r.check(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	running := true
	if reason == "" {
		reason, msg, err = r.reconcileRuntime(ctx, s, image)
		if err != nil {
			return ctrl.Result{}, err
		}
	}
	if reason == v1alpha1.DuplicateSuiteNameReason {
		// The name belongs to an earlier Suite: a second runtime under it would mix their runs.
		if err := r.deleteRuntime(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		running = false
	} else if reason != "" {
		// A bad edit keeps the last good runtime, if there is one, running and reporting.
		running, err = r.hasDeployment(ctx, s)
		if err != nil {
			return ctrl.Result{}, err
		}
	}
	if reason != "" {
		r.setCondition(s, v1alpha1.ReadyCondition, metav1.ConditionFalse, reason, msg)
	} else {
		r.setCondition(s, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.DeployedReason, msg)
	}
	if !running {
		s.Status.URL, s.Status.ReadyReplicas = "", 0
		s.Status.Verdict = v1alpha1.VerdictUnknown
		r.setCondition(s, v1alpha1.PassingCondition, metav1.ConditionUnknown, v1alpha1.NotReadyReason, "no runtime runs the Suite: it is not Ready ("+reason+")")
		return ctrl.Result{}, nil
	}
	r.reconcileReport(ctx, s)
	return ctrl.Result{RequeueAfter: r.PollInterval}, nil
}

func (r *SuiteReconciler) setCondition(s *v1alpha1.Suite, typ string, status metav1.ConditionStatus, reason, msg string) {
	setCondition(r.Recorder, s, &s.Status.Conditions, s.Generation, typ, status, reason, msg)
}

// check validates what the schema cannot: the image, the label filter, trigger selectors, the
// store's Secret and the suite name's owner. It returns the image to run, or a reason and a
// message naming the field.
func (r *SuiteReconciler) check(ctx context.Context, s *v1alpha1.Suite) (image, reason, msg string, err error) {
	image = s.Spec.Image
	if image == "" {
		image = r.DefaultImage
	}
	if image == "" {
		return "", v1alpha1.ImageMissingReason, "spec.image: empty, and the operator has no --suite.default-image to run instead", nil
	}
	if _, err := ginkgotypes.ParseLabelFilter(s.Spec.LabelFilter); err != nil {
		return "", v1alpha1.InvalidLabelFilterReason, fmt.Sprintf("spec.labelFilter: Ginkgo cannot parse %q: %s", s.Spec.LabelFilter, oneLine(err.Error())), nil
	}
	for i, t := range s.Spec.Triggers {
		if _, err := metav1.LabelSelectorAsSelector(t.Selector); err != nil {
			return "", v1alpha1.InvalidSpecReason, fmt.Sprintf("spec.triggers[%d].selector: %v", i, err), nil
		}
	}
	if _, err := render.SuiteRuleGroups(s); err != nil {
		return "", v1alpha1.InvalidSpecReason, err.Error(), nil //nolint:nilerr // an invalid spec is a condition, not a reconcile error
	}
	if st := s.Spec.Store; st != nil {
		ref := st.PostgresURLSecretRef
		var secret corev1.Secret
		err := r.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: ref.Name}, &secret)
		if apierrors.IsNotFound(err) {
			return "", v1alpha1.SecretNotFoundReason, fmt.Sprintf("spec.store.postgresURLSecretRef.name: Secret %s/%s not found", s.Namespace, ref.Name), nil
		}
		if apierrors.IsForbidden(err) {
			forbidden := r.Forbidden
			if forbidden == nil {
				forbidden = credentialsForbidden("")
			}
			return "", v1alpha1.CredentialsForbiddenReason, forbidden("spec.store.postgresURLSecretRef.name", s.Namespace, ref.Name), nil
		}
		if err != nil {
			return "", "", "", fmt.Errorf("reading Secret %s/%s: %w", s.Namespace, ref.Name, err)
		}
		if len(secret.Data[ref.Key]) == 0 {
			return "", v1alpha1.SecretKeyMissingReason, fmt.Sprintf("spec.store.postgresURLSecretRef.key: Secret %s/%s has no key %q", s.Namespace, ref.Name, ref.Key), nil
		}
	}
	owner, err := r.suiteNameOwner(ctx, s)
	if err != nil {
		return "", "", "", err
	}
	if owner != nil && owner.UID != s.UID {
		field := "spec.suiteName"
		if s.Spec.SuiteName == "" {
			field = "metadata.name (the default spec.suiteName)"
		}
		return "", v1alpha1.DuplicateSuiteNameReason, fmt.Sprintf("%s: suite name %q is already claimed by Suite %s/%s, created earlier; choose another spec.suiteName",
			field, s.EffectiveSuiteName(), owner.Namespace, owner.Name), nil
	}
	return image, "", "", nil
}

// suiteNameOwner returns the Suite that owns s's suite name: the earliest created (then the
// first by namespace/name) of the Suites claiming it.
func (r *SuiteReconciler) suiteNameOwner(ctx context.Context, s *v1alpha1.Suite) (*v1alpha1.Suite, error) {
	var list v1alpha1.SuiteList
	if err := r.List(ctx, &list, client.MatchingFields{indexSuiteName: s.EffectiveSuiteName()}); err != nil {
		return nil, fmt.Errorf("listing Suites named %s: %w", s.EffectiveSuiteName(), err)
	}
	claims := []*v1alpha1.Suite{s}
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID != s.UID && o.DeletionTimestamp.IsZero() {
			claims = append(claims, o)
		}
	}
	sort.Slice(claims, func(i, j int) bool {
		a, b := claims[i], claims[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	return claims[0], nil
}

// errConflict is an object of a child's name that is not the Suite's.
type errConflict struct{ msg string }

func (e *errConflict) Error() string { return e.msg }

// reconcileRuntime writes the runtime's objects. A child name held by someone else's object
// is a ChildConflict, not an error: retrying cannot help until that object goes.
func (r *SuiteReconciler) reconcileRuntime(ctx context.Context, s *v1alpha1.Suite, image string) (reason, msg string, err error) {
	// The Deployment, what runs, goes last: a conflict on any other child stops before it.
	svcWant := render.SuiteService(s)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svcWant.Name, Namespace: svcWant.Namespace}}
	err = r.apply(ctx, s, svc, func() {
		svc.Labels = svcWant.Labels
		svc.Spec.Selector, svc.Spec.Ports = svcWant.Spec.Selector, svcWant.Spec.Ports
	})
	objects := "Service, rules ConfigMap and Deployment"
	if err == nil && r.PrometheusOperator {
		objects = "Service, ServiceMonitor, PrometheusRule and Deployment"
		smWant := render.SuiteServiceMonitor(s)
		sm := &monitoringv1.ServiceMonitor{ObjectMeta: metav1.ObjectMeta{Name: smWant.Name, Namespace: smWant.Namespace}}
		err = r.apply(ctx, s, sm, func() { sm.Labels, sm.Spec = smWant.Labels, smWant.Spec })
		if err == nil {
			var prWant *monitoringv1.PrometheusRule
			if prWant, err = render.SuitePrometheusRule(s); err == nil {
				pr := &monitoringv1.PrometheusRule{ObjectMeta: metav1.ObjectMeta{Name: prWant.Name, Namespace: prWant.Namespace}}
				err = r.apply(ctx, s, pr, func() { pr.Labels, pr.Spec = prWant.Labels, prWant.Spec })
			}
		}
	} else if err == nil {
		var cmWant *corev1.ConfigMap
		if cmWant, err = render.SuiteRulesConfigMap(s); err == nil {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cmWant.Name, Namespace: cmWant.Namespace}}
			err = r.apply(ctx, s, cm, func() { cm.Labels, cm.Data = cmWant.Labels, cmWant.Data })
		}
	}
	want := render.SuiteDeployment(s, image)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
	if err == nil {
		err = r.apply(ctx, s, dep, func() {
			dep.Labels = want.Labels
			dep.Spec.Replicas, dep.Spec.Selector, dep.Spec.Strategy, dep.Spec.Template = want.Spec.Replicas, want.Spec.Selector, want.Spec.Strategy, want.Spec.Template
		})
	}
	var conflict *errConflict
	if errors.As(err, &conflict) {
		return v1alpha1.ChildConflictReason, conflict.msg, nil
	}
	if err != nil {
		return "", "", err
	}
	s.Status.ReadyReplicas = dep.Status.ReadyReplicas
	return "", fmt.Sprintf("%s %s applied: %d replica(s) of %s running suite %s every %s",
		objects, want.Name, render.SuiteReplicas(s), image, s.EffectiveSuiteName(), render.SuiteInterval(s)), nil
}

// apply creates or updates a child, refusing to touch an object the Suite does not control.
func (r *SuiteReconciler) apply(ctx context.Context, s *v1alpha1.Suite, obj client.Object, mutate func()) error {
	kind := strings.TrimPrefix(fmt.Sprintf("%T", obj), "*")
	kind = kind[strings.LastIndex(kind, ".")+1:]
	conflict := &errConflict{fmt.Sprintf("metadata.name: %s %s/%s exists and does not belong to this Suite; it is left alone", kind, obj.GetNamespace(), obj.GetName())}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
		if obj.GetResourceVersion() != "" && !metav1.IsControlledBy(obj, s) {
			return conflict
		}
		mutate()
		return controllerutil.SetControllerReference(s, obj, r.Scheme)
	})
	if apierrors.IsAlreadyExists(err) {
		// Not in the cache (which holds only Wattson's objects outside the operator's
		// namespace), yet there: someone else's.
		return conflict
	}
	if err != nil && !errors.Is(err, conflict) {
		return fmt.Errorf("writing %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return err
}

func (r *SuiteReconciler) children(s *v1alpha1.Suite) []client.Object {
	meta := metav1.ObjectMeta{Name: render.SuiteObjectName(s), Namespace: s.Namespace}
	objs := []client.Object{&appsv1.Deployment{ObjectMeta: meta}, &corev1.Service{ObjectMeta: meta}}
	if r.PrometheusOperator {
		return append(objs, &monitoringv1.ServiceMonitor{ObjectMeta: meta}, &monitoringv1.PrometheusRule{ObjectMeta: meta})
	}
	return append(objs, &corev1.ConfigMap{ObjectMeta: meta})
}

// deleteRuntime removes the children this Suite controls.
func (r *SuiteReconciler) deleteRuntime(ctx context.Context, s *v1alpha1.Suite) error {
	for _, obj := range r.children(s) {
		if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		if !metav1.IsControlledBy(obj, s) {
			continue
		}
		if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}

// hasDeployment reports whether the Suite's runtime Deployment (a last good one) exists.
func (r *SuiteReconciler) hasDeployment(ctx context.Context, s *v1alpha1.Suite) (bool, error) {
	var dep appsv1.Deployment
	err := r.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: render.SuiteObjectName(s)}, &dep)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.Status.ReadyReplicas = dep.Status.ReadyReplicas
	return metav1.IsControlledBy(&dep, s), nil
}

func (r *SuiteReconciler) url(s *v1alpha1.Suite) string {
	if r.URL != nil {
		return r.URL(s)
	}
	return render.SuiteURL(s)
}

// reconcileReport reads the runtime's history into the status and sets Passing. When the
// runtime does not answer, what the status says about past runs stays (it is history), but the
// verdict becomes Unknown: nothing says the suite still passes.
func (r *SuiteReconciler) reconcileReport(ctx context.Context, s *v1alpha1.Suite) {
	c := &runs.Client{URL: r.url(s), HTTP: r.HTTP, Token: r.Token}
	s.Status.URL = c.URL
	unreachable := func(err error) {
		s.Status.Verdict = v1alpha1.VerdictUnknown
		r.setCondition(s, v1alpha1.PassingCondition, metav1.ConditionUnknown, v1alpha1.RuntimeUnreachableReason, oneLine(err.Error()))
	}
	list, err := c.Runs(ctx, suiteHistoryRuns)
	if err != nil {
		unreachable(err)
		return
	}
	sum := runs.Summarize(s.EffectiveSuiteName(), list)
	s.Status.ConsecutiveFailures = int32(sum.ConsecutiveFailures)
	if sum.Last == nil {
		s.Status.LastRun, s.Status.Verdict = nil, v1alpha1.VerdictUnknown
		s.Status.FailingSpecs, s.Status.FailingSpecCount, s.Status.FlakySpecs, s.Status.FlakySpecCount = nil, 0, nil, 0
		r.setCondition(s, v1alpha1.PassingCondition, metav1.ConditionUnknown, v1alpha1.NoRunYetReason, fmt.Sprintf("the runtime at %s has no run of suite %s yet", c.URL, s.EffectiveSuiteName()))
		return
	}
	s.Status.LastRun = suiteRun(sum.Last)

	s.Status.FailingSpecs, s.Status.FailingSpecCount = nil, 0
	if lc := sum.LastComplete; lc != nil && lc.Result == runs.Failed {
		run, err := c.Run(ctx, lc.ID)
		if err != nil {
			unreachable(err)
			return
		}
		for _, sp := range run.Specs {
			if !sp.Failed() {
				continue
			}
			s.Status.FailingSpecCount++
			if len(s.Status.FailingSpecs) < maxFailingSpecs {
				s.Status.FailingSpecs = append(s.Status.FailingSpecs, v1alpha1.FailingSpec{
					Name: sp.Name, Labels: sp.Labels, Location: sp.Location, Message: clip(sp.Message, maxMessage),
				})
			}
		}
	}
	flaky, err := c.Flaky(ctx, suiteHistoryRuns)
	if err != nil {
		unreachable(err)
		return
	}
	s.Status.FlakySpecs, s.Status.FlakySpecCount = nil, 0
	for _, f := range flaky {
		if f.Suite != s.EffectiveSuiteName() {
			continue
		}
		s.Status.FlakySpecCount++
		if len(s.Status.FlakySpecs) < maxFlakySpecs {
			s.Status.FlakySpecs = append(s.Status.FlakySpecs, v1alpha1.FlakySpec{Name: f.Name, Runs: int32(f.Runs), Failures: int32(f.Failures), Flips: int32(f.Flips)})
		}
	}

	last := sum.Last
	when := last.FinishedAt.UTC().Format(time.RFC3339)
	switch last.Result {
	case runs.Passed:
		s.Status.Verdict = v1alpha1.VerdictPassed
		r.setCondition(s, v1alpha1.PassingCondition, metav1.ConditionTrue, v1alpha1.LastRunPassedReason,
			fmt.Sprintf("run %s (%s) passed at %s: %d specs passed", last.ID, triggerOf(last), when, last.Passed))
	case runs.Failed:
		s.Status.Verdict = v1alpha1.VerdictFailed
		names := make([]string, 0, 3)
		for _, f := range s.Status.FailingSpecs {
			if len(names) == 3 {
				names = append(names, "...")
				break
			}
			names = append(names, fmt.Sprintf("%q", f.Name))
		}
		r.setCondition(s, v1alpha1.PassingCondition, metav1.ConditionFalse, v1alpha1.LastRunFailedReason,
			fmt.Sprintf("run %s (%s) failed at %s: %d of %d specs failed, %d complete runs in a row: %s", last.ID, triggerOf(last), when,
				last.Failed, last.Passed+last.Failed, sum.ConsecutiveFailures, strings.Join(names, ", ")))
	default:
		s.Status.Verdict = v1alpha1.VerdictError
		r.setCondition(s, v1alpha1.PassingCondition, metav1.ConditionUnknown, v1alpha1.HarnessErrorReason,
			fmt.Sprintf("run %s (%s) could not check anything (%s): %s", last.ID, triggerOf(last), when, clip(oneLine(last.Error), 512)))
	}
}

func triggerOf(r *runs.Run) string {
	if r.Trigger == "" {
		return "trigger unknown"
	}
	return "trigger " + r.Trigger
}

func suiteRun(r *runs.Run) *v1alpha1.SuiteRun {
	out := &v1alpha1.SuiteRun{
		ID: r.ID, Result: r.Result, Trigger: r.Trigger, StartedAt: metav1.NewTime(r.StartedAt),
		Passed: int32(r.Passed), Failed: int32(r.Failed), Skipped: int32(r.Skipped), Error: clip(r.Error, maxMessage),
	}
	if !r.FinishedAt.IsZero() {
		t := metav1.NewTime(r.FinishedAt)
		out.FinishedAt = &t
	}
	return out
}

// clip keeps the start of s within n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// suiteEvent is how the trigger reconciler wakes this one for a Suite.
func suiteEvent(key types.NamespacedName) event.GenericEvent {
	s := &v1alpha1.Suite{}
	s.Namespace, s.Name = key.Namespace, key.Name
	return event.GenericEvent{Object: s}
}
