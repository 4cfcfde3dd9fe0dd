#!/usr/bin/env bash
# images.sh builds the test cluster's images FROM scratch with buildah, from static binaries,
# and imports them into the cluster's containerd (namespace k8s.io): no registry, no pulls; pods
# use imagePullPolicy Never or IfNotPresent. Third-party images keep their published images'
# user and entrypoint (snmp_exporter has no USER, so it runs as root; Prometheus, Alertmanager,
# prometheus-operator and its config reloader run as the named user nobody, 65534 in their
# /etc/passwd), so a pod spec that only works with images of our own fails here as it would in
# a user's cluster.
#
# Usage (as root):
#   hack/cluster/images.sh [NAME...]          the named images (default: the cluster's and the kit's third-party ones)
#   hack/cluster/images.sh --tag REF NAME     one image tagged REF (skaffold's custom builder: REF=$IMAGE)
#   hack/cluster/images.sh --list
#
# Names: pause wattson wattson-dev snmp-exporter prometheus alertmanager prometheus-operator
#        prometheus-config-reloader coredns busybox postgres argo-rollouts
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
DIR=${WATTSON_CLUSTER_DIR:-/var/lib/wattson-cluster}
SOCK=$DIR/containerd/containerd.sock
# The cluster's own image storage (hack/cluster/cluster.sh writes it: vfs, under the cluster's
# folder, so that `cluster.sh down` removes every image).
export CONTAINERS_STORAGE_CONF=$DIR/storage.conf BUILDAH_ISOLATION=chroot
ALL="pause wattson wattson-dev snmp-exporter prometheus alertmanager prometheus-operator prometheus-config-reloader coredns busybox postgres argo-rollouts"
# What the cluster and the kit's third-party pods need; skaffold builds Wattson's own images.
DEFAULT="pause coredns snmp-exporter prometheus alertmanager prometheus-operator prometheus-config-reloader postgres"

# Debian's PostgreSQL 15 (apt: postgresql), for the cluster kit's fleet store (postgres image).
PG_BIN=/usr/lib/postgresql/15/bin

log() { printf '%s images: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

# tag NAME: the tag of an image, the version of what it holds.
tag() {
  case $1 in
    pause) echo v1 ;;
    busybox) { busybox 2>&1 || true; } | awk 'NR == 1 { print $2 }' ;;
    wattson | wattson-dev) echo dev ;;
    postgres) echo 15 ;; # the major version, which the apt package (and PG_BIN) pins
    snmp-exporter) version snmp_exporter ;;
    # Prometheus's Go module v0.315.0 is Prometheus 3.15.0; prometheus-operator reads the tag.
    prometheus) version prometheus | sed -E 's/^v0\.([0-9])([0-9]+)\.([0-9]+)$/v\1.\2.\3/' ;;
    alertmanager) version alertmanager ;;
    prometheus-operator | prometheus-config-reloader) version prometheus-operator ;;
    coredns) version coredns ;;
    argo-rollouts) version argo-rollouts ;;
  esac
}
version() { "$ROOT/hack/tools.sh" --version "$1"; }

# repo NAME: where an image is published. The kit's third-party images get their published names
# (built here from the same pinned source, with the published user and entrypoint), so the kit's
# manifests deploy here unchanged, never pulled (IfNotPresent finds them); the cluster's own get
# wattson.local names.
repo() {
  case $1 in
    snmp-exporter) echo quay.io/prometheus/snmp-exporter ;;
    prometheus) echo quay.io/prometheus/prometheus ;;
    alertmanager) echo quay.io/prometheus/alertmanager ;;
    prometheus-operator | prometheus-config-reloader) echo "quay.io/prometheus-operator/$1" ;;
    argo-rollouts) echo quay.io/argoproj/argo-rollouts ;;
    *) echo "wattson.local/$1" ;;
  esac
}

# need FILE...: the binaries an image is made of must exist, and be static.
need() {
  local f
  for f in "$@"; do
    [[ -x $f ]] || die "$f is missing; run: make tools cluster-tools build"
    if file -b "$f" 2>/dev/null | grep -q 'dynamically linked'; then die "$f is dynamically linked; FROM scratch needs CGO_ENABLED=0"; fi
  done
}

# passwd: /etc/passwd and /etc/group as the published busybox-based images have them (nobody is
# 65534), so that USER nobody resolves.
passwd() {
  local out=$DIR/images/etc
  mkdir -p "$out"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$out/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$out/group"
  echo "$out/passwd:/etc/passwd $out/group:/etc/group"
}

