#!/usr/bin/env bash
# cluster.sh runs a real-shaped single-node Kubernetes on this machine, unable to reach anything
# off it: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy
# (hack/tools.sh builds them from pinned sources), containerd and runc from Debian, all in a
# network namespace this script creates (wattson-node). Pods get IPs from 198.18.0.0/24 through
# Debian's ptp and host-local CNI plugins, Services ClusterIPs from 198.19.0.0/24 (kube-proxy,
# nftables mode), names from CoreDNS (cluster.local only, no forward; built from the Go module
# proxy, run as a pod), and NetworkPolicies enforced by kube-router's firewall controller alone
# (--run-firewall, no router, no service proxy; built from the Go module proxy, run beside
# kube-proxy in wattson-node with Debian's iptables-nft and ipset: hack/cluster/netpol.yaml says why
# not kube-network-policies). A kernel that cannot run it (`can-enforce`) fails `up` under CI=true;
# elsewhere `up` warns that NetworkPolicies are accepted but NOT enforced.
#
#   host  wattson0 198.19.255.1/30  <-veth->  eth0 198.19.255.2/30  wattson-node
#         route 198.18.0.0/15 via the veth       apiserver :6443, kubelet :10250, etcd 127.0.0.1:2379
#                                                 pods 198.18.0.0/24 (ptp), Services 198.19.0.0/24
#
# No namespace of the cluster has a default route or any route outside 198.18.0.0/15 and
# loopback, the host does not forward (net.ipv4.ip_forward stays as it was, checked), and an
# nftables table in wattson-node counts and drops anything that would leave it for an address
# other than the host's end of the veth (`census` prints the count; `make cluster-e2e` checks 0).
# etcd serves TLS only, to client certificates of its own CA.
#
# Usage (as root):
#   hack/cluster/cluster.sh up      start it (idempotent); prints the kubeconfig path
#   hack/cluster/cluster.sh down    stop it and remove every process, mount, cgroup, netns, veth,
#                                   nftables table, iptables chain, ipset and route
#   hack/cluster/cluster.sh check   fail if anything of the cluster is left (down runs it)
#   hack/cluster/cluster.sh census  routes of every cluster namespace and the drop counter
#   hack/cluster/cluster.sh status  what runs
#   hack/cluster/cluster.sh can-enforce  exit 0 if this kernel and iptables/ipset can run the
#                                   NetworkPolicy enforcer (tried in a throwaway network namespace)
#
# State lives in $WATTSON_CLUSTER_DIR (default /var/lib/wattson-cluster); logs in its logs/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
DIR=${WATTSON_CLUSTER_DIR:-/var/lib/wattson-cluster}
NETNS=wattson-node
HOST_IF=wattson0
HOST_IP=198.19.255.1
NODE_IP=198.19.255.2
NODE=wattson-node
RANGE=198.18.0.0/15       # everything of the cluster: pods, Services, the veth
POD_CIDR=198.18.0.0/16    # the cluster's; the node's is its first /24
NODE_POD_CIDR=198.18.0.0/24
SVC_CIDR=198.19.0.0/24
API_SVC_IP=198.19.0.1
DNS_IP=198.19.0.10
API_PORT=6443
ETCD=https://127.0.0.1:2379   # in wattson-node's own loopback
KUBECONFIG_OUT=$DIR/kubeconfig
PAUSE_IMAGE=wattson.local/pause:v1
# kube-router's iptables: the nf_tables flavour, the kernel API kube-proxy's nftables mode and the
# egress guard use too (its filter table sits beside their tables; `nft list ruleset` in
# wattson-node shows all of it). iptables-legacy works as well; one flavour, pinned, is simpler to
# check and to clean.
IPTABLES=iptables-nft
KUBE_ROUTER_HEALTH=20244
# Host paths kubelet, containerd's shims, CNI and podman create whatever their state dirs say.
# `up` records which existed before it; `down` removes the others and `check` looks for them.
# (/run/xtables.lock: iptables' lock, should anything of the cluster take it.)
HOST_PATHS="/run/containerd /run/libpod /run/containers /var/lib/containers /var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/netns /run/xtables.lock"

