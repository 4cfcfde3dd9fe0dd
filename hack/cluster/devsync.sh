#!/usr/bin/env bash
# devsync.sh is the host half of `skaffold dev` on the test cluster (skaffold.yaml's cluster-dev
# profile): it compiles the spec suite here, with this machine's warm Go build cache, and copies
# the binary and its sha256 into the dev runtime's /suite, where the runtime
# (--dev.watch-binary=/suite/specs.test) installs it once it is whole and reruns. The pod has no
# Go toolchain and compiles nothing.
#
# skaffold runs it as the dev image's before-sync hook whenever a spec source (specs/**/*.go) is
# saved; images.sh runs `--build` for the dev image's first suite.
#
# Usage:
#   hack/cluster/devsync.sh               compile and copy into the runtime pod (KUBECONFIG from the environment)
#   hack/cluster/devsync.sh --build DIR   compile into DIR/specs.test and DIR/specs.test.sha256 only
#
# A spec that does not compile is printed and the runtime keeps its last suite; skaffold dev goes
# on watching (the hook exits 0, so that one typo does not end the session).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
NAMESPACE=${WATTSON_DEV_NAMESPACE:-wattson-system}
log() { printf '%s devsync: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# build DIR: the suite as the images have it (static, -trimpath: the same compile cache as `make
# build` and images.sh), without symbol tables (-s -w: a faster link and a smaller copy).
build() {
  local dir=$1
  mkdir -p "$dir"
  (cd "$ROOT" && CGO_ENABLED=0 go test -c -trimpath -ldflags "-s -w" -o "$dir/specs.test.new" ./specs)
  mv -f "$dir/specs.test.new" "$dir/specs.test"
  (cd "$dir" && sha256sum specs.test >specs.test.sha256)
}

if [[ ${1:-} == --build ]]; then
  [[ $# == 2 ]] || { log "usage: devsync.sh --build DIR"; exit 2; }
  build "$2"
  exit 0
fi

start=$(date +%s.%N)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! out=$(build "$tmp" 2>&1); then
  log "the specs do not compile; the runtime keeps running its last suite:"
  printf '%s\n' "$out" >&2
  exit 0
fi
built=$(date +%s.%N)
# The saved spec files (skaffold's SKAFFOLD_FILES_ADDED_OR_MODIFIED: paths, absolute or relative
# to the workspace, ';' between them) whose specs the runtime runs first, before the whole suite:
# the spec you edit answers in seconds. Only the suite's own files (specs/*_test.go) focus; a
# change elsewhere (a helper package) is the whole suite's.
focus=()
IFS=';' read -r -a saved <<<"${SKAFFOLD_FILES_ADDED_OR_MODIFIED:-}"
for f in "${saved[@]}"; do
  f=${f#"$ROOT"/}
  f=${f#./}
  [[ $f == specs/*_test.go && $f != specs/*/* ]] || { focus=(); break; }
  focus+=("${f#specs/}")
done
{
  echo "sha256 $(cut -d' ' -f1 "$tmp/specs.test.sha256")"
  if [[ ${#focus[@]} -gt 0 ]]; then printf '%s\n' "${focus[@]}"; fi
} >"$tmp/specs.test.focus"
ctx=()
[[ -n ${SKAFFOLD_KUBE_CONTEXT:-} ]] && ctx=(--context "$SKAFFOLD_KUBE_CONTEXT")
# The focus, the binary, then its digest: the runtime waits until the binary and the digest
# are there and agree, and takes the focus only if it names that digest.
tar -C "$tmp" -cf - specs.test.focus specs.test specs.test.sha256 |
  "$BIN/kubectl" "${ctx[@]}" -n "$NAMESPACE" exec -i deploy/wattson-runtime -c runtime -- tar -xf - -C /suite
done_=$(date +%s.%N)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
log "suite compiled in $(secs "$start" "$built")s, copied into deploy/wattson-runtime:/suite in $(secs "$built" "$done_")s ($(du -h "$tmp/specs.test" | cut -f1), sha256 $(cut -c1-12 "$tmp/specs.test.sha256"), focus: ${focus[*]:-none, the whole suite; saved: ${SKAFFOLD_FILES_ADDED_OR_MODIFIED:-?}})"
# The runs' results, printed from here: skaffold dev drops the pods' log lines while a dev-loop
# iteration (this hook included) is in progress (LogAggregator.Mute), and the focused run of a
# small file, or a passing whole suite, ends within that window, so its line would never reach you.
since=$(date -u -d "@${start%.*}" +%Y-%m-%dT%H:%M:%SZ)
# await TRIES PATTERN [FIXED]: log the runtime's last line since the hook started that matches,
# polling every 0.2 s, TRIES times at most.
await() {
  local line
  for _ in $(seq "$1"); do
    line=$("$BIN/kubectl" "${ctx[@]}" -n "$NAMESPACE" logs deploy/wattson-runtime -c runtime --since-time="$since" 2>/dev/null |
      grep -E "$2" | grep -F -- "${3:-}" | tail -1 || true)
    if [[ -n $line ]]; then
      log "$line"
      return 0
    fi
    sleep 0.2
  done
  return 1
}
# The focused run: up to a minute.
if [[ ${#focus[@]} -gt 0 ]]; then
  await 300 'msg="focused run (passed|failed|error)"' "focus=${focus[0]}" ||
    log "no focused run of ${focus[*]} in the runtime's log within a minute: kubectl -n $NAMESPACE logs deploy/wattson-runtime -c runtime"
fi
# The whole suite's run comes next: up to 5 s here; a longer run ends after this hook, when
# skaffold streams the runtime's log again.
await 25 'msg="run (passed|failed|error)".*trigger=change' || true
