package controller

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

var secretsGVR = corev1.SchemeGroupVersion.WithResource("secrets")

// SecretWatcher watches the metadata of Secrets one namespace at a time: the operator's own and
// each namespace that holds a PDU or a Suite with a store, started and stopped as those come and
// go. The operator's ClusterRole grants no Secret: a tenant lets the operator read their Secrets
// with a RoleBinding of v1alpha1.CredentialsReaderRole in their namespace. Without one, the
// namespace's watch is forbidden; it is stopped and the namespace is probed every Recheck (one
// metadata list of at most one item) until the binding appears, when the watch starts again and
// its first list, an add event for every Secret there, reconciles every PDU and Suite that
// references one. Secrets' data is never streamed nor cached: the reconcilers read it with an
// uncached get.
type SecretWatcher struct {
	// Namespace is the operator's own, always watched (the exporter's rendered Secrets).
	Namespace string
	// Recheck is how often a forbidden namespace is probed and the namespace set recomputed.
	Recheck time.Duration

	meta  metadata.Interface
	cache cache.Cache
	subs  []chan event.GenericEvent
	kick  chan struct{}

	mu      sync.Mutex
	watches map[string]*nsWatch
}

// nsWatch is the watch of one namespace; cancel is nil while it is forbidden.
type nsWatch struct {
	cancel    context.CancelFunc
	informer  toolscache.SharedIndexInformer
	forbidden *atomic.Bool // set by the current informer's watch error handler
	logged    bool         // the forbidden state was logged (once per change)
}

// NewSecretWatcher watches Secrets' metadata through meta and finds the PDUs and Suites in c.
func NewSecretWatcher(meta metadata.Interface, c cache.Cache, namespace string) *SecretWatcher {
	return &SecretWatcher{Namespace: namespace, Recheck: 5 * time.Second, meta: meta, cache: c,
		kick: make(chan struct{}, 1), watches: map[string]*nsWatch{}}
}

// Subscribe returns a channel of the Secrets' add, update and delete events (a
// metav1.PartialObjectMetadata each) for a controller's source.Channel. Call it before Start.
func (w *SecretWatcher) Subscribe() <-chan event.GenericEvent {
	ch := make(chan event.GenericEvent, 1024)
	w.subs = append(w.subs, ch)
	return ch
}

// Start keeps one watch per namespace that needs it until ctx ends.
func (w *SecretWatcher) Start(ctx context.Context) error {
	kick := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.Kick() },
		DeleteFunc: func(any) { w.Kick() },
	}
	for _, obj := range []client.Object{&v1alpha1.PDU{}, &v1alpha1.Suite{}} {
		inf, err := w.cache.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("secret watcher: informer of %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(kick); err != nil {
			return fmt.Errorf("secret watcher: handler on %T: %w", obj, err)
		}
	}
	tick := time.NewTicker(w.Recheck)
	defer tick.Stop()
	for {
		w.sync(ctx)
		select {
		case <-ctx.Done():
			w.mu.Lock()
			for _, nw := range w.watches {
				if nw.cancel != nil {
					nw.cancel()
				}
			}
			w.mu.Unlock()
			return nil
		case <-w.kick:
		case <-tick.C:
		}
	}
}

