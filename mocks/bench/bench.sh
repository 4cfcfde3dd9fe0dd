#!/usr/bin/env bash
# Benchmarks the SNMP simulator against net-snmp's snmpd on this machine and
# prints the figures side by side (see mocks/README.md, "Performance").
# Run from anywhere; `make bench` calls it. Extra arguments go to the
# benchmark program (e.g. --duration=10s --concurrency=8 --phases=latency).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
fixture="${WATTSON_PX3_FIXTURE:-../shared/fixtures/snmprec/raritan-pdu_px3.snmprec}"
if [[ ! -f "$fixture" ]]; then
	echo "bench.sh: $fixture not found (the shared fixtures are absent)" >&2
	exit 1
fi
snmpd="$(command -v snmpd || true)"
[[ -z "$snmpd" && -x /usr/sbin/snmpd ]] && snmpd=/usr/sbin/snmpd
if [[ -z "$snmpd" ]]; then
	echo "bench.sh: snmpd not found (apt-get install snmpd); measuring the simulator alone" >&2
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/wattson-snmpsim" ./mocks
go build -o "$tmp/bench" ./mocks/internal/bench
echo "== go test -bench (in-process, no network)"
go test -run '^$' -bench . -benchmem ./mocks/internal/agent/
echo
echo "== over UDP on 127.0.0.1"
"$tmp/bench" --sim "$tmp/wattson-snmpsim" --fixture "$fixture" --snmpd "$snmpd" "$@"
