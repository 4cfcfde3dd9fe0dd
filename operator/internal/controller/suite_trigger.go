package controller

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/render"
	"github.com/wattson-dev/wattson/operator/internal/runs"
)

// rerunAttempts is how often a rerun is asked for before the trigger is given up (the timer
// still runs the suite).
const rerunAttempts = 5

// SuiteTriggerReconciler reruns Suites when the objects their spec.triggers select change: it
// folds the changes of one Suite that come within Debounce of each other (but no longer than
// MaxDelay after the first) into one POST /rerun?trigger=<Kind ns/name> to the Suite's
// runtime, sent with the operator's ServiceAccount token. The runtime folds it further with
// its timer and with a run in progress.
type SuiteTriggerReconciler struct {
	client.Client
	// Debounce is how long the objects must stay unchanged before the rerun is sent.
	Debounce time.Duration
	// MaxDelay bounds the wait after the first change, for objects that keep changing; 0
	// means 10 × Debounce.
	MaxDelay time.Duration
	// URL says where a Suite's runtime answers; nil means render.SuiteURL.
	URL func(*v1alpha1.Suite) string
	// HTTP sends the reruns; nil means a client with a 10s timeout.
	HTTP *http.Client
	// Token returns the bearer token for POST /rerun (the runtime checks it with a TokenReview
	// and a SubjectAccessReview of post on /rerun).
	Token func() (string, error)

	mu      sync.Mutex
	pending map[types.NamespacedName]*pendingRerun
	last    map[types.NamespacedName]v1alpha1.TriggerStatus
	// sent wakes the SuiteReconciler after each attempt, for status.lastTrigger.
	sent chan event.GenericEvent
	now  func() time.Time
}

type pendingRerun struct {
	first, last time.Time
	// what are the distinct changed objects, in order, as "Kind ns/name".
	what     []string
	attempts int
}

// NewSuiteTriggerReconciler returns a trigger reconciler; set its fields before
// SetupWithManager.
func NewSuiteTriggerReconciler(c client.Client) *SuiteTriggerReconciler {
	return &SuiteTriggerReconciler{
		Client: c, Debounce: time.Second,
		pending: map[types.NamespacedName]*pendingRerun{}, last: map[types.NamespacedName]v1alpha1.TriggerStatus{},
		sent: make(chan event.GenericEvent, 256), now: time.Now,
	}
}

// Last returns the last rerun asked for a Suite.
func (r *SuiteTriggerReconciler) Last(key types.NamespacedName) (v1alpha1.TriggerStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.last[key]
	return t, ok
}

// The runtime authorises a request as its verb on /wattson-runtime + its path.
// +kubebuilder:rbac:urls=/wattson-runtime/rerun,verbs=post

// SetupWithManager watches PDUs and PDUModels for the Suites whose triggers select them.
func (r *SuiteTriggerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.HTTP == nil {
		r.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 10 * r.Debounce
	}
	return ctrl.NewControllerManagedBy(mgr).Named("suite-trigger").
		Watches(&v1alpha1.PDU{}, r.handler(v1alpha1.TriggerPDU)).
		Watches(&v1alpha1.PDUModel{}, r.handler(v1alpha1.TriggerPDUModel)).
		Complete(r)
}

// handler turns changes of a kind into pending reruns. Objects listed when the operator
// starts are not changes; updates count when the spec (generation) or the labels changed, so
// the operator's own status writes never rerun anything.
func (r *SuiteTriggerReconciler) handler(kind v1alpha1.TriggerKind) handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if !e.IsInInitialList {
				r.changed(ctx, q, kind, e.Object)
			}
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() || !labels.Equals(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) {
				r.changed(ctx, q, kind, e.ObjectOld, e.ObjectNew)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.changed(ctx, q, kind, e.Object)
		},
	}
}