// Kick recomputes the namespaces to watch soon (a PDU or Suite was added or deleted).
func (w *SecretWatcher) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// sync starts and stops watches to match the namespaces that hold PDUs or Suites with a store,
// stops the watches found forbidden and restarts those whose probe now succeeds.
func (w *SecretWatcher) sync(ctx context.Context) {
	logger := log.FromContext(ctx).WithName("secret-watcher")
	want := map[string]bool{w.Namespace: true}
	var pdus v1alpha1.PDUList
	var suites v1alpha1.SuiteList
	if err := w.cache.List(ctx, &pdus, client.UnsafeDisableDeepCopy); err != nil {
		logger.Error(err, "listing PDUs")
		return
	}
	if err := w.cache.List(ctx, &suites, client.UnsafeDisableDeepCopy); err != nil {
		logger.Error(err, "listing Suites")
		return
	}
	for _, p := range pdus.Items {
		want[p.Namespace] = true
	}
	for _, s := range suites.Items {
		if s.Spec.Store != nil {
			want[s.Namespace] = true
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for ns, nw := range w.watches {
		if !want[ns] {
			if nw.cancel != nil {
				nw.cancel()
			}
			delete(w.watches, ns)
			logger.V(1).Info("stopped watching Secrets", "namespace", ns)
		}
	}
	for ns := range want {
		nw := w.watches[ns]
		if nw == nil {
			nw = &nsWatch{}
			w.watches[ns] = nw
			w.start(ctx, ns, nw)
			continue
		}
		if nw.cancel != nil && nw.forbidden.Load() {
			nw.cancel()
			nw.cancel = nil
			// Access was revoked (or never granted): the Secrets it knew are replayed, so that
			// their PDUs and Suites are reconciled and say CredentialsForbidden.
			for _, obj := range nw.informer.GetStore().List() {
				w.send(ctx, obj)
			}
			if !nw.logged {
				nw.logged = true
				logger.Info("may not watch Secrets; PDUs and Suites there are CredentialsForbidden until a RoleBinding grants "+v1alpha1.CredentialsReaderRole,
					"namespace", ns)
			}
		}
		if nw.cancel == nil {
			_, err := w.meta.Resource(secretsGVR).Namespace(ns).List(ctx, metav1.ListOptions{Limit: 1})
			switch {
			case err == nil:
				if nw.logged {
					logger.Info("may watch Secrets again", "namespace", ns)
				}
				nw.logged = false
				w.start(ctx, ns, nw)
			case !apierrors.IsForbidden(err):
				logger.Error(err, "probing Secrets", "namespace", ns)
			}
		}
	}
}

// start runs a metadata-only informer of namespace's Secrets; a forbidden list or watch marks
// nw forbidden for sync to stop it.
func (w *SecretWatcher) start(ctx context.Context, namespace string, nw *nsWatch) {
	ctx, cancel := context.WithCancel(ctx)
	// A flag of its own, so that a late error of a stopped informer cannot mark this one.
	forbidden := new(atomic.Bool)
	nw.cancel, nw.forbidden = cancel, forbidden
	inf := metadatainformer.NewFilteredMetadataInformer(w.meta, secretsGVR, namespace, 0, toolscache.Indexers{}, nil).Informer()
	// Only names, labels and resourceVersions matter. Annotations go: a Secret applied with
	// kubectl's client-side apply carries its data in last-applied-configuration.
	_ = inf.SetTransform(func(obj any) (any, error) {
		if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
			m.ManagedFields, m.Annotations = nil, nil
		}
		return obj, nil
	})
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *toolscache.Reflector, err error) {
		if apierrors.IsForbidden(err) {
			if !forbidden.Swap(true) {
				w.Kick()
			}
			return
		}
		toolscache.DefaultWatchErrorHandler(ctx, r, err)
	})
	nw.informer = inf
	send := func(obj any) { w.send(ctx, obj) }
	_, _ = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: send,
		UpdateFunc: func(old, obj any) {
			if o, n := old.(*metav1.PartialObjectMetadata), obj.(*metav1.PartialObjectMetadata); o.ResourceVersion != n.ResourceVersion {
				send(obj)
			}
		},
		DeleteFunc: send,
	})
	go inf.RunWithContext(ctx)
	log.FromContext(ctx).WithName("secret-watcher").V(1).Info("watching Secrets", "namespace", namespace)
}

// send hands one Secret's metadata to every subscriber.
func (w *SecretWatcher) send(ctx context.Context, obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	for _, ch := range w.subs {
		select {
		case ch <- event.GenericEvent{Object: m}:
		case <-ctx.Done():
			return
		}
	}
}
