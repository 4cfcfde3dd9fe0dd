#!/usr/bin/env bash
# cluster.sh runs a real single-node Kubernetes on this machine's loopback: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kubelet (hack/tools.sh builds them from pinned
# sources), containerd and runc from Debian, a loopback-only CNI, and hostNetwork pods only.
# No address but 127.0.0.1 is ever used: the Service range is 127.0.0.0/24, so the `kubernetes`
# Service is the apiserver itself on 127.0.0.1:443 and in-cluster clients need no kube-proxy.
#
# Usage (as root):
#   hack/cluster/cluster.sh up      start it (idempotent); prints the kubeconfig path
#   hack/cluster/cluster.sh down    stop it and remove every process, mount, cgroup and netns
#   hack/cluster/cluster.sh check   fail if anything of the cluster is left (down runs it)
#   hack/cluster/cluster.sh status  what runs
#
# State lives in $WATTSON_CLUSTER_DIR (default /var/lib/wattson-cluster); logs in its logs/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
DIR=${WATTSON_CLUSTER_DIR:-/var/lib/wattson-cluster}
# The node's name is its address: kubelet refuses a loopback --node-ip and reports the host's
# other addresses as InternalIP, so the apiserver reaches kubelet (logs, exec, port-forward) by
# the node's Hostname address, 127.0.0.1, which needs no resolver.
NODE=127.0.0.1
KUBECONFIG_OUT=$DIR/kubeconfig
ETCD_PORT=2479            # not etcd's default, so a developer's etcd keeps its port
API_PORT=443              # the `kubernetes` Service's port: in-cluster clients dial 127.0.0.1:443
PAUSE_IMAGE=wattson.local/pause:v1
# Host paths kubelet, containerd's shims and podman create whatever their state dirs say. `up`
# records which existed before it; `down` removes the others and `check` looks for them.
HOST_PATHS="/run/containerd /run/libpod /run/containers /var/lib/containers /var/lib/kubelet /var/log/containers /var/log/pods"

