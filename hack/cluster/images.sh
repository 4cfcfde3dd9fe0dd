#!/usr/bin/env bash
# images.sh builds the loopback cluster's images FROM scratch with buildah, from static binaries,
# and imports them into the cluster's containerd (namespace k8s.io): no registry, no pulls; pods
# use imagePullPolicy Never or IfNotPresent.
#
# Usage (as root):
#   hack/cluster/images.sh [NAME...]          the named images (default: all), tagged wattson.local/NAME:TAG
#   hack/cluster/images.sh --tag REF NAME     one image tagged REF (skaffold's custom builder: REF=$IMAGE)
#   hack/cluster/images.sh --list
#
# Names: pause wattson wattson-dev snmp-exporter prometheus alertmanager prometheus-operator
#        prometheus-config-reloader
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
DIR=${WATTSON_CLUSTER_DIR:-/var/lib/wattson-cluster}
SOCK=$DIR/containerd/containerd.sock
# vfs: buildah's storage must work on any filesystem, overlay-on-overlay included.
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
ALL="pause wattson snmp-exporter prometheus alertmanager prometheus-operator prometheus-config-reloader"

log() { printf '%s images: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

# tag NAME: the tag of an image, the version of what it holds.
tag() {
  case $1 in
    pause) echo v1 ;;
    wattson | wattson-dev) echo dev ;;
    snmp-exporter) version snmp_exporter ;;
    # Prometheus's Go module v0.315.0 is Prometheus 3.15.0; prometheus-operator reads the tag.
    prometheus) version prometheus | sed -E 's/^v0\.([0-9])([0-9]+)\.([0-9]+)$/v\1.\2.\3/' ;;
    alertmanager) version alertmanager ;;
    prometheus-operator | prometheus-config-reloader) version prometheus-operator ;;
  esac
}
version() { "$ROOT/hack/tools.sh" --version "$1"; }

# need FILE...: the binaries an image is made of must exist, and be static.
need() {
  local f
  for f in "$@"; do
    [[ -x $f ]] || die "$f is missing; run: make tools cluster-tools build"
    if file -b "$f" 2>/dev/null | grep -q 'dynamically linked'; then die "$f is dynamically linked; FROM scratch needs CGO_ENABLED=0"; fi
  done
}

# image REF USER ENTRYPOINT-JSON SRC:DEST...: one image FROM scratch, imported into containerd.
image() {
  local ref=$1 user=$2 entry=$3; shift 3
  local c tar
  c=$(buildah from scratch)
  trap 'buildah rm "$c" >/dev/null 2>&1 || true' RETURN
  local pair
  for pair in "$@"; do buildah copy --quiet "$c" "${pair%%:*}" "${pair#*:}" >/dev/null; done
  buildah config --user "$user" --entrypoint "$entry" --cmd '' --env PATH=/:/bin \
    --label org.opencontainers.image.source=https://github.com/wattson-dev/wattson "$c"
  buildah commit --quiet --rm "$c" "$ref" >/dev/null
  trap - RETURN
  tar=$(mktemp --suffix .tar)
  rm -f "$tar"
  buildah push --quiet "$ref" "docker-archive:$tar:$ref" >/dev/null
  buildah rmi "$ref" >/dev/null 2>&1 || true
  if [[ -S $SOCK ]]; then
    ctr --address "$SOCK" -n k8s.io images import --no-unpack=false "$tar" >/dev/null
    log "$ref imported ($(du -h "$tar" | cut -f1))"
  else
    die "containerd is not running at $SOCK; run: make cluster-up"
  fi
  rm -f "$tar"
}

# static binaries of Wattson, built for the images.
wattson_bins() {
  local out=$DIR/images/wattson
  mkdir -p "$out"
  (cd "$ROOT" && export CGO_ENABLED=0 &&
    go build -trimpath -o "$out/wattson-operator" ./operator &&
    go build -trimpath -o "$out/wattson-runtime" ./runtime &&
    go build -trimpath -o "$out/wattson-snmpsim" ./mocks &&
    go test -c -trimpath -o "$out/specs.test" ./specs)
  echo "$out"
}

# probe_sh: /bin/sh for images whose listenLocal exec probes prometheus-operator writes
# (hack/cluster/probe); there is no real shell.
probe_sh() {
  local out=$DIR/images/probe
  mkdir -p "$out"
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/sh" ./hack/cluster/probe)
  echo "$out/sh"
}

build() {
  local name=$1 ref=${2:-}
  [[ -n $ref ]] || ref=wattson.local/$name:$(tag "$name")
  log "building $ref"
  case $name in
    pause)
      local out=$DIR/images/pause
      mkdir -p "$out"
      (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/pause" ./hack/cluster/pause)
      image "$ref" 65535:65535 '["/pause"]' "$out/pause:/pause" ;;
    wattson)
      local out; out=$(wattson_bins)
      image "$ref" 65532:65532 '["/wattson-runtime"]' \
        "$out/wattson-operator:/" "$out/wattson-runtime:/" "$out/wattson-snmpsim:/" "$out/specs.test:/" \
        "$ROOT/mocks/data:/data/snmpsim" ;;
    snmp-exporter)
      need "$BIN/snmp_exporter"
      image "$ref" 65534:65534 '["/bin/snmp_exporter"]' "$BIN/snmp_exporter:/bin/snmp_exporter" ;;
    prometheus)
      need "$BIN/prometheus"
      image "$ref" 65534:65534 '["/bin/prometheus"]' "$BIN/prometheus:/bin/prometheus" "$(probe_sh):/bin/sh" ;;
    alertmanager)
      need "$BIN/alertmanager"
      image "$ref" 65534:65534 '["/bin/alertmanager"]' "$BIN/alertmanager:/bin/alertmanager" ;;
    prometheus-operator)
      need "$BIN/prometheus-operator"
      image "$ref" 65534:65534 '["/bin/operator"]' "$BIN/prometheus-operator:/bin/operator" ;;
    prometheus-config-reloader)
      need "$BIN/prometheus-config-reloader"
      image "$ref" 65534:65534 '["/bin/prometheus-config-reloader"]' \
        "$BIN/prometheus-config-reloader:/bin/prometheus-config-reloader" "$(probe_sh):/bin/sh" ;;
    *) die "unknown image $name (known: $ALL)" ;;
  esac
}

[[ $(id -u) == 0 ]] || die "must run as root (buildah and containerd)"
case ${1:-} in
  --list) echo "$ALL" ;;
  --tag) [[ $# == 3 ]] || die "usage: images.sh --tag REF NAME"; build "$3" "$2" ;;
  *) for n in ${@:-$ALL}; do build "$n"; done ;;
esac
