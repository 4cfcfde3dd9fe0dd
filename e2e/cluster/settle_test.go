package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// settle waits until the cluster's workloads stop changing: every Prometheus and Alertmanager
// reconciled and Available (prometheus-operator creates their StatefulSets after helm install
// --wait or skaffold deploy have returned), every Deployment, StatefulSet and DaemonSet rolled
// out to its current spec with no old pod left, and every pod that has not finished and is not
// terminating Ready, the same pods at two checks in a row. One `kubectl wait
// --all` fixes its pod list when it starts, and the operator rolls snmp_exporter's Deployment
// each time the exporter's configuration changes (a PDUModel compiled, a PDU accepted), so right
// after an install it waits on pods that are being replaced and times out on them.
func (e *env) settle(ctx context.Context, timeout time.Duration) error {
	var last string
	return pollEvery(ctx, timeout, 2*time.Second, func() error {
		ready, err := e.unsettled(ctx)
		if err != nil {
			last = ""
			return err
		}
		if ready != last {
			last = ready
			return fmt.Errorf("the Ready pods changed since the last check: %s", ready)
		}
		return nil
	})
}

// unsettled returns the names of the Ready pods, or an error naming each workload not rolled out
// and each pod not Ready.
func (e *env) unsettled(ctx context.Context) (string, error) {
	kubectl := filepath.Join(e.bin, "kubectl")
	var workloads struct {
		Items []json.RawMessage `json:"items"`
	}
	out, err := e.output(ctx, kubectl, "get", "deployments,statefulsets,daemonsets", "-A", "-o", "json")
	if err != nil {
		return "", fmt.Errorf("listing workloads: %w", err)
	}
	if err := json.Unmarshal([]byte(out), &workloads); err != nil {
		return "", fmt.Errorf("listing workloads: %w", err)
	}
	var problems []string
	for _, raw := range workloads.Items {
		if p := rolloutProblem(raw); p != "" {
			problems = append(problems, p)
		}
	}
	var stacks struct {
		Items []json.RawMessage `json:"items"`
	}
	out, err = e.output(ctx, kubectl, "get", "prometheuses.monitoring.coreos.com,alertmanagers.monitoring.coreos.com", "-A", "-o", "json")
	if err != nil {
		return "", fmt.Errorf("listing Prometheuses and Alertmanagers: %w", err)
	}
	if err := json.Unmarshal([]byte(out), &stacks); err != nil {
		return "", fmt.Errorf("listing Prometheuses and Alertmanagers: %w", err)
	}
	for _, raw := range stacks.Items {
		if p := reconcileProblem(raw); p != "" {
			problems = append(problems, p)
		}
	}
	var pods corev1.PodList
	out, err = e.output(ctx, kubectl, "get", "pods", "-A", "-o", "json")
	if err != nil {
		return "", fmt.Errorf("listing pods: %w", err)
	}
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		return "", fmt.Errorf("listing pods: %w", err)
	}
	var ready []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		name := p.Namespace + "/" + p.Name
		if !podReady(&p) {
			problems = append(problems, fmt.Sprintf("pod %s is %s, not Ready", name, p.Status.Phase))
			continue
		}
		ready = append(ready, name)
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	slices.Sort(ready)
	return strings.Join(ready, " "), nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// rolloutProblem says why a Deployment, StatefulSet or DaemonSet has not rolled out its current
