#!/usr/bin/env bash
# netpol-smoke.sh: the kit's NetworkPolicies (monitoring/network-policies, its monitoring/ part
# and the simulator's, rendered by kustomize as users apply them; the cluster kit's PostgreSQL's and
# progressive delivery's) enforced by the test cluster's
# enforcer, kube-router's firewall (hack/cluster/cluster.sh runs the same binary with the same
# flags), against a real etcd and kube-apiserver, in about twenty seconds and without the node:
# "pods" are network namespaces with the kit's labels and named ports, each serving HTTP on its
# ports (busybox httpd) and, for the simulator, the real SNMP agent (wattson-snmpsim) on UDP 1161.
# Every probe (netprobe, HTTP or an SNMP GET) is checked against what the policies say, then one
# policy added for the probe's namespace opens the exporter to it and removing it closes it again.
# `make cluster-e2e` proves the same on the real node with the kit's real pods; this one is quick
# and tells a broken enforcer from a broken kit.
#
# Its namespaces (wattson-npsmoke-*) hold everything, addresses included (198.18.0.0/24 and the
# apiserver on 198.19.255.2 inside them, with no route to or from the host): it needs no cluster
# and no lock, and leaves nothing (checked at the end).
#
# Usage (as root): hack/cluster/netpol-smoke.sh    (make netpol-smoke)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
P=wattson-npsmoke
NODE=$P-node
WORK=$(mktemp -d /tmp/$P.XXXXXX)
PODS="exporter runtime operator snmpsim postgres prometheus alertmanager promop argo probe"
IPTABLES=iptables-nft

