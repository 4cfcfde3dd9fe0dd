#!/usr/bin/env bash
# Runs every Fuzz* target of the module for FUZZTIME each (default 30s), one after another.
# A crash makes go test write the failing input under the package's testdata/fuzz/FuzzName/;
# this script keeps it there, prints its path and content, and exits 1 once every target ran.
# Commit a kept input (after fixing the bug): it then runs as a regression test in `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
GO=${GO:-go}
# Minimising each new interesting input may take 60s by default; keep runs bounded.
MINIMIZE=${FUZZMINIMIZETIME:-5s}

mapfile -t targets < <(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(' -- '*_test.go' |
  sed -E 's#^(.*)/[^/]*_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' | sort -u)
if [ ${#targets[@]} -eq 0 ]; then echo "fuzz: no Fuzz targets"; exit 0; fi

before=$(mktemp)
trap 'rm -f "$before"' EXIT
git ls-files --others --exclude-standard -- '*/testdata/fuzz/*' | sort >"$before"
failed=()
start=$SECONDS
for t in "${targets[@]}"; do
  dir=${t% *} name=${t#* }
  echo "fuzz: $dir $name for $FUZZTIME"
  if ! $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$MINIMIZE" -parallel 2 "./$dir"; then
    failed+=("$dir $name")
  fi
done
echo "fuzz: ${#targets[@]} targets in $((SECONDS - start))s"
new=$(git ls-files --others --exclude-standard -- '*/testdata/fuzz/*' | sort | comm -13 "$before" -)
if [ -n "$new" ]; then
  echo "fuzz: new failing inputs (kept; fix the bug, then commit them as regression tests):"
  for f in $new; do
    echo "--- $f"
    cat "$f"
  done
fi
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAILED %s\n' "${failed[@]}"
  exit 1
fi
