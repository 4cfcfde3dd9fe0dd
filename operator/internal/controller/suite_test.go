package controller_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/manager"
)

const opNamespace = "wattson-system"

// startKube starts a real kube-apiserver and etcd with Wattson's CRDs (and prometheus-operator's
// when po is set) and returns an admin client.
func startKube(t *testing.T, po bool) (*rest.Config, client.Client) {
	t.Helper()
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{"../../config/crd/bases"}, PrometheusOperatorCRDs: po})
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{opNamespace, "dc1", "dc2"} {
		if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, c
}

var setLogger sync.Once

// startOperator runs the operator in-process, as main does, until the test ends.
func startOperator(t testing.TB, cfg *rest.Config, mutate func(*manager.Options)) {
	t.Helper()
	setLogger.Do(func() {
		// Errors only: the operator's info logs would drown the test output.
		ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	})
	o := manager.Options{
		Namespace: opNamespace, MetricsAddr: "0", ProbeAddr: "0", ScrapeMode: manager.ScrapeModeAuto,
		ExporterImage: "snmp-exporter:test", ExporterReplicas: 2, QPS: 1000, Burst: 2000,
		MaxConcurrentReconcile: 8, PollInterval: time.Second, SkipControllerNameValidation: true,
		SuitePollInterval: time.Second, SuiteTriggerDebounce: 500 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	mgr, err := manager.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// mibConfigMap holds testdata/WATTSON-RACKPDU-MIB as a labelled MIB ConfigMap.
func mibConfigMap(t testing.TB) *corev1.ConfigMap {
	t.Helper()
	b, err := os.ReadFile("testdata/WATTSON-RACKPDU-MIB")
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "rackpdu-mibs", Namespace: opNamespace, Labels: map[string]string{v1alpha1.MIBLabel: "true"}},
		Data:       map[string]string{"WATTSON-RACKPDU-MIB": string(b)},
	}
}

// rackModel reads the test MIB: device power and energy, outlet power with outlet names.
func rackModel(name string) *v1alpha1.PDUModel {
	return &v1alpha1.PDUModel{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.PDUModelSpec{
			MIBs:    []v1alpha1.MIBModuleName{"WATTSON-RACKPDU-MIB"},
			Walk:    []v1alpha1.ObjectName{"wrpDevicePower", "wrpDeviceEnergy", "wrpOutletPower"},
			Lookups: []v1alpha1.Lookup{{SourceIndexes: []string{"wrpOutletIndex"}, Lookup: "wrpOutletName"}},
			Energy: []v1alpha1.EnergyAnnotation{
				{Metric: "wrpDevicePower", Quantity: "power", Scale: "10"},
				{Metric: "wrpDeviceEnergy", Quantity: "energy", Scale: "360000"},
				{Metric: "wrpOutletPower", Quantity: "power", Scope: v1alpha1.ScopeOutlet},
			},
		},
	}
}

func communitySecret(ns, name, community string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{v1alpha1.CommunityKey: community}}
}

func pdu(ns, name, addr, model, secret string) *v1alpha1.PDU {
	return &v1alpha1.PDU{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.PDUSpec{
			Address: addr, Model: model,
			SNMP:   v1alpha1.SNMP{SecretRef: v1alpha1.SecretReference{Name: secret}},
			Labels: map[string]string{"site": "ams1", "rack": name},
		},
	}
}

// condition returns the condition of type typ of a PDU or PDUModel, fetched fresh.
func condition(ctx context.Context, g Gomega, c client.Client, obj client.Object, typ string) metav1.Condition {
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	var conds []metav1.Condition
	switch o := obj.(type) {
	case *v1alpha1.PDU:
		conds = o.Status.Conditions
	case *v1alpha1.PDUModel:
		conds = o.Status.Conditions
	}
	cond := apimeta.FindStatusCondition(conds, typ)
	g.Expect(cond).NotTo(BeNil(), "no %s condition yet", typ)
	return *cond
}

// expectCondition waits until obj has condition typ with the status and reason, and returns it.
func expectCondition(t testing.TB, c client.Client, obj client.Object, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	ctx := context.Background()
	var got metav1.Condition
	NewWithT(t).Eventually(func(g Gomega) {
		got = condition(ctx, g, c, obj, typ)
		g.Expect(got.Status).To(Equal(status), "%s: %s", got.Reason, got.Message)
		g.Expect(got.Reason).To(Equal(reason), got.Message)
	}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	return got
}

func secretData(ctx context.Context, g Gomega, c client.Client, name, key string) string {
	var s corev1.Secret
	g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: name}, &s)).To(Succeed())
	return string(s.Data[key])
}