log() { printf '%s netpol-smoke: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (network namespaces, iptables)"
for b in etcd kube-apiserver kubectl kube-router; do
  [[ -x $BIN/$b ]] || die "$BIN/$b missing; run: make tools && hack/tools.sh kube-router"
done
for b in busybox ipset $IPTABLES curl; do command -v "$b" >/dev/null || die "$b not found; run: apt-get install -y busybox-static ipset iptables curl"; done

netns_all() { echo "$NODE"; for p in $PODS; do echo "$P-$p"; done; }
# cleanup: every process in the smoke test's namespaces (what `bg` started is a subshell whose
# child is the server), then the namespaces and the work dir.
cleanup() {
  local ns sig
  for sig in TERM KILL; do
    for ns in $(netns_all); do
      [[ -e /run/netns/$ns ]] && ip netns pids "$ns" | xargs -r kill "-$sig" 2>/dev/null || true
    done
    [[ $sig == TERM ]] && sleep 1
  done
  for ns in $(netns_all); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
# bgns NS CMD...: CMD in the background in namespace NS (ip execs it: no shell in between).
bgns() { local ns=$1; shift; ip netns exec "$ns" "$@" & disown; }
inns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

log "building netprobe and the simulator"
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/netprobe" ./hack/cluster/netprobe && CGO_ENABLED=0 go build -o "$WORK/snmpsim" ./mocks)

# The node: a namespace with the apiserver's address; each pod a namespace with a veth into it,
# routed as Debian's ptp plugin routes them (a /32 per pod, the gateway 198.18.0.1 on each veth).
ip netns add "$NODE"
inns "$NODE" ip link set lo up
inns "$NODE" sysctl -qw net.ipv4.ip_forward=1
inns "$NODE" ip link add eth0 type veth peer name eth1
inns "$NODE" ip addr add 198.19.255.2/30 dev eth0
inns "$NODE" ip link set eth0 up
inns "$NODE" ip link set eth1 up
declare -A IP
i=10
for p in $PODS; do
  ip netns add "$P-$p"
  inns "$P-$p" ip link set lo up
  ip link add "v$p" netns "$NODE" type veth peer name eth0 netns "$P-$p"
  inns "$NODE" ip addr add 198.18.0.1/32 dev "v$p"
  inns "$NODE" ip link set "v$p" up
  inns "$NODE" ip route add "198.18.0.$i/32" dev "v$p"
  inns "$P-$p" ip addr add "198.18.0.$i/24" dev eth0
  inns "$P-$p" ip link set eth0 up
  inns "$P-$p" ip route replace 198.18.0.0/24 via 198.18.0.1 dev eth0 onlink
  IP[$p]=198.18.0.$i
  i=$((i + 1))
done

log "etcd and kube-apiserver (in $NODE)"
mkdir -p "$WORK/pki"
printf 'admin-%s,admin,admin,system:masters\nrouter-%s,wattson-cluster:kube-router,router\n' "$$" "$$" >"$WORK/pki/tokens"
openssl genrsa -out "$WORK/pki/sa.key" 2048 2>/dev/null
bgns "$NODE" "$BIN/etcd" --data-dir "$WORK/etcd" --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster default=http://127.0.0.1:2380 \
  --listen-metrics-urls "" --unsafe-no-fsync >"$WORK/etcd.log" 2>&1
# No controllers run: no ServiceAccount admission (no default ServiceAccounts to find).
bgns "$NODE" "$BIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 --bind-address 198.19.255.2 --advertise-address 198.19.255.2 \
  --secure-port 6443 --service-cluster-ip-range 198.19.0.0/24 --cert-dir "$WORK/pki" --token-auth-file "$WORK/pki/tokens" \
  --authorization-mode RBAC --disable-admission-plugins ServiceAccount --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$WORK/pki/sa.key" --service-account-signing-key-file "$WORK/pki/sa.key" >"$WORK/apiserver.log" 2>&1
kubeconfig() {
  printf 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://198.19.255.2:6443", certificate-authority: %s}}]\nusers: [{name: u, user: {token: %s}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n' \
    "$WORK/pki/apiserver.crt" "$1"
}
k() { inns "$NODE" "$BIN/kubectl" --kubeconfig "$WORK/admin.kubeconfig" "$@"; }
kubeconfig "admin-$$" >"$WORK/admin.kubeconfig"
kubeconfig "router-$$" >"$WORK/router.kubeconfig"
for i in $(seq 120); do k get --raw /readyz >/dev/null 2>&1 && break; sleep 0.5; done
k get --raw /readyz >/dev/null || { tail -n 20 "$WORK/apiserver.log" >&2; die "kube-apiserver not ready"; }

k apply --server-side -f "$ROOT/hack/cluster/netpol.yaml" >/dev/null
for ns in wattson-system wattson-monitoring wattson-np-probe argo-rollouts; do k create namespace "$ns" >/dev/null; done
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: npsmoke}
YAML
k patch node npsmoke --subresource=status --type=merge -p '{"status":{"addresses":[{"type":"InternalIP","address":"198.19.255.2"}]}}' >/dev/null
# pod NAME NAMESPACE LABELS PORTS: a running pod on the node with NAME's address (no kubelet: the
# status is written as a kubelet would).
pod() {
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $2, labels: {$3}}
spec:
  nodeName: npsmoke
  containers: [{name: c, image: none, ports: $4}]
YAML
  k -n "$2" patch pod "$1" --subresource=status --type=merge \
    -p "{\"status\":{\"phase\":\"Running\",\"hostIP\":\"198.19.255.2\",\"podIP\":\"${IP[$1]}\",\"podIPs\":[{\"ip\":\"${IP[$1]}\"}]}}" >/dev/null
}
# The kit's labels and port names (the policies select by them).
pod exporter wattson-system "app.kubernetes.io/name: wattson-snmp-exporter" '[{name: http, containerPort: 9116}]'
pod runtime wattson-system "app.kubernetes.io/name: wattson-suite" '[{name: assert, containerPort: 9464}]'
pod operator wattson-system "app.kubernetes.io/name: wattson-operator" '[{name: metrics, containerPort: 8443}, {name: upload, containerPort: 8082}]'
pod postgres wattson-system "app.kubernetes.io/name: wattson-postgres" '[{name: postgres, containerPort: 5432}]'
pod snmpsim wattson-system "app.kubernetes.io/name: wattson-snmpsim" '[{name: snmp, containerPort: 1161, protocol: UDP}, {name: http, containerPort: 8161}]'
pod prometheus wattson-monitoring "app.kubernetes.io/name: prometheus, prometheus: wattson" '[{name: web, containerPort: 9090}, {name: reloader-web, containerPort: 8080}]'
pod alertmanager wattson-monitoring "app.kubernetes.io/name: alertmanager, alertmanager: wattson" '[{name: web, containerPort: 9093}, {name: reloader-web, containerPort: 8080}]'
pod promop wattson-monitoring "app.kubernetes.io/name: prometheus-operator" '[{name: http, containerPort: 8080}]'
pod argo argo-rollouts "app.kubernetes.io/name: argo-rollouts" '[]'
pod probe wattson-np-probe "app.kubernetes.io/name: probe" '[]'

