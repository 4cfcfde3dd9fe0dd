#!/bin/sh
# ldflags.sh prints the -ldflags that stamp a Wattson binary's build into prometheus/common/version
# (what --version prints and wattson_build_info is labelled with). `make build` and the Dockerfile
# both use it, so a binary built either way reports the same thing.
#
# Each value comes from the environment if set (the Dockerfile's build args: its context has no
# .git), else from git: VERSION is the tag (v0.1.0) or the commit (2f29043, -dirty when the tree
# has changes), REVISION the full commit, BRANCH the branch, BUILD_DATE the commit's time (so two
# builds of one commit are identical), BUILD_USER user@host.
set -eu
cd "$(dirname "$0")/.."
git_() { git "$@" 2>/dev/null || true; }
VERSION=${VERSION:-$(git_ describe --tags --always --dirty)}
REVISION=${REVISION:-$(git_ rev-parse HEAD)}
BRANCH=${BRANCH:-$(git_ rev-parse --abbrev-ref HEAD)}
BUILD_DATE=${BUILD_DATE:-$(git_ log -1 --format=%cd --date=format:%Y%m%d-%H:%M:%S)}
BUILD_USER=${BUILD_USER:-$(id -un 2>/dev/null || echo unknown)@$(hostname 2>/dev/null || echo unknown)}
p=github.com/prometheus/common/version
printf -- '-X %s.Version=%s -X %s.Revision=%s -X %s.Branch=%s -X %s.BuildUser=%s -X %s.BuildDate=%s\n' \
  "$p" "${VERSION:-devel}" "$p" "${REVISION:-unknown}" "$p" "${BRANCH:-unknown}" "$p" "$BUILD_USER" "$p" "${BUILD_DATE:-unknown}"
