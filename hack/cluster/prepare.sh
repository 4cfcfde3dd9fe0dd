#!/usr/bin/env bash
# prepare.sh readies a cluster for the kit (hack/cluster/kit, or any overlay with PDUModels): the CRDs
# (prometheus-operator's and Wattson's, established before anything uses them) and the MIBs the
# sample PDUModels compile, as gzipped ConfigMaps labelled wattson.dev/mib in wattson-system (the
# vendor MIBs are third-party files, read in place, never committed). skaffold's `node` profile
# runs it before each deploy; it is idempotent.
#
# Usage: hack/cluster/prepare.sh [crds] [mibs]   (default both; KUBECONFIG from the environment;
#        MIB folders from WATTSON_MIB_DIRS, space-separated, default the shared fixtures).
#        `make cluster-helm` runs only `mibs`: Helm installs Wattson's CRDs from the chart's crds/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
kubectl() { "$BIN/kubectl" "$@"; }
log() { printf '%s prepare: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

steps=${*:-crds mibs}
for s in $steps; do [[ $s == crds || $s == mibs ]] || { log "unknown step $s (crds, mibs)"; exit 2; }; done

if [[ " $steps " == *" crds "* ]]; then
  [[ -d $BIN/prometheus-operator-crds ]] || { log "$BIN/prometheus-operator-crds missing; run: make tools"; exit 1; }
  kubectl apply --server-side --force-conflicts -f "$BIN/prometheus-operator-crds/" >/dev/null
  kubectl apply --server-side --force-conflicts -k "$ROOT/operator/config/crd" >/dev/null
  kubectl wait --for=condition=Established --timeout=60s crd --all >/dev/null
  log "CRDs established"
fi
[[ " $steps " == *" mibs "* ]] || exit 0

kubectl create namespace wattson-system --dry-run=client -o yaml | kubectl apply --server-side -f - >/dev/null
fixtures=$ROOT/../shared/fixtures/mibs
dirs=${WATTSON_MIB_DIRS:-$fixtures/ietf $fixtures/vendor/apc $fixtures/vendor/raritan $fixtures/vendor/cyberpower}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
for d in $dirs; do
  [[ -d $d ]] || { log "MIB folder $d not found (set WATTSON_MIB_DIRS to folders holding PowerNet-MIB, PDU2-MIB, CPS-MIB and the IETF MIBs)"; exit 1; }
  name=mibs-$i-$(basename "$d" | tr 'A-Z_.' 'a-z--')
  mkdir -p "$tmp/$name"
  # Gzipped: PowerNet-MIB alone is larger than a ConfigMap may be.
  for f in "$d"/*; do [[ -f $f ]] && gzip -9c "$f" >"$tmp/$name/$(basename "$f").gz"; done
  kubectl -n wattson-system create configmap "$name" --from-file="$tmp/$name" --dry-run=client -o yaml |
    kubectl label --local -f - wattson.dev/mib=true -o yaml |
    kubectl apply --server-side --force-conflicts -f - >/dev/null
  i=$((i + 1))
done
log "$i MIB ConfigMaps in wattson-system"