log "the kit's NetworkPolicies (kustomize, as users apply them)"
for kz in monitoring/network-policies monitoring/network-policies/monitoring monitoring/overlays/local/simulator; do
  "$BIN/kubectl" kustomize "$ROOT/$kz" >"$WORK/policies.yaml"
  k apply -f "$WORK/policies.yaml" >/dev/null
done
# The cluster kit's PostgreSQL for the Suite's shared history brings its own; progressive delivery
# opens Prometheus to Argo Rollouts and Flagger.
k apply -f "$ROOT/hack/cluster/kit/postgres.yaml" >/dev/null
k apply -f "$ROOT/monitoring/progressive-delivery/network-policy.yaml" >/dev/null
log "$(k get networkpolicies -A --no-headers | wc -l) NetworkPolicies"

log "kube-router (firewall only), as hack/cluster/cluster.sh runs it"
mkdir -p "$WORK/iptables"
for t in "" -save -restore; do ln -sfn "$(command -v "$IPTABLES$t")" "$WORK/iptables/iptables$t"; done
bgns "$NODE" env PATH="$WORK/iptables:$PATH" "$BIN/kube-router" \
  --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
  --enable-cni=false --enable-ipv4=true --enable-ipv6=false \
  --kubeconfig "$WORK/router.kubeconfig" --hostname-override npsmoke \
  --service-cluster-ip-range 198.19.0.0/24 --health-port 20244 --metrics-port 0 --v=1 >"$WORK/kube-router.log" 2>&1
start=$SECONDS
until inns "$NODE" curl -sf http://127.0.0.1:20244/healthz >/dev/null 2>&1 && inns "$NODE" "$IPTABLES" -t filter -S KUBE-NWPLCY-DEFAULT >/dev/null 2>&1; do
  ((SECONDS - start < 60)) || { tail -n 30 "$WORK/kube-router.log" >&2; die "kube-router not ready after 60s"; }
  sleep 0.5
done
log "kube-router ready in $((SECONDS - start))s"

mkdir -p "$WORK/www"
echo ok >"$WORK/www/index.html"
serve() { bgns "$P-$1" busybox httpd -f -p "$2" -h "$WORK/www"; }
serve exporter 9116; serve runtime 9464; serve operator 8443; serve operator 8082; serve snmpsim 8161; serve postgres 5432
serve prometheus 9090; serve prometheus 8080; serve alertmanager 9093; serve alertmanager 8080; serve promop 8080
bgns "$P-snmpsim" "$WORK/snmpsim" --data-dir="$ROOT/mocks/data" --agent-udpv4-endpoint=0.0.0.0:1161 --web.listen-address=127.0.0.1:18161 >"$WORK/snmpsim.log" 2>&1
sleep 1

pass=0 fail=0
# probe FROM TO PORT WANT [snmp]: one request from pod FROM to pod TO.
probe() {
  local out rc=0 got=error mark=ok
  if [[ ${5:-} == snmp ]]; then
    out=$(inns "$P-$1" "$WORK/netprobe" -snmp apc-rpdu2 "${IP[$2]}:$3" 2>&1) || rc=$?
  elif [[ ${5:-} == tcp ]]; then
    out=$(inns "$P-$1" "$WORK/netprobe" -tcp "${IP[$2]}:$3" 2>&1) || rc=$?
  else
    out=$(inns "$P-$1" "$WORK/netprobe" "http://${IP[$2]}:$3/" 2>&1) || rc=$?
  fi
  case $rc in 0) got=allowed ;; 2) got=refused ;; esac
  if [[ $got == "$4" ]]; then pass=$((pass + 1)); else mark=FAIL; fail=$((fail + 1)); fi
  printf '%-4s  %-12s -> %-12s %-4s %-4s  expected %-7s  observed %-7s  %s\n' "$mark" "$1" "$2" "$3" "${5:-tcp}" "$4" "$got" "$(head -c 100 <<<"$out" | tr '\n' ' ')"
}
echo "      source       -> destination  port       expected          observed"
# A pod in another namespace: refused everywhere.
for d in "exporter 9116" "runtime 9464" "operator 8443" "operator 8082" "snmpsim 8161" "prometheus 9090" \
  "prometheus 8080" "alertmanager 9093" "alertmanager 8080" "promop 8080"; do
  # shellcheck disable=SC2086
  probe probe $d refused
