package controller

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

// Field indexes on PDUs, so a change to one object finds the PDUs it affects without a scan.
const (
	indexTarget = "wattson.spec.target"    // address:port
	indexModel  = "wattson.spec.model"     // PDUModel name
	indexSecret = "wattson.spec.secretRef" // namespace/name
)

func pduTarget(obj client.Object) []string { return []string{render.Target(obj.(*v1alpha1.PDU))} }
func pduModel(obj client.Object) []string  { return []string{obj.(*v1alpha1.PDU).Spec.Model} }
func pduSecret(obj client.Object) []string {
	p := obj.(*v1alpha1.PDU)
	return []string{p.Namespace + "/" + p.Spec.SNMP.SecretRef.Name}
}

// check is the verdict on one PDU, shared by the PDU and pipeline reconcilers so both agree on
// which PDUs are in the exporter's configuration.
type check struct {
	Reason  string // empty when the PDU is usable
	Message string
	Model   *v1alpha1.PDUModel
	Creds   render.Credentials
}

func (c *check) fail(reason, format string, args ...any) *check {
	c.Reason, c.Message = reason, fmt.Sprintf(format, args...)
	return c
}

// checkPDU runs every check that can put a PDU in Ready=False, in the order a user fixes them.
// forbidden words the CredentialsForbidden message (nil: credentialsForbidden("")).
func checkPDU(ctx context.Context, r client.Reader, pdu *v1alpha1.PDU, forbidden func(field, namespace, name string) string) (*check, error) {
	c := &check{}
	if msg := checkTiming(pdu); msg != "" {
		return c.fail(v1alpha1.InvalidSpecReason, "%s", msg), nil
	}
	model := &v1alpha1.PDUModel{}
	if err := r.Get(ctx, types.NamespacedName{Name: pdu.Spec.Model}, model); err != nil {
		if apierrors.IsNotFound(err) {
			return c.fail(v1alpha1.ModelNotFoundReason, "spec.model: no PDUModel %q", pdu.Spec.Model), nil
		}
		return nil, fmt.Errorf("getting PDUModel %s: %w", pdu.Spec.Model, err)
	}
	if model.Status.Module == "" {
		msg := "the model has not compiled yet"
		if cond := apimeta.FindStatusCondition(model.Status.Conditions, v1alpha1.ReadyCondition); cond != nil && cond.Status != "True" {
			msg = cond.Reason + ": " + cond.Message
		}
		return c.fail(v1alpha1.ModelNotReadyReason, "spec.model: PDUModel %s is not ready: %s", model.Name, msg), nil
	}
	c.Model = model
	secret := &corev1.Secret{}
	ref := pdu.Spec.SNMP.SecretRef.Name
	if err := r.Get(ctx, types.NamespacedName{Namespace: pdu.Namespace, Name: ref}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return c.fail(v1alpha1.SecretNotFoundReason, "spec.snmp.secretRef.name: no Secret %q in namespace %s", ref, pdu.Namespace), nil
		}
		if apierrors.IsForbidden(err) {
			// The tenant has not let the operator read their Secrets: this PDU waits, the
			// others are unaffected. SecretWatcher notices the RoleBinding.
			if forbidden == nil {
				forbidden = credentialsForbidden("")
			}
			return c.fail(v1alpha1.CredentialsForbiddenReason, "%s", forbidden("spec.snmp.secretRef.name", pdu.Namespace, ref)), nil
		}
		return nil, fmt.Errorf("getting Secret %s/%s: %w", pdu.Namespace, ref, err)
	}
	creds, err := render.CredentialsFrom(&pdu.Spec.SNMP, secret)
	if err != nil {
		return c.fail(v1alpha1.SecretKeyMissingReason, "%s", err.Error()), nil
	}
	c.Creds = creds
	owner, err := addressOwner(ctx, r, pdu)
	if err != nil {
		return nil, err
	}
	if owner != nil && (owner.Namespace != pdu.Namespace || owner.Name != pdu.Name) {
		// Another namespace's PDU is another tenant's: say the address is taken, not by whom.
		if owner.Namespace != pdu.Namespace {
			return c.fail(v1alpha1.DuplicateAddressReason, "spec.address: %s is already read by another PDU, created earlier", render.Target(pdu)), nil
		}
		return c.fail(v1alpha1.DuplicateAddressReason, "spec.address: %s is already read by PDU %s, created earlier",
			render.Target(pdu), owner.Name), nil
	}
	return c, nil
}

// checkTiming checks what the schema cannot: positive durations and timeout <= interval.
func checkTiming(pdu *v1alpha1.PDU) string {
	interval, err := model.ParseDuration(render.Interval(pdu))
	if err != nil || interval <= 0 {
		return fmt.Sprintf("spec.interval: %q is not a positive duration", pdu.Spec.Interval)
	}
	timeout, err := model.ParseDuration(render.Timeout(pdu))
	if err != nil || timeout <= 0 {
		return fmt.Sprintf("spec.timeout: %q is not a positive duration", pdu.Spec.Timeout)
	}
	if timeout > interval {
		return fmt.Sprintf("spec.timeout: %s is longer than spec.interval %s", render.Timeout(pdu), render.Interval(pdu))
	}
	return ""
}

func interval(pdu *v1alpha1.PDU) time.Duration {
	d, err := model.ParseDuration(render.Interval(pdu))
	if err != nil {
		return time.Minute
	}
	return time.Duration(d)
}

// addressOwner returns the PDU that owns the PDU's address:port: the earliest created, ties
// broken by namespace/name, so every reconciler picks the same one.
func addressOwner(ctx context.Context, r client.Reader, pdu *v1alpha1.PDU) (*v1alpha1.PDU, error) {
	var list v1alpha1.PDUList
	if err := r.List(ctx, &list, client.MatchingFields{indexTarget: render.Target(pdu)}); err != nil {
		return nil, fmt.Errorf("listing PDUs by address: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	sort.Slice(list.Items, func(i, j int) bool { return earlier(&list.Items[i], &list.Items[j]) })
	return &list.Items[0], nil
}

func earlier(a, b *v1alpha1.PDU) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}
