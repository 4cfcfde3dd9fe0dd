package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/collect"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

// Readings gives the latest Prometheus poll; nil when the operator runs without
// --prometheus.url.
type Readings interface {
	Snapshot() *collect.Snapshot
}

// PDUReconciler wires one PDU and reports whether its data flows.
type PDUReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// PrometheusOperator is true when the ScrapeConfig and Probe CRDs are served; otherwise
	// the pipeline writes a plain scrape configuration and no per-PDU object is made.
	PrometheusOperator bool
	// ExporterAddr is host:port of the snmp_exporter Service.
	ExporterAddr string
	// Readings may be nil (no --prometheus.url).
	Readings Readings
	// ReadingEvents names the PDUs whose Prometheus reading changed (collect.Poller); may be nil.
	ReadingEvents <-chan event.GenericEvent
	// RecheckAfter is how soon a PDU that is not collecting is looked at again.
	RecheckAfter time.Duration
	// MaxConcurrentReconciles is how many PDUs are reconciled at once (at least 1).
	MaxConcurrentReconciles int
	// Secrets streams the metadata of the Secrets in the PDUs' namespaces.
	Secrets *SecretWatcher
	// Forbidden words the message of CredentialsForbidden (credentialsForbidden).
	Forbidden func(field, namespace, name string) string
}