done
probe probe snmpsim 1161 refused snmp
probe probe postgres 5432 refused tcp
# Prometheus scrapes everything but the upload page; SNMP is the exporter's.
probe prometheus exporter 9116 allowed; probe prometheus runtime 9464 allowed; probe prometheus operator 8443 allowed
probe prometheus operator 8082 refused; probe prometheus snmpsim 8161 allowed; probe prometheus alertmanager 9093 allowed
probe prometheus alertmanager 8080 allowed; probe prometheus promop 8080 allowed; probe prometheus snmpsim 1161 refused snmp
probe prometheus postgres 5432 refused tcp
# The runtime queries Prometheus and Alertmanager, drives the simulator and keeps its history in
# PostgreSQL; nothing else.
probe runtime prometheus 9090 allowed; probe runtime alertmanager 9093 allowed; probe runtime snmpsim 8161 allowed
probe runtime postgres 5432 allowed tcp
probe runtime exporter 9116 refused; probe runtime operator 8082 refused; probe runtime snmpsim 1161 refused snmp
# The operator reads Prometheus and each Suite's runtime (history, reruns); nothing else.
probe operator prometheus 9090 allowed; probe operator runtime 9464 allowed; probe operator alertmanager 9093 refused
probe operator snmpsim 8161 refused; probe operator exporter 9116 refused; probe operator postgres 5432 refused tcp
# snmp_exporter polls the simulator's agent; nothing else.
probe exporter snmpsim 1161 allowed snmp; probe exporter snmpsim 8161 refused; probe exporter runtime 9464 refused
# Argo Rollouts' controller queries Prometheus (analysis); nothing else.
probe argo prometheus 9090 allowed; probe argo alertmanager 9093 refused; probe argo exporter 9116 refused
# Nobody else queries Prometheus.
probe alertmanager prometheus 9090 refused; probe promop prometheus 9090 refused

# Control: a policy for the probe's namespace opens the exporter; removing it closes it again.
flip() { # WANT: poll the probe -> exporter until it is WANT, print how long it took
  local t0 rc
  t0=$(date +%s%N)
  for _ in $(seq 100); do
    rc=0; inns "$P-probe" "$WORK/netprobe" "http://${IP[exporter]}:9116/" >/dev/null 2>&1 || rc=$?
    { [[ $1 == allowed && $rc == 0 ]] || [[ $1 == refused && $rc == 2 ]]; } && break
    sleep 0.1
  done
  echo "$(( ($(date +%s%N) - t0) / 1000000 ))ms"
}
k apply -f - >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: wattson-smoke-allow-probe, namespace: wattson-system}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: wattson-snmp-exporter}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: wattson-np-probe}}}], ports: [{port: http, protocol: TCP}]}]
YAML
log "policy for wattson-np-probe added: open after $(flip allowed)"
probe probe exporter 9116 allowed
k -n wattson-system delete networkpolicy wattson-smoke-allow-probe >/dev/null
log "policy removed: closed after $(flip refused)"
probe probe exporter 9116 refused

if grep -E '^[EF][0-9]{4}' "$WORK/kube-router.log" | grep -v 'Health controller error: http: Server closed' >&2; then
  log "kube-router logged errors (above)"
  fail=$((fail + 1))
fi
log "$pass as the policies say, $fail not"
trap - EXIT
cleanup
left=$(ip netns list | grep -c "^$P-" || true)
((left == 0)) || die "$left network namespaces of the smoke test left"
if pgrep -f -- "$WORK/" >/dev/null; then die "processes of the smoke test left: $(pgrep -f -- "$WORK/" | tr '\n' ' ')"; fi
((fail == 0))
