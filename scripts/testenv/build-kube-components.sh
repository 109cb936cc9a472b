#!/usr/bin/env bash
# Build kube-scheduler and kube-controller-manager (for the end-to-end tests' real member clusters) from
# the same k8s.io/kubernetes release and wrapper module as kube-apiserver, cached OUTSIDE the repository.
#
#   scripts/testenv/build-kube-components.sh            # prints the directory holding both on stdout
#   scripts/testenv/build-kube-components.sh --check    # only report: exit 3 if they are not built yet
#
# Environment: as build-kube-apiserver.sh (BURSTD_KUBE_VERSION, BURSTD_TESTENV_CACHE,
# BURSTD_TESTENV_REBUILD, GO). The binaries land beside kube-apiserver in <cache>/<version>/ (the same
# per-version build lock); they are rebuilt only when the version changes. With a warm Go build cache
# (after kube-apiserver) most packages are shared and the build is short.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/testenv/lib.sh
. "$HERE/lib.sh"
testenv_args build-kube-components "$@"

KUBE_VERSION="${BURSTD_KUBE_VERSION:-v1.35.4}"
CACHE="$(testenv_cache)"
OUT_DIR="$CACHE/$KUBE_VERSION"
OUT="$OUT_DIR"
COMPONENTS=(kube-scheduler kube-controller-manager)

kube_check_version "$KUBE_VERSION"

cached_ok() {
  local c
  for c in "${COMPONENTS[@]}"; do
    [[ -x "$OUT_DIR/$c" ]] && [[ "$("$OUT_DIR/$c" --version 2>/dev/null || true)" == "Kubernetes $KUBE_VERSION" ]] \
      || return 1
  done
}

reuse_or_lock "${COMPONENTS[*]} $KUBE_VERSION"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/burstd-kube-components.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

kube_wrapper_module "$KUBE_VERSION" "$WORK" "$(basename "$0")"
PKGS=()
for c in "${COMPONENTS[@]}"; do PKGS+=("k8s.io/kubernetes/cmd/$c"); done

cd "$WORK"
say "resolving dependencies of ${PKGS[*]} (go get)"
nice -n 10 "$GO" get "${PKGS[@]/%/@$KUBE_VERSION}" >&2 \
  || die "'go get' failed in the wrapper module (a staging module missing at v0.${KUBE_VERSION#v1.} on the proxy?)"

LDFLAGS="$(kube_ldflags "$KUBE_VERSION")"
mkdir -p "$WORK/bin"
say "building ${PKGS[*]} $KUBE_VERSION (CGO_ENABLED=0)"
START=$SECONDS
CGO_ENABLED=0 nice -n 10 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$WORK/bin/" "${PKGS[@]}" >&2 \
  || die "go build of ${PKGS[*]} $KUBE_VERSION failed (see the compiler output above)"
say "built in $((SECONDS - START)) s"

for c in "${COMPONENTS[@]}"; do
  GOT="$("$WORK/bin/$c" --version 2>&1 || true)"
  [[ "$GOT" == "Kubernetes $KUBE_VERSION" ]] || die "$c reports '$GOT', expected 'Kubernetes $KUBE_VERSION'"
done
cp "$WORK/go.mod" "$OUT_DIR/wrapper-go.components.mod"
for c in "${COMPONENTS[@]}"; do install_atomically "$WORK/bin/$c" "$OUT_DIR/$c"; done
say "installed ${COMPONENTS[*]} in $OUT_DIR ($(du -ch "${COMPONENTS[@]/#/$OUT_DIR/}" | tail -n1 | cut -f1))"
echo "$OUT"
