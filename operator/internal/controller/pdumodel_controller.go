package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/snmp_exporter/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/generator"
	"github.com/wattson-dev/wattson/operator/internal/mib"
	"github.com/wattson-dev/wattson/operator/internal/mibconfigmaps"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

// PDUModelReconciler compiles PDUModels into snmp_exporter modules.
type PDUModelReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Namespace holds the MIB ConfigMaps and the compiled modules.
	Namespace string
	// Compiler caches the parsed MIBs between models; SetupWithManager makes one when nil.
	Compiler *GeneratorCompiler
}

// SetupWithManager watches PDUModels (spec changes) and the MIB ConfigMaps in Namespace: any
// change to a MIB recompiles every model, since any model may import it.
func (r *PDUModelReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Compiler == nil {
		r.Compiler = &GeneratorCompiler{}
	}
	isMIB := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetNamespace() == r.Namespace && obj.GetLabels()[v1alpha1.MIBLabel] == "true"
	})
	allModels := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list v1alpha1.PDUModelList
		if err := r.List(ctx, &list); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, m := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: m.Name}})
		}
		return reqs
	})
	return ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.PDUModel{}, specChanged).
		Watches(&corev1.ConfigMap{}, allModels, builder.WithPredicates(isMIB)).
		Complete(r)
}

