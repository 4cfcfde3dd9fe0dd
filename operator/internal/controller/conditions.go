package controller

import (
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// setCondition sets a condition and records an Event when its status or reason changed: Normal
// for True, Warning otherwise. Events on changes only, so a steady state stays quiet.
func setCondition(rec events.EventRecorder, obj runtime.Object, conds *[]metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason, msg string) {
	old := apimeta.FindStatusCondition(*conds, typ)
	changed := old == nil || old.Status != status || old.Reason != reason
	apimeta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: generation,
	})
	if changed && rec != nil {
		kind := "Normal"
		if status != metav1.ConditionTrue {
			kind = "Warning"
		}
		rec.Eventf(obj, nil, kind, reason, typ, "%s=%s: %s", typ, status, msg)
	}
}