log() { printf '%s cluster: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

need_root() { [[ $(id -u) == 0 ]] || die "must run as root (containerd, kubelet, mounts and cgroups need it)"; }

need_bins() {
  local b missing=()
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    [[ -x $BIN/$b ]] || missing+=("$b")
  done
  ((${#missing[@]} == 0)) || die "missing in $BIN: ${missing[*]}; run: hack/tools.sh etcd kube-apiserver kube-cluster"
  for b in containerd containerd-shim-runc-v2 runc ctr buildah podman; do
    command -v "$b" >/dev/null || die "$b not found; run: apt-get install -y containerd runc buildah podman containernetworking-plugins busybox-static"
  done
  [[ -x /usr/lib/cni/loopback ]] || die "/usr/lib/cni/loopback not found; run: apt-get install -y containernetworking-plugins"
}

# pidfile NAME: the pid of a component we started, if it still runs.
running() {
  local f=$DIR/run/$1.pid
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start NAME CMD...: runs a component in the background in its own session, logging to logs/NAME.log.
start() {
  local name=$1; shift
  if running "$name"; then return 0; fi
  setsid "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/run/$name.pid"
}

# wait_for WHAT SECONDS CMD...: retries CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      log "$what not ready after ${secs}s; last log lines:"
      local f; for f in "$DIR"/logs/*.log; do echo "== $f"; tail -n 15 "$f"; done >&2
      exit 1
    fi
    sleep 0.5
  done
}

pki() {
  local p=$DIR/pki
  [[ -f $p/done ]] && return 0
  mkdir -p "$p"; cd "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=wattson-cluster-ca" 2>/dev/null
  # cert NAME SUBJECT [SAN]
  cert() {
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    local ext=$1.ext
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' "${4:-clientAuth}" >"$ext"
    [[ -n ${3:-} ]] && printf 'subjectAltName=%s\n' "$3" >>"$ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$ext" 2>/dev/null
    rm -f "$1.csr" "$ext"
  }
  cert apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" serverAuth
  cert admin "/O=system:masters/CN=wattson-admin"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key
  touch done
  cd - >/dev/null
}

kubeconfig() { # NAME CERT
  local p=$DIR/pki
  cat >"$DIR/$1" <<KC
apiVersion: v1
kind: Config
clusters:
  - name: wattson
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority-data: $(base64 -w0 "$p/ca.crt")
users:
  - name: $2
    user:
      client-certificate-data: $(base64 -w0 "$p/$2.crt")
      client-key-data: $(base64 -w0 "$p/$2.key")
contexts:
  - name: wattson-loopback
    context: {cluster: wattson, user: $2}
current-context: wattson-loopback
KC
  chmod 600 "$DIR/$1"
}

containerd_config() {
  local c=$DIR/containerd
  mkdir -p "$c/root" "$c/state" "$DIR/cni"
  # Loopback only: hostNetwork pods never call it, but the runtime reports NetworkReady (and so
  # the node Ready) only once a CNI configuration is loaded.
  cat >"$DIR/cni/10-loopback.conflist" <<'CNI'
{"cniVersion": "0.4.0", "name": "wattson-loopback", "plugins": [{"type": "loopback"}]}
CNI
  containerd config default | sed \
    -e "s|^root = .*|root = \"$c/root\"|" \
    -e "s|^state = .*|state = \"$c/state\"|" \
    -e "s|address = \"/run/containerd/containerd.sock\"|address = \"$c/containerd.sock\"|" \
    -e 's|restrict_oom_score_adj = false|restrict_oom_score_adj = true|' \
    -e 's|disable_apparmor = false|disable_apparmor = true|' \
    -e "s|sandbox_image = .*|sandbox_image = \"$PAUSE_IMAGE\"|" \
    -e "s|conf_dir = .*|conf_dir = \"$DIR/cni\"|" \
    -e 's|bin_dir = .*|bin_dir = "/usr/lib/cni"|' \
    -e "s|^\( *\)Root = \"\"|\1Root = \"$c/runc\"|" \
    >"$c/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$c/config.toml" || die "containerd config: restrict_oom_score_adj not set"
}

# storage_config: buildah's and podman's image storage, inside the cluster's folder so that
# `down` removes it (vfs: works on any filesystem and mounts nothing).
storage_config() {
  cat >"$DIR/storage.conf" <<SC
[storage]
driver = "vfs"
graphroot = "$DIR/storage"
runroot = "$DIR/run/storage"
SC
}

kubelet_config() {
  mkdir -p "$DIR/kubelet"
  cat >"$DIR/kubelet/config.yaml" <<KCFG
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
# The host's cgroups count as v1 (a tmpfs of v1 hierarchies).
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
# A test node: never evict for a full disk or a busy machine.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# dnsPolicy None pods only; the host's resolver must never be handed to a pod.
resolvConf: ""
staticPodPath: ""
podLogsDir: $DIR/pod-logs
serializeImagePulls: false
containerRuntimeEndpoint: unix://$DIR/containerd/containerd.sock
KCFG
}

up() {
  need_root; need_bins
  mkdir -p "$DIR/logs" "$DIR/run"
  if [[ ! -f $DIR/host-paths ]]; then
    local h; for h in $HOST_PATHS; do [[ -e $h ]] && echo "$h"; done >"$DIR/host-paths"
  fi
  storage_config
  pki
  kubeconfig kubeconfig admin
  kubeconfig controller-manager.kubeconfig controller-manager
  kubeconfig scheduler.kubeconfig scheduler
  kubeconfig kubelet.kubeconfig kubelet
  cp "$DIR/kubeconfig" "$DIR/kubeconfig.tmp" && mv "$DIR/kubeconfig.tmp" "$KUBECONFIG_OUT"

  log "etcd on 127.0.0.1:$ETCD_PORT"
  start etcd "$BIN/etcd" --name wattson --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "wattson=http://127.0.0.1:$((ETCD_PORT + 1))" --listen-metrics-urls "" \
    --unsafe-no-fsync
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  local p=$DIR/pki
  log "kube-apiserver on 127.0.0.1:$API_PORT"
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --service-cluster-ip-range 127.0.0.0/24 \
    --endpoint-reconciler-type none \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --client-ca-file "$p/ca.crt" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --enable-admission-plugins NodeRestriction
  wait_for kube-apiserver 90 "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" get --raw /readyz

  log "kube-controller-manager and kube-scheduler"
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$DIR/controller-manager.kubeconfig" --authorization-kubeconfig "$DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --controllers '*' --use-service-account-credentials \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
    --leader-elect=false
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$DIR/scheduler.kubeconfig" --authorization-kubeconfig "$DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false

  log "containerd"
  containerd_config
  start containerd containerd --config "$DIR/containerd/config.toml"
  wait_for containerd 30 ctr --address "$DIR/containerd/containerd.sock" version
  if ! ctr --address "$DIR/containerd/containerd.sock" -n k8s.io images ls -q | grep -qx "$PAUSE_IMAGE"; then
    "$ROOT/hack/cluster/images.sh" pause
  fi

  # skaffold's local builds read image IDs through a Docker API; podman serves one over the same
  # image storage buildah builds into (private to the cluster: hack/cluster/images.sh).
  start podman env CONTAINERS_STORAGE_CONF="$DIR/storage.conf" podman system service --time=0 "unix://$DIR/run/podman.sock"
  wait_for podman 30 test -S "$DIR/run/podman.sock"

  log "kubelet (node $NODE)"
  kubelet_config
  start kubelet "$BIN/kubelet" --config "$DIR/kubelet/config.yaml" \
    --kubeconfig "$DIR/kubelet.kubeconfig" --root-dir "$DIR/kubelet" \
    --hostname-override "$NODE" --cert-dir "$DIR/kubelet/pki" \
    --node-labels "wattson.dev/node=loopback"
  wait_for "node registration" 60 "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" get node "$NODE"
  wait_for "node Ready" 120 "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" wait --for=condition=Ready "node/$NODE" --timeout=1s
  # skaffold's global settings for this node: no telemetry or update checks (no internet here).
  printf 'global:\n  collect-metrics: false\n  update-check: false\n  survey:\n    disable-prompt: true\n' >"$DIR/skaffold-config.yaml"
  log "node $NODE Ready; for kubectl and skaffold:"
  echo "export KUBECONFIG=$KUBECONFIG_OUT DOCKER_HOST=unix://$DIR/run/podman.sock SKAFFOLD_CONFIG=$DIR/skaffold-config.yaml"
}

# pids of every process of the cluster: the components we started, anything naming the state
# dir on its command line (containerd's shims do, by their -address), and the shims' children.
cluster_pids() {
  local f pid
  for f in "$DIR"/run/*.pid; do
    [[ -f $f ]] || continue
    pid=$(cat "$f"); kill -0 "$pid" 2>/dev/null && echo "$pid"
  done
  pgrep -f -- "$DIR/" || true
  # Container processes: children of our shims.
  local shim
  for shim in $(pgrep -f "containerd-shim-runc-v2.*$DIR" 2>/dev/null); do
    pgrep -P "$shim" || true
  done
}

cluster_mounts() { awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r; }

cluster_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -d ${h}kubepods ]] && find "${h}kubepods" -depth -type d
  done
  return 0
}

cluster_netns() { ls /var/run/netns 2>/dev/null | grep '^cni-' || true; }

down() {
  need_root
  [[ -d $DIR ]] || { log "nothing to stop"; check; return; }
  local kc=(--kubeconfig "$KUBECONFIG_OUT" --request-timeout=10s)
  if running kube-apiserver && running kubelet; then
    log "deleting pods"
    "$BIN/kubectl" "${kc[@]}" delete pods --all-namespaces --all --grace-period=5 --wait=true --timeout=60s >/dev/null 2>&1 || true
  fi
  local name
  for name in kubelet kube-scheduler kube-controller-manager; do stop "$name"; done
  if running containerd; then
    log "removing containers"
    local a=(ctr --address "$DIR/containerd/containerd.sock" -n k8s.io) t
    for t in $("${a[@]}" tasks ls -q 2>/dev/null); do "${a[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    sleep 1
    for t in $("${a[@]}" tasks ls -q 2>/dev/null); do "${a[@]}" tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for t in $("${a[@]}" containers ls -q 2>/dev/null); do "${a[@]}" containers delete "$t" >/dev/null 2>&1 || true; done
  fi
  for name in podman containerd kube-apiserver etcd; do stop "$name"; done
  local pid
  for pid in $(cluster_pids); do kill -9 "$pid" 2>/dev/null || true; done
  sleep 0.5
  local m
  for m in $(cluster_mounts); do umount -l "$m" 2>/dev/null || umount -f "$m" 2>/dev/null || true; done
  local cg
  for cg in $(cluster_cgroups); do rmdir "$cg" 2>/dev/null || true; done
  local ns
  for ns in $(cluster_netns); do ip netns delete "$ns" 2>/dev/null || true; done
  # kubelet links every container's log into /var/log/containers, whatever podLogsDir says.
  find /var/log/containers -maxdepth 1 -type l -lname "$DIR/*" -delete 2>/dev/null || true
  local h before=""
  if [[ -f $DIR/host-paths ]]; then
    before=$(cat "$DIR/host-paths")
    for h in $HOST_PATHS; do
      grep -qx "$h" <<<"$before" || rm -rf "$h"
    done
  else
    log "no record of the host paths that existed before up: leaving them for check to report"
    before=$(tr " " "\n" <<<"$HOST_PATHS")
  fi
  HOST_BEFORE=$before
  if [[ ${WATTSON_CLUSTER_KEEP:-} == "" ]]; then rm -rf "$DIR"; fi
  check
  log "down; nothing left"
}

# stop NAME: SIGTERM, then SIGKILL after 10 s.
stop() {
  running "$1" || return 0
  local pid; pid=$(cat "$DIR/run/$1.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$DIR/run/$1.pid"
}

check() {
  local left=()
  local pids mounts cgroups netns
  pids=$( { pgrep -f -- "$DIR/" || true; pgrep -f "containerd-shim-runc-v2.*$DIR" || true; } | sort -u | tr '\n' ' ')
  mounts=$(cluster_mounts | tr '\n' ' ')
  cgroups=$(cluster_cgroups | tr '\n' ' ')
  netns=$(cluster_netns | tr '\n' ' ')
  [[ -z ${pids// } ]] || left+=("processes: $pids")
  [[ -z ${mounts// } ]] || left+=("mounts: $mounts")
  [[ -z ${cgroups// } ]] || left+=("cgroups: $cgroups")
  [[ -z ${netns// } ]] || left+=("network namespaces: $netns")
  # Host paths: those that did not exist before `up` (recorded in the state dir, or by `down`).
  local h before paths=""
  before=${HOST_BEFORE-$(cat "$DIR/host-paths" 2>/dev/null || tr " " "\n" <<<"$HOST_PATHS")}
  for h in $HOST_PATHS; do [[ -e $h ]] && ! grep -qx "$h" <<<"$before" && paths+="$h "; done
  if [[ -d /var/log/containers ]] && find /var/log/containers -maxdepth 1 -type l -lname "$DIR/*" | grep -q .; then
    paths+="/var/log/containers/(links into $DIR) "
  fi
  [[ -z ${paths// } ]] || left+=("host paths: $paths")
  if ((${#left[@]})); then
    local l; for l in "${left[@]}"; do log "left behind: $l"; done
    return 1
  fi
  log "check: no process, mount, cgroup, network namespace or host path of the cluster is left"
}

status() {
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler containerd podman kubelet; do
    if running "$name"; then echo "$name: running (pid $(cat "$DIR/run/$name.pid"))"; else echo "$name: stopped"; fi
  done
  [[ -f $KUBECONFIG_OUT ]] && echo "kubeconfig: $KUBECONFIG_OUT"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  check) check ;;
  status) status ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