// changed records a change of objs (an update's old and new object) for every Suite whose
// triggers select one of them.
func (r *SuiteTriggerReconciler) changed(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], kind v1alpha1.TriggerKind, objs ...client.Object) {
	var suites v1alpha1.SuiteList
	if err := r.List(ctx, &suites); err != nil {
		log.FromContext(ctx).Error(err, "listing Suites for a trigger", "kind", kind)
		return
	}
	obj := objs[len(objs)-1]
	what := string(kind) + " " + obj.GetName()
	if obj.GetNamespace() != "" {
		what = string(kind) + " " + obj.GetNamespace() + "/" + obj.GetName()
	}
	now := r.now()
	for i := range suites.Items {
		s := &suites.Items[i]
		if !s.DeletionTimestamp.IsZero() || !selects(s, kind, objs) {
			continue
		}
		key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
		r.mu.Lock()
		p := r.pending[key]
		if p == nil {
			p = &pendingRerun{first: now}
			r.pending[key] = p
		}
		p.last = now
		if !contains(p.what, what) {
			p.what = append(p.what, what)
		}
		r.mu.Unlock()
		q.AddAfter(reconcile.Request{NamespacedName: key}, r.Debounce)
	}
}

// selects reports whether one of the Suite's triggers selects one of objs.
func selects(s *v1alpha1.Suite, kind v1alpha1.TriggerKind, objs []client.Object) bool {
	for _, t := range s.Spec.Triggers {
		if t.Kind != kind {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(t.Selector)
		if err != nil {
			continue // the Suite reports it (InvalidSpec)
		}
		if t.Selector == nil {
			sel = labels.Everything()
		}
		for _, o := range objs {
			if (t.Namespace == "" || t.Namespace == o.GetNamespace()) && sel.Matches(labels.Set(o.GetLabels())) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Reconcile sends a Suite's pending rerun once its objects have been quiet for Debounce.
func (r *SuiteTriggerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.mu.Lock()
	p := r.pending[req.NamespacedName]
	if p == nil {
		r.mu.Unlock()
		return ctrl.Result{}, nil
	}
	now := r.now()
	if at := minTime(p.last.Add(r.Debounce), p.first.Add(r.MaxDelay)); now.Before(at) {
		r.mu.Unlock()
		return ctrl.Result{RequeueAfter: at.Sub(now)}, nil
	}
	delete(r.pending, req.NamespacedName)
	r.mu.Unlock()

	s := &v1alpha1.Suite{}
	if err := r.Get(ctx, req.NamespacedName, s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	trigger := triggerText(p.what)
	url := render.SuiteURL(s)
	if r.URL != nil {
		url = r.URL(s)
	}
	c := &runs.Client{URL: url, HTTP: r.HTTP, Token: r.Token}
	err := c.Rerun(ctx, trigger)
	st := v1alpha1.TriggerStatus{Trigger: trigger, Time: metav1.NewTime(now)}
	logger := log.FromContext(ctx).WithValues("trigger", trigger, "url", url)
	var result ctrl.Result
	if err != nil {
		st.Error = oneLine(err.Error())
		p.attempts++
		if p.attempts < rerunAttempts {
			// Put it back (merged with anything new) and try again, 1s, 2s, 4s, ... later.
			backoff := time.Second << (p.attempts - 1)
			r.mu.Lock()
			if q := r.pending[req.NamespacedName]; q != nil {
				for _, w := range q.what {
					if !contains(p.what, w) {
						p.what = append(p.what, w)
					}
				}
			}
			r.pending[req.NamespacedName] = p
			r.mu.Unlock()
			result.RequeueAfter = backoff
			logger.Info("rerun not accepted; retrying", "err", err, "attempt", p.attempts, "after", backoff)
		} else {
			logger.Error(err, "rerun not accepted; giving up (the suite's timer still runs it)", "attempts", p.attempts)
		}
	} else {
		logger.V(1).Info("rerun asked")
	}
	r.mu.Lock()
	r.last[req.NamespacedName] = st
	r.mu.Unlock()
	select {
	case r.sent <- suiteEvent(req.NamespacedName):
	default: // the Suite reconciler polls anyway
	}
	return result, nil
}

// maxTrigger is the most the runtime records of a trigger (it refuses longer ones).
const maxTrigger = 200

// triggerText names the changed objects as the runtime joins triggers ("a; b"), within
// maxTrigger bytes: "PDU dc1/a; PDU dc1/b (+3 more)".
func triggerText(what []string) string {
	out := what[0]
	for i := 1; i < len(what); i++ {
		more := ""
		if rest := len(what) - i - 1; rest > 0 {
			more = fmt.Sprintf(" (+%d more)", rest)
		}
		if len(out)+2+len(what[i])+len(more) > maxTrigger {
			out += fmt.Sprintf(" (+%d more)", len(what)-i)
			break
		}
		out += "; " + what[i]
	}
	if len(out) > maxTrigger {
		return clip(out, maxTrigger-len("…"))
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