log() { printf '%s cluster: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

need_root() { [[ $(id -u) == 0 ]] || die "must run as root (containerd, kubelet, mounts and cgroups need it)"; }

need_bins() {
  local b missing=()
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kube-router kubectl; do
    [[ -x $BIN/$b ]] || missing+=("$b")
  done
  ((${#missing[@]} == 0)) || die "missing in $BIN: ${missing[*]}; run: make cluster-tools"
  for b in containerd containerd-shim-runc-v2 runc ctr buildah podman nft nsenter $IPTABLES $IPTABLES-save $IPTABLES-restore ipset; do
    command -v "$b" >/dev/null || die "$b not found; run: apt-get install -y containerd runc buildah podman containernetworking-plugins busybox-static nftables iptables ipset"
  done
  for b in ptp host-local; do
    [[ -x /usr/lib/cni/$b ]] || die "/usr/lib/cni/$b not found; run: apt-get install -y containernetworking-plugins"
  done
}

# inns CMD...: runs CMD in the node's network namespace, in the host's mount namespace (so that
# kubelet's volume mounts and containerd's rootfs mounts see each other; `ip netns exec` would
# give each its own).
inns() { nsenter --net="/run/netns/$NETNS" -- "$@"; }

# pidfile NAME: the pid of a component we started, if it still runs.
running() {
  local f=$DIR/run/$1.pid
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start NAME CMD...: runs a component in the node's namespace, in the background in its own
# session, logging to logs/NAME.log.
start() {
  local name=$1; shift
  if running "$name"; then return 0; fi
  setsid nsenter --net="/run/netns/$NETNS" -- "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
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

# net_up: the node's namespace, the veth to the host, the host's one route into the cluster, and
# the node's egress guard (an nftables table that counts and drops whatever would leave the
# namespace for anything but the host's end of the veth).
net_up() {
  [[ -f /run/netns/$NETNS ]] || ip netns add "$NETNS"
  inns sysctl -qw net.ipv4.ip_forward=1
  # IPv4 only: no link-local chatter on the veth for the guard below to count.
  inns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip link add "$HOST_IF" type veth peer name eth0 netns "$NETNS"
    sysctl -qw "net.ipv6.conf.$HOST_IF.disable_ipv6=1"
    ip addr add "$HOST_IP/30" dev "$HOST_IF"
    ip link set "$HOST_IF" up
    inns ip addr add "$NODE_IP/30" dev eth0
    inns ip link set eth0 up
    inns ip link set lo up
  fi
  ip route replace "$RANGE" via "$NODE_IP" dev "$HOST_IF"
  inns nft -f - <<NFT
table inet wattson-egress
delete table inet wattson-egress
table inet wattson-egress {
  counter escaped {}
  chain sent {
    type filter hook output priority 0; policy accept;
    oifname "eth0" ip daddr != $HOST_IP counter name escaped drop
    oifname "eth0" meta nfproto ipv6 counter name escaped drop
  }
  chain forwarded {
    type filter hook forward priority 0; policy accept;
    oifname "eth0" ip daddr != $HOST_IP counter name escaped drop
    oifname "eth0" meta nfproto ipv6 counter name escaped drop
  }
}
NFT
}

pki() {
  local p=$DIR/pki
  mkdir -p "$p"; cd "$p"
  # Each file once (a state dir from an older cluster.sh gets only what it lacks).
  # ca NAME: a CA of its own (etcd's trusts no certificate of the cluster's).
  ca() { [[ -f $1.crt ]] || openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days 3650 -subj "/CN=wattson-$1" 2>/dev/null; }
  ca ca
  ca etcd-ca
  # cert NAME SUBJECT [SAN [USAGE [CA]]]
  cert() {
    [[ -f $1.crt ]] && return 0
    local signer=${5:-ca}
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    local ext=$1.ext
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' "${4:-clientAuth}" >"$ext"
    [[ -n ${3:-} ]] && printf 'subjectAltName=%s\n' "$3" >>"$ext"
    openssl x509 -req -in "$1.csr" -CA "$signer.crt" -CAkey "$signer.key" -CAcreateserial -out "$1.crt" -days 3650 -extfile "$ext" 2>/dev/null
    rm -f "$1.csr" "$ext"
  }
  cert apiserver "/CN=kube-apiserver" \
    "IP:$NODE_IP,IP:$API_SVC_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" serverAuth
  cert admin "/O=system:masters/CN=wattson-admin"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kube-proxy "/CN=system:kube-proxy"
  # RBAC in hack/cluster/netpol.yaml.
  cert kube-router "/CN=wattson-cluster:kube-router"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert etcd-server "/CN=wattson-etcd" "IP:127.0.0.1" serverAuth,clientAuth etcd-ca
  cert etcd-peer "/CN=wattson-etcd" "IP:127.0.0.1" serverAuth,clientAuth etcd-ca
  cert apiserver-etcd-client "/CN=kube-apiserver-etcd-client" "" clientAuth etcd-ca
  if [[ ! -f sa.pub ]]; then
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  fi
  chmod 600 ./*.key
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
      server: https://$NODE_IP:$API_PORT
      certificate-authority-data: $(base64 -w0 "$p/ca.crt")
users:
  - name: $2
    user:
      client-certificate-data: $(base64 -w0 "$p/$2.crt")
      client-key-data: $(base64 -w0 "$p/$2.key")
contexts:
  - name: wattson-cluster
    context: {cluster: wattson, user: $2}
current-context: wattson-cluster
KC
  chmod 600 "$DIR/$1"
}

containerd_config() {
  local c=$DIR/containerd
  mkdir -p "$c/root" "$c/state" "$DIR/cni" "$DIR/cni-cache"
  # ptp: a veth per pod into the node's namespace, a /32 route to it there; the pod's only route
  # is the cluster's range (no default route). host-local keeps its leases in the state dir.
  cat >"$DIR/cni/10-wattson.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "wattson", "plugins": [
  {"type": "ptp", "mtu": 1500, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$DIR/cni-ipam",
            "ranges": [[{"subnet": "$NODE_POD_CIDR"}]], "routes": [{"dst": "$RANGE"}]}}
]}
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
address: $NODE_IP
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
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
# The host's resolver is never handed to a pod: ClusterFirst pods get CoreDNS only.
resolvConf: ""
staticPodPath: ""
podLogsDir: $DIR/pod-logs
serializeImagePulls: false
containerRuntimeEndpoint: unix://$DIR/containerd/containerd.sock
KCFG
}

kube_proxy_config() {
  mkdir -p "$DIR/kube-proxy"
  # Rewritten only when it changes: kube-proxy exits when its configuration file does.
  cat >"$DIR/kube-proxy/config.yaml.new" <<KP
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nodePortAddresses: [$NODE_IP/32]
# conntrack's limits are the host's, not the namespace's: leave them.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
KP
  if cmp -s "$DIR/kube-proxy/config.yaml.new" "$DIR/kube-proxy/config.yaml"; then
    rm "$DIR/kube-proxy/config.yaml.new"
  else
    mv "$DIR/kube-proxy/config.yaml.new" "$DIR/kube-proxy/config.yaml"
  fi
}

etcdctl_health() {
  local p=$DIR/pki
  inns curl -sf --cacert "$p/etcd-ca.crt" --cert "$p/apiserver-etcd-client.crt" --key "$p/apiserver-etcd-client.key" "$ETCD/health"
}

up() {
  need_root; need_bins
  mkdir -p "$DIR/logs" "$DIR/run"
  if [[ ! -f $DIR/host-paths ]]; then
    local h; for h in $HOST_PATHS; do [[ -e $h ]] && echo "$h"; done >"$DIR/host-paths"
    sysctl -n net.ipv4.ip_forward >"$DIR/host-ip-forward"
  fi
  storage_config
  pki
  kubeconfig kubeconfig admin
  kubeconfig controller-manager.kubeconfig controller-manager
  kubeconfig scheduler.kubeconfig scheduler
  kubeconfig kubelet.kubeconfig kubelet
  kubeconfig kube-proxy.kubeconfig kube-proxy
  kubeconfig kube-router.kubeconfig kube-router
  log "network namespace $NETNS, veth $HOST_IF $HOST_IP <-> $NODE_IP, route $RANGE"
  net_up

  local p=$DIR/pki
  log "etcd on $ETCD (in $NETNS; TLS, client certificates of its own CA)"
  start etcd "$BIN/etcd" --name wattson --data-dir "$DIR/etcd" \
    --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
    --cert-file "$p/etcd-server.crt" --key-file "$p/etcd-server.key" \
    --client-cert-auth --trusted-ca-file "$p/etcd-ca.crt" \
    --listen-peer-urls https://127.0.0.1:2380 --initial-advertise-peer-urls https://127.0.0.1:2380 \
    --initial-cluster wattson=https://127.0.0.1:2380 \
    --peer-cert-file "$p/etcd-peer.crt" --peer-key-file "$p/etcd-peer.key" \
    --peer-client-cert-auth --peer-trusted-ca-file "$p/etcd-ca.crt" \
    --listen-metrics-urls "" --unsafe-no-fsync
  wait_for etcd 30 etcdctl_health

  log "kube-apiserver on $NODE_IP:$API_PORT"
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "$ETCD" --etcd-cafile "$p/etcd-ca.crt" \
    --etcd-certfile "$p/apiserver-etcd-client.crt" --etcd-keyfile "$p/apiserver-etcd-client.key" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
    --service-cluster-ip-range "$SVC_CIDR" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --client-ca-file "$p/ca.crt" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
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
    --allocate-node-cidrs --cluster-cidr "$POD_CIDR" --node-cidr-mask-size 24 --service-cluster-ip-range "$SVC_CIDR" \
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

  log "kubelet (node $NODE, $NODE_IP) and kube-proxy (nftables)"
  kubelet_config
  start kubelet "$BIN/kubelet" --config "$DIR/kubelet/config.yaml" \
    --kubeconfig "$DIR/kubelet.kubeconfig" --root-dir "$DIR/kubelet" \
    --hostname-override "$NODE" --node-ip "$NODE_IP" --cert-dir "$DIR/kubelet/pki"
  kube_proxy_config
  start kube-proxy "$BIN/kube-proxy" --config "$DIR/kube-proxy/config.yaml"
  wait_for "node registration" 60 "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" get node "$NODE"
  wait_for "node Ready" 120 "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" wait --for=condition=Ready "node/$NODE" --timeout=1s

  # Before any pod but the node's: no pod runs unfiltered.
  netpol_up

  local a=(ctr --address "$DIR/containerd/containerd.sock" -n k8s.io) need=() addons=(coredns)
  local img files=(-f "$ROOT/hack/cluster/addons.yaml")
  log "${addons[*]}"
  for img in "${addons[@]}"; do
    "${a[@]}" images ls -q | grep -q "^wattson.local/$img:" || need+=("$img")
  done
  ((${#need[@]} == 0)) || "$ROOT/hack/cluster/images.sh" "${need[@]}"
  "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" apply --server-side "${files[@]}" >/dev/null
  wait_for "${addons[*]}" 120 "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" -n kube-system \
    wait --for=condition=Ready pod -l wattson.dev/cluster-addon --timeout=1s
  # skaffold's global settings for this node: no telemetry or update checks (no internet here).
  printf 'global:\n  collect-metrics: false\n  update-check: false\n  survey:\n    disable-prompt: true\n' >"$DIR/skaffold-config.yaml"
  log "node $NODE Ready; for kubectl and skaffold:"
  echo "export KUBECONFIG=$KUBECONFIG_OUT DOCKER_HOST=unix://$DIR/run/podman.sock SKAFFOLD_CONFIG=$DIR/skaffold-config.yaml"
}

# netpol_up: kube-router's firewall controller in wattson-node (RBAC first: its informers must
# sync within a minute or it exits), up once its health port answers and its default policy chain
# exists. Without a kernel or iptables/ipset that can run it: a failure under CI=true (the e2e
# proves enforcement), a loud warning elsewhere.
netpol_up() {
  if ! can_enforce; then
    local why="iptables ($IPTABLES) with ipset sets, NFLOG and REJECT cannot be programmed in a network namespace here (hack/cluster/cluster.sh can-enforce): kube-router cannot enforce NetworkPolicies"
    [[ ${CI:-} == true ]] && die "$why; CI proves NetworkPolicies enforced, so up fails"
    log "WARNING: $why; NetworkPolicies are NOT enforced in this cluster"
    return 0
  fi
  "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" apply --server-side -f "$ROOT/hack/cluster/netpol.yaml" >/dev/null
  # kube-router runs `iptables`, `iptables-save`, `iptables-restore` and `ipset` from PATH: these
  # are the pinned flavour's (xtables-nft-multi picks its mode by the name it is called by).
  local b=$DIR/kube-router/bin t
  mkdir -p "$b"
  for t in "" -save -restore; do ln -sfn "$(command -v "$IPTABLES$t")" "$b/iptables$t"; done
  log "kube-router $("$BIN/kube-router" --version 2>&1 | grep -o 'v[0-9][0-9.]*' | head -n1) (firewall only: NetworkPolicies) with $IPTABLES and ipset"
  start kube-router env PATH="$b:$PATH" "$BIN/kube-router" \
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
    --enable-cni=false --enable-ipv4=true --enable-ipv6=false \
    --kubeconfig "$DIR/kube-router.kubeconfig" --hostname-override "$NODE" \
    --service-cluster-ip-range "$SVC_CIDR" --health-port "$KUBE_ROUTER_HEALTH" --metrics-port 0 --v=1
  wait_for kube-router 90 kube_router_ready
}

# kube_router_ready: its process runs, its health endpoint says every controller reported, and its
# first sync wrote the default policy chain.
kube_router_ready() {
  running kube-router &&
    inns curl -sf "http://127.0.0.1:$KUBE_ROUTER_HEALTH/healthz" &&
    inns "$IPTABLES" -t filter -S KUBE-NWPLCY-DEFAULT
}

# pids of every process of the cluster: the components we started, anything naming the state
# dir on its command line (containerd's shims do, by their -address), the shims' children, and
# anything left in the node's namespace.
cluster_pids() {
  local f pid
  for f in "$DIR"/run/*.pid; do
    [[ -f $f ]] || continue
    pid=$(cat "$f"); kill -0 "$pid" 2>/dev/null && echo "$pid"
  done
  pgrep -f -- "$DIR/" || true
  local shim
  for shim in $(pgrep -f "containerd-shim-runc-v2.*$DIR" 2>/dev/null); do
    pgrep -P "$shim" || true
  done
  [[ -e /run/netns/$NETNS ]] && ip netns pids "$NETNS" 2>/dev/null
  return 0
}

cluster_mounts() { awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r; }

cluster_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -d ${h}kubepods ]] && find "${h}kubepods" -depth -type d
  done
  return 0
}

cluster_netns() { ls /run/netns 2>/dev/null | grep -E "^(cni-|$NETNS\$)" || true; }

# host_net_left: the veth, the route and any nftables table of the cluster left on the host.
host_net_left() {
  ip link show "$HOST_IF" >/dev/null 2>&1 && echo "link $HOST_IF"
  ip route show "$RANGE" | grep -q . && echo "route $RANGE"
  ip -br link | awk '$1 ~ /^veth/ { print "link " $1 }'
  { nft list tables 2>/dev/null || true; } | awk '/kube-proxy|kube-network-policies|wattson/ { print "nftables " $0 }'
  # kube-router's chains and sets, had it ever run in the host's namespace (either iptables flavour;
  # the legacy one only where its filter table exists: listing it would create it).
  local t
  for t in iptables-nft-save iptables-legacy-save; do
    command -v "$t" >/dev/null || continue
    [[ $t == iptables-legacy-save ]] && ! grep -qx filter /proc/net/ip_tables_names 2>/dev/null && continue
    { "$t" -t filter 2>/dev/null || true; } | awk -v t="$t" '/^:(KUBE-ROUTER-|KUBE-POD-FW-|KUBE-NWPLCY-)/ { print t " chain " substr($1, 2) }'
  done
  if command -v ipset >/dev/null; then
    { ipset list -n 2>/dev/null || true; } | awk '/^(KUBE-SRC-|KUBE-DST-|kube-router)/ { print "ipset " $0 }'
  fi
  return 0
}

down() {
  need_root
  [[ -d $DIR ]] || { log "nothing to stop"; check; return; }
  local kc=(--kubeconfig "$KUBECONFIG_OUT" --request-timeout=10s)
  if running kube-apiserver && running kubelet; then
    log "deleting pods"
    "$BIN/kubectl" "${kc[@]}" delete pods --all-namespaces --all --grace-period=5 --wait=true --timeout=60s >/dev/null 2>&1 || true
  fi
  local name
  for name in kube-router kube-proxy kubelet kube-scheduler kube-controller-manager; do stop "$name"; done
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
  # The node's namespace takes the veth (both ends), its routes, its nftables tables and
  # kube-router's iptables chains and ipsets along.
  ip route del "$RANGE" 2>/dev/null || true
  local ns
  for ns in $(cluster_netns); do ip netns delete "$ns" 2>/dev/null || true; done
  ip link del "$HOST_IF" 2>/dev/null || true
  # kubelet links every container's log into /var/log/containers, whatever podLogsDir says.
  find /var/log/containers -maxdepth 1 -type l -lname "$DIR/*" -delete 2>/dev/null || true
  local h before=""
  if [[ -f $DIR/host-paths ]]; then
    before=$(cat "$DIR/host-paths")
    for h in $HOST_PATHS; do
      grep -qx "$h" <<<"$before" && continue
      # `ip netns add` makes /run/netns a mount point of its own.
      if [[ $h == /run/netns ]] && mountpoint -q /run/netns; then umount /run/netns 2>/dev/null || true; fi
      rm -rf "$h"
    done
  else
    log "no record of the host paths that existed before up: leaving them for check to report"
    before=$(tr " " "\n" <<<"$HOST_PATHS")
  fi
  HOST_BEFORE=$before
  HOST_FORWARD_BEFORE=$(cat "$DIR/host-ip-forward" 2>/dev/null || sysctl -n net.ipv4.ip_forward)
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
  local pids mounts cgroups netns hostnet
  pids=$( { pgrep -f -- "$DIR/" || true; pgrep -f "containerd-shim-runc-v2.*$DIR" || true; } | sort -u | tr '\n' ' ')
  mounts=$( { cluster_mounts; awk -v ns="$NETNS" '$5 ~ "^/run/netns/(cni-|" ns "$)" { print $5 }' /proc/self/mountinfo; } | tr '\n' ' ')
  cgroups=$(cluster_cgroups | tr '\n' ' ')
  netns=$(cluster_netns | tr '\n' ' ')
  hostnet=$(host_net_left | tr '\n' ',')
  [[ -z ${pids// } ]] || left+=("processes: $pids")
  [[ -z ${mounts// } ]] || left+=("mounts: $mounts")
  [[ -z ${cgroups// } ]] || left+=("cgroups: $cgroups")
  [[ -z ${netns// } ]] || left+=("network namespaces: $netns")
  [[ -z ${hostnet// } ]] || left+=("host network: $hostnet")
  local fwd_before=${HOST_FORWARD_BEFORE-$(cat "$DIR/host-ip-forward" 2>/dev/null || echo "")}
  if [[ -n $fwd_before && $(sysctl -n net.ipv4.ip_forward) != "$fwd_before" ]]; then
    left+=("host net.ipv4.ip_forward changed: was $fwd_before, now $(sysctl -n net.ipv4.ip_forward)")
  fi
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
  log "check: no process, mount, cgroup, network namespace, veth, route, nftables table, iptables chain, ipset or host path of the cluster is left"
}

# census: every network namespace a process of the cluster is in, with its routes (all tables),
# and the egress guard's count of packets that would have left the node. Exits 1 if a namespace
# has a route outside the cluster's range and loopback, or the guard counted anything.
census() {
  local bad=0 seen="" pid ns
  for pid in $(cluster_pids | sort -u); do
    ns=$(readlink "/proc/$pid/ns/net" 2>/dev/null) || continue
    [[ " $seen " == *" $ns "* ]] && continue
    seen+=" $ns"
    local routes
    routes=$(nsenter --net="/proc/$pid/ns/net" -- ip -4 route show table all 2>/dev/null | grep -v '^local \|^broadcast \|^multicast ' || true)
    routes+=$'\n'$(nsenter --net="/proc/$pid/ns/net" -- ip -6 route show table all 2>/dev/null | grep -v '^local \|^multicast \|^anycast \|^fe80::/64 \|^ff00::/8 ' || true)
    local r
    while read -r r; do
      [[ -z $r ]] && continue
      case $r in
        198.18.* | 198.19.* | 127.* | "::1 "*) ;;
        *) echo "$ns (pid $pid $(cat /proc/$pid/comm)): route off the cluster: $r"; bad=1 ;;
      esac
    done <<<"$routes"
  done
  local n
  n=$(inns nft list counter inet wattson-egress escaped 2>/dev/null | awk '/packets/ { print $2 }')
  echo "network namespaces: $(wc -w <<<"$seen"); packets dropped leaving the node: ${n:-?}"
  [[ ${n:-x} == 0 ]] || bad=1
  return $bad
}

# can_enforce: whether kube-router's firewall can program this kernel: an ipset and each iptables
# match and target its rules use (set, physdev, addrtype, conntrack, mark, limit, multiport,
# comment; NFLOG, REJECT, MARK), tried for real in a throwaway network namespace with the pinned
# iptables flavour, rather than read from /proc/config.gz, which may be absent.
can_enforce() {
  command -v ipset >/dev/null && command -v "$IPTABLES" >/dev/null || return 1
  local ns=wattson-iptprobe-$$ ok=1
  ip netns add "$ns" || return 1
  if ip netns exec "$ns" bash -ec "
    ipset create probe hash:ip timeout 0
    ipset add probe 198.18.0.2
    $IPTABLES -N probe
    $IPTABLES -I FORWARD 1 -m comment --comment probe -j probe
    $IPTABLES -A probe -m physdev --physdev-is-bridged -d 198.18.0.3 -j RETURN
    $IPTABLES -A probe -p tcp -m set --match-set probe src -m multiport --dports 1:2 -j MARK --set-mark 0x10000/0x10000
    $IPTABLES -A probe -m mark ! --mark 0x10000/0x10000 -m limit --limit 10/minute -j NFLOG --nflog-group 100
    $IPTABLES -A probe -m conntrack --ctstate INVALID -j DROP
    $IPTABLES -A probe -m addrtype --src-type LOCAL -d 198.18.0.3 -j ACCEPT
    $IPTABLES -A probe -m mark ! --mark 0x10000/0x10000 -j REJECT" >/dev/null 2>&1; then ok=0; fi
  ip netns del "$ns"
  return $ok
}

status() {
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler containerd podman kubelet kube-proxy kube-router; do
    if running "$name"; then echo "$name: running (pid $(cat "$DIR/run/$name.pid"))"; else echo "$name: stopped"; fi
  done
  [[ -f $KUBECONFIG_OUT ]] && echo "kubeconfig: $KUBECONFIG_OUT"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  check) check ;;
  census) census ;;
  status) status ;;
  can-enforce) can_enforce ;;
  *) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