// +kubebuilder:rbac:groups=wattson.dev,resources=pdumodels,verbs=get;list;watch
// +kubebuilder:rbac:groups=wattson.dev,resources=pdumodels/status,verbs=get;patch;update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete,namespace=wattson-system
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile compiles one model and keeps its module ConfigMap and status current.
func (r *PDUModelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	model := &v1alpha1.PDUModel{}
	if err := r.Get(ctx, req.NamespacedName, model); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := model.DeepCopy()
	defer func() {
		model.Status.ObservedGeneration = model.Generation
		if equality.Semantic.DeepEqual(before.Status, model.Status) {
			return
		}
		if err := r.Status().Patch(ctx, model, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching PDUModel status: %w", err))
		}
	}()
	ready := func(status metav1.ConditionStatus, reason, msg string) {
		setCondition(r.Recorder, model, &model.Status.Conditions, model.Generation, v1alpha1.ReadyCondition, status, reason, msg)
	}

	mibs, err := mibconfigmaps.LoadMIBs(ctx, r.Client, r.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if missing := r.missingMIBs(model, mibs); missing != "" {
		ready(metav1.ConditionFalse, v1alpha1.MIBNotFoundReason, missing)
		return ctrl.Result{}, nil
	}
	gm, err := render.GeneratorModule(&model.Spec)
	if err != nil {
		ready(metav1.ConditionFalse, v1alpha1.InvalidSpecReason, err.Error())
		return ctrl.Result{}, nil
	}
	name := render.ModuleName(model)
	mod, energy, diags, err := r.Compiler.CompileModule(ctx, mibs.Files, mibs.Hash, name, gm)
	model.Status.Warnings = relevantDiagnostics(diags, model, mibs)
	if msg := refusedMIB(diags, model, mibs); msg != "" {
		ready(metav1.ConditionFalse, v1alpha1.MIBNotFoundReason, msg)
		return ctrl.Result{}, nil
	}
	var fieldErr *generator.EnergyFieldError
	if errors.As(err, &fieldErr) {
		ready(metav1.ConditionFalse, v1alpha1.InvalidSpecReason, fieldErr.SpecField()+": "+fieldErr.Msg)
		return ctrl.Result{}, nil
	}
	if err != nil {
		// The module ConfigMap is left alone: the exporter keeps the last good module.
		ready(metav1.ConditionFalse, compileReason(err), "compiling spec: "+err.Error())
		return ctrl.Result{}, nil
	}
	status, err := render.EnergyStatus(&model.Spec, energy)
	if err != nil {
		ready(metav1.ConditionFalse, v1alpha1.InvalidSpecReason, err.Error())
		return ctrl.Result{}, nil
	}
	if err := r.writeModule(ctx, model, name, mod); err != nil {
		return ctrl.Result{}, err
	}
	model.Status.Module = name
	model.Status.Metrics = int32(len(mod.Metrics))
	model.Status.Energy = status
	model.Status.MIBFiles = usedFiles(model, mibs)
	msg := fmt.Sprintf("module %s has %d metrics", name, len(mod.Metrics))
	if render.BroadestPowerScope(model) == "" {
		msg += "; no spec.energy entry measures power, so PDUs of this model never report Collecting=True"
	}
	ready(metav1.ConditionTrue, v1alpha1.CompiledReason, msg)
	log.FromContext(ctx).V(1).Info("compiled model", "module", name, "metrics", len(mod.Metrics))
	return ctrl.Result{}, nil
}

func (r *PDUModelReconciler) missingMIBs(model *v1alpha1.PDUModel, mibs *mibconfigmaps.MIBSet) string {
	for i, m := range model.Spec.MIBs {
		if _, ok := mibs.Modules[string(m)]; !ok {
			msg := fmt.Sprintf("spec.mibs[%d]: MIB module %s is defined in no ConfigMap labelled %s=true in namespace %s",
				i, m, v1alpha1.MIBLabel, r.Namespace)
			for j, p := range mibs.Problems {
				if j == 3 {
					msg += fmt.Sprintf(" (and %d more)", len(mibs.Problems)-j)
					break
				}
				msg += "; " + p.String()
			}
			return msg
		}
	}
	return ""
}

// refusedMIB names the first module of spec.mibs whose file the MIB loader refused (over a
// limit: mib.Limits), with the loader's diagnostic.
func refusedMIB(diags mib.Diagnostics, model *v1alpha1.PDUModel, mibs *mibconfigmaps.MIBSet) string {
	for i, m := range model.Spec.MIBs {
		f := mibs.Modules[string(m)]
		for _, d := range diags {
			if d.File == f && d.Severity == mib.SeverityError && strings.HasPrefix(d.Code, "limit-") {
				return fmt.Sprintf("spec.mibs[%d]: MIB module %s was not loaded: %s", i, m, d)
			}
		}
	}
	return ""
}

// compileReason tells MIB problems (an import or object that is not there) from spec mistakes.
func compileReason(err error) string {
	var bd *generator.BrokenDependencyError
	var an *generator.AmbiguousNameError
	if errors.As(err, &an) {
		return v1alpha1.AmbiguousNameReason
	}
	if errors.As(err, &bd) || strings.Contains(err.Error(), "import") {
		return v1alpha1.MIBNotFoundReason
	}
	return v1alpha1.CompileFailedReason
}

func (r *PDUModelReconciler) writeModule(ctx context.Context, model *v1alpha1.PDUModel, name string, mod *config.Module) error {
	out, err := generator.MarshalConfig(&config.Config{Modules: map[string]*config.Module{name: mod}})
	if err != nil {
		return fmt.Errorf("rendering module %s: %w", name, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ModuleConfigMapName(model.Name), Namespace: r.Namespace}}
	_, err = controllerutil.CreateOrUpdate(ctx, r.Client, cm, func() error {
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		cm.Labels[v1alpha1.ComponentLabel] = v1alpha1.ModuleComponent
		cm.Labels[v1alpha1.ManagedByLabel] = v1alpha1.ManagedBy
		cm.Labels[v1alpha1.PartOfLabel] = v1alpha1.PartOf
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[v1alpha1.ModelAnnotation] = model.Name
		cm.Data = map[string]string{v1alpha1.SNMPConfigKey: string(out)}
		return controllerutil.SetControllerReference(model, cm, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("writing module ConfigMap: %w", err)
	}
	return nil
}

// relevantDiagnostics keeps the problems of the files holding the model's MIBs, capped at 20.
func relevantDiagnostics(diags mib.Diagnostics, model *v1alpha1.PDUModel, mibs *mibconfigmaps.MIBSet) []string {
	files := map[string]bool{}
	for _, f := range usedFiles(model, mibs) {
		files[f] = true
	}
	var out []string
	for _, d := range diags {
		if d.Severity == mib.SeverityInfo || !files[d.File] {
			continue
		}
		if len(out) == 20 {
			break
		}
		out = append(out, d.String())
	}
	return out
}

func usedFiles(model *v1alpha1.PDUModel, mibs *mibconfigmaps.MIBSet) []string {
	var out []string
	for _, m := range model.Spec.MIBs {
		if f, ok := mibs.Modules[string(m)]; ok {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}