# image REF USER ENTRYPOINT-JSON SRC:DEST...: one image FROM scratch, imported into containerd.
# USER "" is no USER line: root, as in an image whose Dockerfile sets none.
image() {
  local ref=$1 user=$2 entry=$3; shift 3
  local c tar
  c=$(buildah from scratch)
  local pair
  for pair in "$@"; do buildah copy --quiet "$c" "${pair%%:*}" "${pair#*:}" >/dev/null; done
  [[ -n $user ]] && buildah config --user "$user" "$c"
  buildah config --entrypoint "$entry" --cmd '' --env PATH=/:/bin \
    --label org.opencontainers.image.source=https://github.com/wattson-dev/wattson "$c"
  # Docker's format: the image ID (the config's digest) is then the same in buildah's storage,
  # the archive and containerd.
  buildah commit --quiet --rm --format docker "$c" "$ref" >/dev/null
  import "$ref"
}

# import REF: copies an image from buildah's storage into containerd. For skaffold (KEEP=1) it
# stays in buildah's storage too, where skaffold reads its ID through podman's Docker API, and
# containerd also gets the name skaffold deploys: the repository tagged with that ID.
import() {
  local ref=$1 tar id
  [[ -S $SOCK ]] || die "containerd is not running at $SOCK; run: make cluster-up"
  tar=$(mktemp --suffix .tar)
  rm -f "$tar"
  buildah push --quiet "$ref" "docker-archive:$tar:$ref" >/dev/null
  ctr --address "$SOCK" -n k8s.io images import "$tar" >/dev/null
  log "$ref imported ($(du -h "$tar" | cut -f1))"
  rm -f "$tar"
  if [[ ${KEEP:-} == 1 ]]; then
    id=$(buildah images --no-trunc --format '{{.ID}}' "$ref" | head -n1)
    id=${id#sha256:}
    local repo=${ref%:*}
    [[ $ref == *@* || ${ref##*/} != *:* ]] && repo=${ref%@*}
    ctr --address "$SOCK" -n k8s.io images tag --force "$ref" "$repo:$id" >/dev/null
  else
    buildah rmi "$ref" >/dev/null 2>&1 || true
  fi
}

# wattson_bins: Wattson's static binaries (`make build`, into a folder of the images' own).
wattson_bins() {
  local out=$DIR/images/wattson
  make -C "$ROOT" -s build BIN="$out" >&2
  echo "$out"
}

# dev_image REF: the runtime for `skaffold dev` on this cluster (skaffold.yaml's cluster-dev
# profile), FROM scratch and with no Go toolchain: the runtime and the suite, both compiled here on
# the host with its warm build cache (the suite by devsync.sh, which also compiles and copies in
# every saved version), and busybox as tar and rm for skaffold's file sync and devsync.sh's copy
# (about 70 MB in all). The runtime runs /specs.test until a new suite arrives in /suite.
dev_image() {
  local ref=$1 busybox out=$DIR/images/dev
  busybox=$(command -v busybox) || die "busybox not found; run: apt-get install -y busybox-static"
  file -b "$busybox" | grep -q 'statically linked' || die "$busybox is not static; run: apt-get install -y busybox-static"
  # Its own folder: skaffold may build the wattson image at the same time.
  rm -rf "$out" && mkdir -p "$out"
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "$(hack/ldflags.sh)" -o "$out/wattson-runtime" ./runtime)
  "$ROOT/hack/cluster/devsync.sh" --build "$out"
  image "$ref" 65532:65532 '["/wattson-runtime"]' "$out/wattson-runtime:/" "$out/specs.test:/" \
    "$busybox:/bin/tar" "$busybox:/bin/rm"
}

# postgres_root DIR: a root file system for Debian's PostgreSQL 15 in DIR: initdb, postgres and
# psql, every shared library ldd lists for them and for the server's modules (as the files, at
# the paths ldd prints), the server's share folder, UTC's zone file, busybox's sh (initdb runs the
# bootstrap backend through /bin/sh) and a passwd with the postgres user (999, as in the
# published postgres image; the server refuses to run as root).
postgres_root() {
  local root=$1 bb f lib mods
  [[ -x $PG_BIN/postgres ]] || die "$PG_BIN/postgres not found; run: apt-get install -y postgresql"
  bb=$(command -v busybox) || die "busybox not found; run: apt-get install -y busybox-static"
  file -b "$bb" | grep -q 'statically linked' || die "$bb is not static; run: apt-get install -y busybox-static"
  rm -rf "$root" && mkdir -p "$root/etc" "$root/bin" "$root/tmp" "$root/var/lib/postgresql"
  # The modules initdb loads (PL/pgSQL, the snowball dictionaries, the encoding conversions); not
  # the JIT, which would pull in LLVM (the kit's server runs with jit=off).
  mods=$(ls /usr/lib/postgresql/15/lib/*.so | grep -v llvmjit)
  # shellcheck disable=SC2086
  tar -C / -cf - "${PG_BIN#/}/initdb" "${PG_BIN#/}/postgres" "${PG_BIN#/}/psql" ${mods//\/usr/usr} \
    usr/share/postgresql/15 usr/share/zoneinfo/UTC usr/share/zoneinfo/Etc/UTC | tar -C "$root" -xf -
  for lib in $(for f in "$PG_BIN/initdb" "$PG_BIN/postgres" "$PG_BIN/psql" $mods; do ldd "$f"; done |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  cp "$bb" "$root/bin/sh"
  printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\npostgres:x:999:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp"
  chown 999:999 "$root/var/lib/postgresql"
}

build() {
  local name=$1 ref=${2:-}
  [[ -n $ref ]] || ref=$(repo "$name"):$(tag "$name")
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
    wattson-dev) dev_image "$ref" ;;
    snmp-exporter)
      # quay.io/prometheus/snmp-exporter: no USER, ENTRYPOINT /bin/snmp_exporter.
      need "$BIN/snmp_exporter"
      image "$ref" "" '["/bin/snmp_exporter"]' "$BIN/snmp_exporter:/bin/snmp_exporter" ;;
    prometheus)
      need "$BIN/prometheus"
      # shellcheck disable=SC2046
      image "$ref" nobody '["/bin/prometheus"]' "$BIN/prometheus:/bin/prometheus" $(passwd) ;;
    alertmanager)
      need "$BIN/alertmanager"
      # shellcheck disable=SC2046
      image "$ref" nobody '["/bin/alertmanager"]' "$BIN/alertmanager:/bin/alertmanager" $(passwd) ;;
    prometheus-operator)
      need "$BIN/prometheus-operator"
      # shellcheck disable=SC2046
      image "$ref" nobody '["/bin/operator"]' "$BIN/prometheus-operator:/bin/operator" $(passwd) ;;
    prometheus-config-reloader)
      need "$BIN/prometheus-config-reloader"
      # shellcheck disable=SC2046
      image "$ref" nobody '["/bin/prometheus-config-reloader"]' \
        "$BIN/prometheus-config-reloader:/bin/prometheus-config-reloader" $(passwd) ;;
    coredns)
      need "$BIN/coredns"
      image "$ref" 65532:65532 '["/coredns"]' "$BIN/coredns:/coredns" ;;
    busybox)
      # For the NetworkPolicy probes of make cluster-e2e: busybox's nslookup and netprobe's GET.
      local bb; bb=$(command -v busybox) || die "busybox not found; run: apt-get install -y busybox-static"
      file -b "$bb" | grep -q 'statically linked' || die "$bb is not static; run: apt-get install -y busybox-static"
      local out=$DIR/images/netprobe
      mkdir -p "$out"
      (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/netprobe" ./hack/cluster/netprobe)
      image "$ref" 65534:65534 '["/bin/busybox"]' "$bb:/bin/busybox" "$out/netprobe:/bin/netprobe" ;;
    postgres)
      # The cluster kit's PostgreSQL (hack/cluster/kit/postgres.yaml), for the energy Suite's two
      # replicas; the pod's command runs initdb on first start, then the server.
      local out=$DIR/images/postgres
      postgres_root "$out"
      image "$ref" postgres '["/usr/lib/postgresql/15/bin/postgres"]' "$out:/" ;;
    argo-rollouts)
      # quay.io/argoproj/argo-rollouts: USER 999, WORKDIR /home/argo-rollouts, ENTRYPOINT
      # /bin/rollouts-controller (its Dockerfile's final stage; no CA bundle needed here).
      need "$BIN/rollouts-controller"
      image "$ref" 999 '["/bin/rollouts-controller"]' "$BIN/rollouts-controller:/bin/rollouts-controller" ;;
    *) die "unknown image $name (known: $ALL)" ;;
  esac
}

[[ $(id -u) == 0 ]] || die "must run as root (buildah and containerd)"
[[ -f $CONTAINERS_STORAGE_CONF ]] || die "$CONTAINERS_STORAGE_CONF not found; run: make cluster-up"
case ${1:-} in
  --list) echo "$ALL" ;;
  --tag) [[ $# == 3 ]] || die "usage: images.sh --tag REF NAME"; KEEP=1 build "$3" "$2" ;;
  *) for n in ${@:-$DEFAULT}; do build "$n"; done ;;
esac
