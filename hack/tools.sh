#!/usr/bin/env bash
# tools.sh builds the pinned real binaries Wattson tests against into bin/.
#
# Every tool is built once per version into a cache outside the clone
# (WATTSON_TOOLS_CACHE, default ~/.cache/wattson/tools/<tool>/<version>/) and then
# linked into bin/. A second run is a no-op that takes seconds. Nothing is
# downloaded except Go modules from the module proxy.
#
# Usage: hack/tools.sh [TOOL...]   (no argument: every default tool)
#        hack/tools.sh --list
#        hack/tools.sh --version TOOL   (the pinned version)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/bin}
CACHE=${WATTSON_TOOLS_CACHE:-$HOME/.cache/wattson/tools}

# Pinned versions. Keep in sync with go.mod where a tool is also a library.
K8S_VERSION=v1.37.1          # kube-apiserver, kubectl, controller-manager, scheduler, kubelet
K8S_STAGING=v0.37.1          # the published staging modules of K8S_VERSION
ETCD_VERSION=v3.7.3
PROMETHEUS_VERSION=v0.315.0  # Prometheus 3.15.0
# Service discovery Wattson uses: static, file and http (always built in) and kubernetes (the
# in-cluster Prometheus). Leaving out the cloud SDKs halves Prometheus's build on 2 cores.
PROMETHEUS_TAGS=remove_all_sd,enable_kubernetes_sd
ALERTMANAGER_VERSION=v0.31.1
SNMP_EXPORTER_VERSION=v0.30.1
PROMETHEUS_OPERATOR_VERSION=v0.93.0
CONTROLLER_GEN_VERSION=v0.23.0
KUSTOMIZE_VERSION=v5.8.2     # v5.8.3 needs Go 1.27
# Helm 4 (not 3.22): the current major line, server-side apply by default as the kit's kubectl
# apply --server-side, kstatus-based --wait, and its kube version from the build info.
HELM_VERSION=v4.3.1
SQLC_VERSION=v1.31.1
SKAFFOLD_VERSION=v2.24.0     # newer needs Go 1.27
# The long-term store of monitoring/overlays/long-term (single-node); v1.152.0 and later need Go 1.27.
VICTORIAMETRICS_VERSION=v1.151.0
# The real-shaped cluster's networking (hack/cluster): kube-proxy is K8S_VERSION's; CoreDNS is
# built with only the plugins the cluster's Corefile uses (no forward, no cloud backends).
COREDNS_VERSION=v1.15.0
COREDNS_PLUGINS="errors log health ready kubernetes cache loop reload loadbalance"
# The NetworkPolicy enforcer: kube-router's firewall controller alone (iptables + ipset; not
# kube-network-policies, which needs nftables' queue expression: hack/cluster/netpol.yaml). v2.1.0
# is the only version the module proxy serves; its advisories are for its BGP router (GoBGP's
# gRPC API) and its service proxy (externalIPs), which hack/cluster never runs.
KUBE_ROUTER_VERSION=v2.1.0
GOLANGCI_LINT_VERSION=v2.15.0   # `make lint`; config in .golangci.yml
# Progressive delivery (monitoring/progressive-delivery): Argo Rollouts' controller for the cluster
# proof, its CRDs for the envtest dry-runs, and argo-measure (hack/engines/argo-measure), one
# measurement of an AnalysisTemplate's metric by Argo Rollouts' own provider and evaluation code.
# v1.10.2 and v1.9.3 need Go 1.26.10; v1.10.1 is the newest that builds with Go 1.26.8.
ARGO_ROLLOUTS_VERSION=v1.10.1
# Flagger: its CRDs and flagger-check (hack/engines/flagger-check), its Prometheus provider and
# thresholdRange check; its controller is not built (no mesh or ingress here to shift traffic).
FLAGGER_VERSION=v1.41.0
GINKGO_VERSION=$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/onsi/ginkgo/v2)