// SetupWithManager says what a PDU watches: its own spec, its PDUModel, its Secret, the PDUs
// sharing its address (for DuplicateAddress), its ScrapeConfig or Probe when prometheus-operator
// is served, and the Prometheus readings.
func (r *PDUReconciler) SetupWithManager(mgr ctrl.Manager) error {
	byIndex := func(index string, key func(client.Object) string) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
			var list v1alpha1.PDUList
			if err := r.List(ctx, &list, client.MatchingFields{index: key(obj)}); err != nil {
				return nil
			}
			reqs := make([]reconcile.Request, 0, len(list.Items))
			for _, p := range list.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}})
			}
			return reqs
		})
	}
	b := ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.PDU{}, specChanged).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Watches(&v1alpha1.PDUModel{}, byIndex(indexModel, func(o client.Object) string { return o.GetName() })).
		WatchesRawSource(source.Channel(r.Secrets.Subscribe(), byIndex(indexSecret, func(o client.Object) string { return o.GetNamespace() + "/" + o.GetName() }))).
		Watches(&v1alpha1.PDU{}, byIndex(indexTarget, func(o client.Object) string { return render.Target(o.(*v1alpha1.PDU)) }), specChanged)
	if r.PrometheusOperator {
		b = b.Owns(&monitoringv1alpha1.ScrapeConfig{}).Owns(&monitoringv1.Probe{})
	}
	if r.ReadingEvents != nil {
		b = b.WatchesRawSource(source.Channel(r.ReadingEvents, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

// +kubebuilder:rbac:groups=wattson.dev,resources=pdus,verbs=get;list;watch
// +kubebuilder:rbac:groups=wattson.dev,resources=pdus/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=scrapeconfigs;probes,verbs=get;list;watch;create;update;patch;delete

// Reconcile checks the PDU, keeps its scrape object and reports Ready and Collecting.
func (r *PDUReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	pdu := &v1alpha1.PDU{}
	if err := r.Get(ctx, req.NamespacedName, pdu); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pdu.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references remove the scrape object
	}
	before := pdu.DeepCopy()
	defer func() {
		pdu.Status.ObservedGeneration = pdu.Generation
		if apimeta.IsStatusConditionTrue(pdu.Status.Conditions, v1alpha1.ReadyCondition) &&
			!apimeta.IsStatusConditionTrue(pdu.Status.Conditions, v1alpha1.CollectingCondition) && r.Readings != nil {
			result.RequeueAfter = r.RecheckAfter
		}
		if equality.Semantic.DeepEqual(before.Status, pdu.Status) {
			return
		}
		if err := r.Status().Patch(ctx, pdu, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching PDU status: %w", err))
		}
	}()

	c, err := checkPDU(ctx, r.Client, pdu, r.Forbidden)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.reconcileScrapeObject(ctx, pdu, c); err != nil {
		return ctrl.Result{}, err
	}
	r.reconcileReady(pdu, c)
	r.reconcileCollecting(pdu, c)
	return ctrl.Result{}, nil
}

func (r *PDUReconciler) setCondition(pdu *v1alpha1.PDU, typ string, status metav1.ConditionStatus, reason, msg string) {
	setCondition(r.Recorder, pdu, &pdu.Status.Conditions, pdu.Generation, typ, status, reason, msg)
}

// reconcileScrapeObject makes the PDU's ScrapeConfig or Probe when the PDU is usable, and
// removes it (and the other kind) otherwise, so Prometheus never scrapes a PDU whose auth is not
// in the exporter's configuration.
func (r *PDUReconciler) reconcileScrapeObject(ctx context.Context, pdu *v1alpha1.PDU, c *check) error {
	if !r.PrometheusOperator {
		if c.Reason == "" {
			pdu.Status.ScrapeObject = "job " + v1alpha1.PDUJob + " in Secret " + v1alpha1.ScrapeConfigsName
		}
		return nil
	}
	sc := &monitoringv1alpha1.ScrapeConfig{ObjectMeta: metav1.ObjectMeta{Name: pdu.Name, Namespace: pdu.Namespace}}
	probe := &monitoringv1.Probe{ObjectMeta: metav1.ObjectMeta{Name: pdu.Name, Namespace: pdu.Namespace}}
	want, other := client.Object(sc), client.Object(probe)
	if pdu.Spec.ScrapeResource == v1alpha1.ProbeResource {
		want, other = probe, sc
	}
	if err := r.deleteOwned(ctx, pdu, other); err != nil {
		return err
	}
	if c.Reason != "" {
		pdu.Status.ScrapeObject = ""
		return r.deleteOwned(ctx, pdu, want)
	}
	module := render.ModuleName(c.Model)
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, want, func() error {
		switch obj := want.(type) {
		case *monitoringv1alpha1.ScrapeConfig:
			desired := render.ScrapeConfig(pdu, module, r.ExporterAddr)
			obj.Labels, obj.Spec = desired.Labels, desired.Spec
		case *monitoringv1.Probe:
			desired := render.Probe(pdu, module, r.ExporterAddr)
			obj.Labels, obj.Spec = desired.Labels, desired.Spec
		}
		return controllerutil.SetControllerReference(pdu, want, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("writing %T %s/%s: %w", want, pdu.Namespace, pdu.Name, err)
	}
	kind := "ScrapeConfig"
	if pdu.Spec.ScrapeResource == v1alpha1.ProbeResource {
		kind = "Probe"
	}
	pdu.Status.ScrapeObject = kind + " " + pdu.Namespace + "/" + pdu.Name
	return nil
}

// deleteOwned deletes obj if it exists and this PDU controls it; a user's object of the same
// name is left alone.
func (r *PDUReconciler) deleteOwned(ctx context.Context, pdu *v1alpha1.PDU, obj client.Object) error {
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if ref := metav1.GetControllerOf(obj); ref == nil || ref.UID != pdu.UID {
		return nil
	}
	return client.IgnoreNotFound(r.Delete(ctx, obj))
}

func (r *PDUReconciler) reconcileReady(pdu *v1alpha1.PDU, c *check) {
	if c.Reason != "" {
		pdu.Status.Module, pdu.Status.Auth = "", ""
		r.setCondition(pdu, v1alpha1.ReadyCondition, metav1.ConditionFalse, c.Reason, c.Message)
		return
	}
	pdu.Status.Module, pdu.Status.Auth = render.ModuleName(c.Model), render.AuthName(pdu)
	r.setCondition(pdu, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.ConfiguredReason,
		fmt.Sprintf("scraped through snmp_exporter module %s, auth %s, every %s", pdu.Status.Module, pdu.Status.Auth, render.Interval(pdu)))
}

// reconcileCollecting reads the last Prometheus poll: up, the power series at the model's
// broadest scope, and the age of its newest sample.
func (r *PDUReconciler) reconcileCollecting(pdu *v1alpha1.PDU, c *check) {
	set := func(status metav1.ConditionStatus, reason, msg string) {
		r.setCondition(pdu, v1alpha1.CollectingCondition, status, reason, msg)
	}
	if c.Reason != "" {
		set(metav1.ConditionFalse, v1alpha1.NotReadyReason, "the PDU is not Ready: "+c.Reason)
		return
	}
	if r.Readings == nil {
		set(metav1.ConditionUnknown, v1alpha1.PrometheusNotConfiguredReason, "the operator runs without --prometheus.url")
		return
	}
	snap := r.Readings.Snapshot()
	if snap == nil {
		set(metav1.ConditionUnknown, v1alpha1.PrometheusUnavailableReason, "Prometheus has not been queried yet")
		return
	}
	if snap.Err != nil {
		set(metav1.ConditionUnknown, v1alpha1.PrometheusUnavailableReason, snap.Err.Error())
		return
	}
	reading := snap.Reading(types.NamespacedName{Namespace: pdu.Namespace, Name: pdu.Name})
	scope := render.BroadestPowerScope(c.Model)
	switch {
	case !reading.Scraped:
		set(metav1.ConditionFalse, v1alpha1.TargetMissingReason, fmt.Sprintf("Prometheus has no series up{job=%q,namespace=%q,pdu=%q}", v1alpha1.PDUJob, pdu.Namespace, pdu.Name))
		return
	case reading.Up != 1:
		set(metav1.ConditionFalse, v1alpha1.TargetDownReason, "up is 0: snmp_exporter cannot read the PDU (address, port, credentials or module)")
		return
	}
	watts, ok := reading.Watts[string(scope)]
	if !ok {
		set(metav1.ConditionFalse, v1alpha1.PowerMissingReason, fmt.Sprintf("no %s{namespace=%q,pdu=%q,scope=%q} series (recording rules not loaded, or the PDU does not report this object)",
			v1alpha1.MetricPower, pdu.Namespace, pdu.Name, scope))
		return
	}
	pdu.Status.LastPower = &v1alpha1.PowerReading{Watts: strconv.FormatFloat(watts, 'f', 1, 64), Time: metav1.NewTime(reading.SampleTime)}
	if age, limit := snap.At.Sub(reading.SampleTime), v1alpha1.StaleAfterIntervals*interval(pdu); age > limit {
		set(metav1.ConditionFalse, v1alpha1.SamplesStaleReason, fmt.Sprintf("the newest power sample is %s old, more than %d intervals (%s)", age.Round(time.Second), v1alpha1.StaleAfterIntervals, limit))
		return
	}
	set(metav1.ConditionTrue, v1alpha1.PowerReportedReason, fmt.Sprintf("%s W at scope %s", pdu.Status.LastPower.Watts, scope))
}