// spec to every replica, or returns "".
func rolloutProblem(raw json.RawMessage) string {
	var kind struct{ Kind string }
	if err := json.Unmarshal(raw, &kind); err != nil {
		return err.Error()
	}
	switch kind.Kind {
	case "Deployment":
		var d appsv1.Deployment
		if err := json.Unmarshal(raw, &d); err != nil {
			return err.Error()
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.AvailableReplicas != want || s.Replicas != want {
			return fmt.Sprintf("deployment %s/%s: %d updated, %d available, %d in all of %d wanted (generation %d observed %d)",
				d.Namespace, d.Name, s.UpdatedReplicas, s.AvailableReplicas, s.Replicas, want, d.Generation, s.ObservedGeneration)
		}
	case "StatefulSet":
		var st appsv1.StatefulSet
		if err := json.Unmarshal(raw, &st); err != nil {
			return err.Error()
		}
		want := int32(1)
		if st.Spec.Replicas != nil {
			want = *st.Spec.Replicas
		}
		s := st.Status
		if s.ObservedGeneration < st.Generation || s.ReadyReplicas != want || s.UpdatedReplicas != want || s.CurrentRevision != s.UpdateRevision {
			return fmt.Sprintf("statefulset %s/%s: %d ready, %d updated of %d wanted, revision %s of %s",
				st.Namespace, st.Name, s.ReadyReplicas, s.UpdatedReplicas, want, s.CurrentRevision, s.UpdateRevision)
		}
	case "DaemonSet":
		var ds appsv1.DaemonSet
		if err := json.Unmarshal(raw, &ds); err != nil {
			return err.Error()
		}
		s := ds.Status
		if s.ObservedGeneration < ds.Generation || s.NumberReady != s.DesiredNumberScheduled || s.UpdatedNumberScheduled != s.DesiredNumberScheduled {
			return fmt.Sprintf("daemonset %s/%s: %d ready, %d updated of %d", ds.Namespace, ds.Name, s.NumberReady, s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
		}
	}
	return ""
}

// reconcileProblem says why a prometheus-operator resource (Prometheus, Alertmanager) is not yet
// Reconciled and Available for its current generation, or returns "".
func reconcileProblem(raw json.RawMessage) string {
	var r struct {
		Kind     string
		Metadata struct {
			Namespace, Name string
			Generation      int64
		}
		Status struct {
			Conditions []struct {
				Type, Status, Reason, Message string
				ObservedGeneration            int64
			}
		}
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err.Error()
	}
	var problems []string
	for _, want := range []string{"Reconciled", "Available"} {
		found := false
		for _, c := range r.Status.Conditions {
			if c.Type != want {
				continue
			}
			found = true
			if c.Status != "True" || c.ObservedGeneration < r.Metadata.Generation {
				problems = append(problems, fmt.Sprintf("%s %s (%s: %s, generation %d observed %d)", want, c.Status, c.Reason, c.Message, r.Metadata.Generation, c.ObservedGeneration))
			}
		}
		if !found {
			problems = append(problems, want+" not reported yet")
		}
	}
	if len(problems) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %s/%s: %s", strings.ToLower(r.Kind), r.Metadata.Namespace, r.Metadata.Name, strings.Join(problems, ", "))
}

func TestReconcileProblem(t *testing.T) {
	for _, c := range []struct {
		name, object string
		settled      bool
	}{
		{"prometheus available", `{"kind":"Prometheus","metadata":{"generation":2},"status":{"conditions":[{"type":"Available","status":"True","observedGeneration":2},{"type":"Reconciled","status":"True","observedGeneration":2}]}}`, true},
		{"prometheus just created", `{"kind":"Prometheus","metadata":{"generation":1}}`, false},
		{"statefulset's pod pending", `{"kind":"Prometheus","metadata":{"generation":1},"status":{"conditions":[{"type":"Available","status":"False","reason":"NoPodReady","observedGeneration":1},{"type":"Reconciled","status":"True","observedGeneration":1}]}}`, false},
		{"new spec not yet reconciled", `{"kind":"Alertmanager","metadata":{"generation":3},"status":{"conditions":[{"type":"Available","status":"True","observedGeneration":2},{"type":"Reconciled","status":"True","observedGeneration":2}]}}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if p := reconcileProblem(json.RawMessage(c.object)); (p == "") != c.settled {
				t.Errorf("reconcileProblem = %q, want settled %v", p, c.settled)
			}
		})
	}
}

func TestRolloutProblem(t *testing.T) {
	for _, c := range []struct {
		name, object string
		settled      bool
	}{
		{"deployment rolled out", `{"kind":"Deployment","metadata":{"generation":3},"spec":{"replicas":2},"status":{"observedGeneration":3,"replicas":2,"updatedReplicas":2,"availableReplicas":2}}`, true},
		{"deployment with an old pod left", `{"kind":"Deployment","metadata":{"generation":3},"spec":{"replicas":2},"status":{"observedGeneration":3,"replicas":3,"updatedReplicas":2,"availableReplicas":2}}`, false},
		{"deployment's new spec not yet seen", `{"kind":"Deployment","metadata":{"generation":4},"spec":{"replicas":2},"status":{"observedGeneration":3,"replicas":2,"updatedReplicas":2,"availableReplicas":2}}`, false},
		{"deployment defaulting to one replica", `{"kind":"Deployment","metadata":{"generation":1},"spec":{},"status":{"observedGeneration":1,"replicas":1,"updatedReplicas":1,"availableReplicas":1}}`, true},
		{"statefulset mid-update", `{"kind":"StatefulSet","metadata":{"generation":2},"spec":{"replicas":1},"status":{"observedGeneration":2,"readyReplicas":1,"updatedReplicas":1,"currentRevision":"a","updateRevision":"b"}}`, false},
		{"statefulset rolled out", `{"kind":"StatefulSet","metadata":{"generation":2},"spec":{"replicas":1},"status":{"observedGeneration":2,"readyReplicas":1,"updatedReplicas":1,"currentRevision":"b","updateRevision":"b"}}`, true},
		{"daemonset not ready", `{"kind":"DaemonSet","metadata":{"generation":1},"status":{"observedGeneration":1,"desiredNumberScheduled":1,"numberReady":0,"updatedNumberScheduled":1}}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if p := rolloutProblem(json.RawMessage(c.object)); (p == "") != c.settled {
				t.Errorf("rolloutProblem = %q, want settled %v", p, c.settled)
			}
		})
	}
}