# Ordered: the tools `make test` needs first.
DEFAULT_TOOLS="etcd kube-apiserver prometheus alertmanager snmp_exporter prometheus-operator controller-gen kustomize helm ginkgo sqlc skaffold golangci-lint argo-rollouts flagger"
# The long-term store's proof (`make test-longterm`) needs this one; it is not in `make test`,
# because its cold build alone costs CI several minutes.
LONGTERM_TOOLS="victoriametrics"
# The loopback cluster (hack/cluster, `make cluster-up`) needs these too.
CLUSTER_TOOLS="kube-cluster prometheus-config-reloader kube-proxy coredns kube-router"
ALL_TOOLS="$DEFAULT_TOOLS $CLUSTER_TOOLS $LONGTERM_TOOLS"

export GOPROXY=${WATTSON_GOPROXY:-https://proxy.golang.org}
export GOFLAGS=-mod=mod
export CGO_ENABLED=${CGO_ENABLED:-0}

log() { printf '%s tools: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# elapsed SECONDS: 75 -> 1m15s.
elapsed() { if [ "$1" -ge 60 ]; then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi; }

# run CMD...: runs a build step with its output kept in a log; on failure prints the command and
# its whole output and fails, so a refused module or a compile error is never swallowed.
run() {
  local out rc=0
  out=$(mktemp)
  "$@" >"$out" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    log "FAILED (exit $rc) in $PWD: $*"
    sed 's/^/    /' "$out" >&2
  fi
  rm -f "$out"
  return $rc
}

# heartbeat TOOL START: prints a line with the elapsed time every HEARTBEAT seconds until killed,
# so a 10-minute build is visibly alive.
HEARTBEAT=${WATTSON_TOOLS_HEARTBEAT:-30}
heartbeat() {
  local tool=$1 start=$2
  while sleep "$HEARTBEAT"; do log "  ... still building $tool ($(elapsed $((SECONDS - start))) elapsed)"; done
}

# wrapper DIR MODULE... creates a throwaway module in DIR that requires the given modules.
wrapper() {
  local dir=$1; shift
  rm -rf "$dir"; mkdir -p "$dir"
  (cd "$dir" && run go mod init wattson.dev/tools-wrapper && printf 'package tools\n' >tools.go)
}

# replaces_from MODULE@VERSION: prints the replace/exclude directives of a module's go.mod,
# keeping only those that point at other published modules (not local paths).
replaces_from() {
  local gomod
  gomod=$(go mod download -json "$1" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p') || true
  if [ -z "$gomod" ]; then log "FAILED: go mod download $1"; go mod download "$1" 2>&1 | sed 's/^/    /' >&2; return 1; fi
  awk '
    /^(replace|exclude) \(/ { blk=$1; next }
    blk && /^\)/ { blk=""; next }
    blk { if ($0 !~ /=> *\./) print blk, $0; next }
    /^(replace|exclude) / { if ($0 !~ /=> *\./) print }
  ' "$gomod"
}

k8s_ldflags() {
  local major minor v
  v=${K8S_VERSION#v}; major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "-s -w$f"
}

# k8s_build OUT CMD...: builds cmd/<CMD> of k8s.io/kubernetes into OUT.
k8s_build() {
  local out=$1; shift
  local src=$CACHE/src/kubernetes-$K8S_VERSION
  if [ ! -f "$src/go.sum" ] || ! grep -q "k8s.io/kubernetes $K8S_VERSION" "$src/go.mod"; then
    wrapper "$src" || return
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    [ -n "$gomod" ] || { log "FAILED: go mod download k8s.io/kubernetes@$K8S_VERSION"; return 1; }
    # Every ./staging/src/k8s.io/X replace becomes the published k8s.io/X module.
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#replace \1 => \1 '"$K8S_STAGING"'#p' "$gomod" >>"$src/go.mod"
    (cd "$src" && run go get "k8s.io/kubernetes@$K8S_VERSION") || return
  fi
  local c
  for c in "$@"; do
    (cd "$src" && run go get "k8s.io/kubernetes/cmd/$c@$K8S_VERSION" &&
     run go build -trimpath -ldflags "$(k8s_ldflags)" -o "$out/$c" "k8s.io/kubernetes/cmd/$c") || return
  done
}

# mod_build OUT MODULE@VERSION PKG... [-- EXTRA go.mod lines]: builds packages in a wrapper module
# that copies the tool's own replace/exclude lines.
mod_build() {
  local out=$1 modver=$2; shift 2
  local mod=${modver%@*}
  local src=$CACHE/src/$(basename "$mod")-${modver#*@}
  if [ ! -f "$src/go.sum" ]; then
    wrapper "$src" || return
    replaces_from "$modver" >>"$src/go.mod" || return
    # A failed first `go get` leaves no go.sum, so the next run starts over.
    (cd "$src" && run go get "$modver") || { rm -f "$src/go.sum"; return 1; }
  fi
  local p
  for p in "$@"; do
    (cd "$src" && run go get "$p@${modver#*@}" &&
     run go build -trimpath -tags "${BUILD_TAGS:-}" -ldflags "-s -w ${LDFLAGS:-}" -o "$out/" "$p") || return
  done
}

# build TOOL VERSION BINARIES: builds TOOL unless its cache entry is complete, then links into bin/.
# STEP ("[i/N]") prefixes its log lines.
build_tool() {
  local tool=$1 version=$2; shift 2
  local dir=$CACHE/$tool/$version b missing=0
  for b in "$@"; do [ -x "$dir/$b" ] || [ -d "$dir/$b" ] || missing=1; done
  if [ $missing = 1 ]; then
    log "${STEP:-}building $tool $version (first time on this machine; cached in $dir)"
    local start=$SECONDS tmp hb rc=0
    mkdir -p "$(dirname "$dir")"
    tmp=$(mktemp -d "$dir.tmp.XXXXXX")
    heartbeat "$tool" "$start" &
    hb=$!
    trap 'kill $hb 2>/dev/null' EXIT
    # A subshell with errexit, not tested by `if` or `||` (where bash ignores errexit inside it):
    # any failing step fails the build.
    set +e
    (set -e; "build_$tool" "$tmp" "$version")
    rc=$?
    set -e
    kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
    trap - EXIT
    for b in "$@"; do [ $rc -ne 0 ] || [ -e "$tmp/$b" ] || { log "build_$tool made no $b"; rc=1; }; done
    if [ $rc -ne 0 ]; then
      rm -rf "$tmp"; log "${STEP:-}FAILED to build $tool $version after $(elapsed $((SECONDS - start)))"; return 1
    fi
    rm -rf "$dir"; mv "$tmp" "$dir"
    log "${STEP:-}built $tool $version in $(elapsed $((SECONDS - start)))"
    echo "$tool $version $((SECONDS - start))s" >>"$BUILT_LIST"
  else
    log "${STEP:-}$tool $version cached"
  fi
  mkdir -p "$BIN"
  for b in "$@"; do
    if [ -e "$dir/$b" ]; then
      [ -d "$dir/$b" ] && { rm -rf "${BIN:?}/$b"; cp -a "$dir/$b" "$BIN/$b"; continue; }
      ln -f "$dir/$b" "$BIN/$b" 2>/dev/null || cp -f "$dir/$b" "$BIN/$b"
    fi
  done
  printf '%s %s\n' "$tool" "$version" >>"$BIN/.versions.tmp"
}

build_etcd() { mod_build "$1" "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3
  mv "$1/server" "$1/etcd"; }
build_kube-apiserver() { k8s_build "$1" kube-apiserver kubectl; }
build_kube-cluster() { k8s_build "$1" kube-controller-manager kube-scheduler kubelet; }
build_kube-proxy() { k8s_build "$1" kube-proxy; }
# build_coredns: CoreDNS's own main (coremain.Run) with only COREDNS_PLUGINS compiled in, in
# CoreDNS's directive order (a plugin missing from the binary is a Corefile error, not a no-op).
build_coredns() {
  local src=$CACHE/src/coredns-$COREDNS_VERSION p order="" imports=""
  if [ ! -f "$src/go.sum" ]; then
    wrapper "$src"
    replaces_from "github.com/coredns/coredns@$COREDNS_VERSION" >>"$src/go.mod"
    (cd "$src" && go get "github.com/coredns/coredns@$COREDNS_VERSION" >/dev/null)
  fi
  local dir
  dir=$(go mod download -json "github.com/coredns/coredns@$COREDNS_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  for p in $(grep -o '^\s*"[a-z0-9_]*",' "$dir/core/dnsserver/zdirectives.go" | tr -d ' \t",'); do
    case " $COREDNS_PLUGINS " in *" $p "*) order+="\"$p\", "; imports+="_ \"github.com/coredns/coredns/plugin/$p\""$'\n' ;; esac
  done
  rm -f "$src/tools.go"
  cat >"$src/main.go" <<GO
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	$imports
)

func init() { dnsserver.Directives = []string{$order} }

func main() { coremain.Run() }
GO
  (cd "$src" && gofmt -w main.go && go mod tidy >/dev/null 2>&1 && go build -trimpath -ldflags "-s -w" -o "$1/coredns" .)
}
# build_kube-router: its version package's variables set as its Makefile sets them, so the log's
# "Running kube-router version" line names the release.
build_kube-router() {
  LDFLAGS="-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=pinned" \
    mod_build "$1" "github.com/cloudnativelabs/kube-router/v2@$KUBE_ROUTER_VERSION" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
}
build_prometheus() { BUILD_TAGS=$PROMETHEUS_TAGS mod_build "$1" "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" \
  github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool; }
build_alertmanager() { GOBIN=$1 go install -trimpath -ldflags "-s -w" \
  "github.com/prometheus/alertmanager/cmd/alertmanager@$ALERTMANAGER_VERSION" \
  "github.com/prometheus/alertmanager/cmd/amtool@$ALERTMANAGER_VERSION"; }
build_snmp_exporter() { mod_build "$1" "github.com/prometheus/snmp_exporter@$SNMP_EXPORTER_VERSION" \
  github.com/prometheus/snmp_exporter; }
build_prometheus-operator() {
  mod_build "$1" "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
    github.com/prometheus-operator/prometheus-operator/cmd/operator
  mv "$1/operator" "$1/prometheus-operator"
  local dir
  dir=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  mkdir -p "$1/prometheus-operator-crds"
  cp "$dir"/example/prometheus-operator-crd/*.yaml "$1/prometheus-operator-crds/"
  chmod -R u+w "$1/prometheus-operator-crds"
}
build_prometheus-config-reloader() {
  mod_build "$1" "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
    github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader
}
build_controller-gen() { GOBIN=$1 go install -trimpath "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION"; }
build_kustomize() { GOBIN=$1 go install -trimpath "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"; }
# helm: as its Makefile builds it (version stamped; the kube version comes from the build info).
build_helm() { GOBIN=$1 go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"; }
build_sqlc() { CGO_ENABLED=1 GOBIN=$1 go install -trimpath "github.com/sqlc-dev/sqlc/cmd/sqlc@$SQLC_VERSION"; }
build_golangci-lint() { GOBIN=$1 go install -trimpath -ldflags "-s -w -X main.version=${GOLANGCI_LINT_VERSION#v}" \
  "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"; }
build_ginkgo() { GOBIN=$1 go install -trimpath "github.com/onsi/ginkgo/v2/ginkgo@$GINKGO_VERSION"; }
build_skaffold() { mod_build "$1" "github.com/GoogleContainerTools/skaffold/v2@$SKAFFOLD_VERSION" \
  github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold; }
# VictoriaMetrics single-node; CGO_ENABLED=0 picks its pure-Go zstd.
# build_engine OUT MODULE@VERSION NAME: builds hack/engines/NAME (a main of our own, in a module of
# its own so that the root module never needs the engine's dependencies) in the engine's wrapper
# module, which carries the engine's replace/exclude lines.
build_engine() {
  local out=$1 modver=$2 name=$3
  local src=$CACHE/src/$(basename "${modver%@*}")-${modver#*@}
  mkdir -p "$src/$name"
  cp "$ROOT/hack/engines/$name/main.go" "$src/$name/main.go"
  (cd "$src" && run go mod tidy && run go build -trimpath -ldflags "-s -w" -o "$out/$name" "./$name")
}
# module_dir MODULE@VERSION: where the module's files are in the module cache.
module_dir() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)",/\1/p'; }
build_argo-rollouts() {
  LDFLAGS="-X github.com/argoproj/argo-rollouts/utils/version.version=${ARGO_ROLLOUTS_VERSION#v} -X github.com/argoproj/argo-rollouts/utils/version.gitTreeState=clean" \
    mod_build "$1" "github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION" github.com/argoproj/argo-rollouts/cmd/rollouts-controller
  build_engine "$1" "github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION" argo-measure
  local dir
  dir=$(module_dir "github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION")
  # The CRDs (envtest) and the release's install.yaml (the cluster), as the module ships them.
  mkdir -p "$1/argo-rollouts-crds" "$1/argo-rollouts-manifests"
  cp "$dir"/manifests/crds/*-crd.yaml "$1/argo-rollouts-crds/"
  cp "$dir/manifests/install.yaml" "$1/argo-rollouts-manifests/"
  chmod -R u+w "$1/argo-rollouts-crds" "$1/argo-rollouts-manifests"
}
build_flagger() {
  local src=$CACHE/src/flagger-$FLAGGER_VERSION
  if [ ! -f "$src/go.sum" ]; then
    wrapper "$src"
    replaces_from "github.com/fluxcd/flagger@$FLAGGER_VERSION" >>"$src/go.mod"
    (cd "$src" && run go get "github.com/fluxcd/flagger@$FLAGGER_VERSION") || { rm -f "$src/go.sum"; return 1; }
  fi
  build_engine "$1" "github.com/fluxcd/flagger@$FLAGGER_VERSION" flagger-check
  local dir
  dir=$(module_dir "github.com/fluxcd/flagger@$FLAGGER_VERSION")
  mkdir -p "$1/flagger-crds"
  cp "$dir/artifacts/flagger/crd.yaml" "$1/flagger-crds/"
  chmod -R u+w "$1/flagger-crds"
}
build_victoriametrics() {
  LDFLAGS="-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-metrics-$VICTORIAMETRICS_VERSION" \
    mod_build "$1" "github.com/VictoriaMetrics/VictoriaMetrics@$VICTORIAMETRICS_VERSION" \
    github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics
}

one() {
  case $1 in
    etcd) build_tool etcd "$ETCD_VERSION" etcd ;;
    kube-apiserver) build_tool kube-apiserver "$K8S_VERSION" kube-apiserver kubectl ;;
    kube-cluster) build_tool kube-cluster "$K8S_VERSION" kube-controller-manager kube-scheduler kubelet ;;
    prometheus) build_tool prometheus "$PROMETHEUS_VERSION-k8s-sd" prometheus promtool ;;
    alertmanager) build_tool alertmanager "$ALERTMANAGER_VERSION" alertmanager amtool ;;
    snmp_exporter) build_tool snmp_exporter "$SNMP_EXPORTER_VERSION" snmp_exporter ;;
    prometheus-operator) build_tool prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" prometheus-operator prometheus-operator-crds ;;
    prometheus-config-reloader) build_tool prometheus-config-reloader "$PROMETHEUS_OPERATOR_VERSION" prometheus-config-reloader ;;
    kube-proxy) build_tool kube-proxy "$K8S_VERSION" kube-proxy ;;
    coredns) build_tool coredns "$COREDNS_VERSION" coredns ;;
    kube-router) build_tool kube-router "$KUBE_ROUTER_VERSION" kube-router ;;
    controller-gen) build_tool controller-gen "$CONTROLLER_GEN_VERSION" controller-gen ;;
    kustomize) build_tool kustomize "$KUSTOMIZE_VERSION" kustomize ;;
    helm) build_tool helm "$HELM_VERSION" helm ;;
    sqlc) build_tool sqlc "$SQLC_VERSION" sqlc ;;
    ginkgo) build_tool ginkgo "$GINKGO_VERSION" ginkgo ;;
    golangci-lint) build_tool golangci-lint "$GOLANGCI_LINT_VERSION" golangci-lint ;;
    skaffold) build_tool skaffold "$SKAFFOLD_VERSION" skaffold ;;
    victoriametrics) build_tool victoriametrics "$VICTORIAMETRICS_VERSION" victoria-metrics ;;
    argo-rollouts) build_tool argo-rollouts "$ARGO_ROLLOUTS_VERSION" rollouts-controller argo-measure argo-rollouts-crds argo-rollouts-manifests ;;
    flagger) build_tool flagger "$FLAGGER_VERSION" flagger-check flagger-crds ;;
    *) echo "tools: unknown tool '$1' (known: $ALL_TOOLS)" >&2; return 2 ;;
  esac
}

if [ "${1:-}" = --list ]; then echo "$ALL_TOOLS"; exit 0; fi
if [ "${1:-}" = --version ]; then
  case ${2:-} in
    etcd) echo "$ETCD_VERSION" ;;
    kube-apiserver | kube-cluster | kube-proxy) echo "$K8S_VERSION" ;;
    coredns) echo "$COREDNS_VERSION" ;;
    kube-router) echo "$KUBE_ROUTER_VERSION" ;;
    prometheus) echo "$PROMETHEUS_VERSION" ;;
    alertmanager) echo "$ALERTMANAGER_VERSION" ;;
    snmp_exporter) echo "$SNMP_EXPORTER_VERSION" ;;
    prometheus-operator | prometheus-config-reloader) echo "$PROMETHEUS_OPERATOR_VERSION" ;;
    victoriametrics) echo "$VICTORIAMETRICS_VERSION" ;;
    golangci-lint) echo "$GOLANGCI_LINT_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    argo-rollouts) echo "$ARGO_ROLLOUTS_VERSION" ;;
    flagger) echo "$FLAGGER_VERSION" ;;
    *) echo "tools: no version for '${2:-}'" >&2; exit 2 ;;
  esac
  exit 0
fi
start=$SECONDS
rm -f "$BIN/.versions.tmp"
mkdir -p "$CACHE"
BUILT_LIST=$CACHE/.built.$$
: >"$BUILT_LIST"
set -- ${@:-$DEFAULT_TOOLS}

# Two lanes build at once (WATTSON_TOOLS_JOBS=1: one after the other): one Go build leaves about a
# quarter of two cores idle (links are single-threaded). Tools that share a source folder (the
# Kubernetes wrapper module; prometheus-operator's) are in one lane, so no two builds edit one
# go.mod; the go command locks its module and build caches itself. The lanes are balanced by
# their cold build times on a 2-core machine (kube-apiserver and Prometheus, 6 min each, apart).
LANE_A=" etcd kube-apiserver kube-cluster kube-proxy skaffold argo-rollouts flagger ginkgo coredns victoriametrics "
lane() { # lane A|B TOOL...: builds those of the tools in that lane, in order, with their [i/N].
  local want=$1 i=0 t in; shift
  for t in "$@"; do
    i=$((i + 1))
    in=B; [[ $LANE_A == *" $t "* ]] && in=A
    [ "$in" = "$want" ] || continue
    STEP="[$i/$#] " one "$t"
  done
}
if [ "${WATTSON_TOOLS_JOBS:-2}" -gt 1 ] && [ $# -gt 1 ]; then
  # The first failing tool stops its lane (set -e) with its output printed above; the other
  # lane finishes what it builds, and the run fails.
  # Both in the background: errexit holds in a subshell, not in a function run under `||`.
  lane A "$@" &
  a=$!
  lane B "$@" &
  b=$!
  rc=0
  wait "$a" || rc=$?
  wait "$b" || rc=$?
  [ $rc -eq 0 ] || { rm -f "$BUILT_LIST"; log "FAILED: see the tool's output above"; exit $rc; }
else
  i=0
  for t in "$@"; do
    i=$((i + 1)); STEP="[$i/$#] " one "$t"
  done
fi
mkdir -p "$BIN"; touch "$BIN/.versions" "$BIN/.versions.tmp"
sort -u "$BIN/.versions.tmp" "$BIN/.versions" >"$BIN/.versions.new"
mv "$BIN/.versions.new" "$BIN/.versions"; rm -f "$BIN/.versions.tmp"
if [ ! -s "$BUILT_LIST" ]; then
  log "all tools up to date in $BIN ($((SECONDS - start))s)"
else
  log "built: $(paste -sd, "$BUILT_LIST" | sed 's/,/, /g'); total $(elapsed $((SECONDS - start)))"
fi
rm -f "$BUILT_LIST"
