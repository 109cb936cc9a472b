#!/usr/bin/env bash
# Build kube-apiserver from Go modules and cache it OUTSIDE the repository.
#
#   scripts/testenv/build-kube-apiserver.sh            # prints the binary's path on stdout
#   scripts/testenv/build-kube-apiserver.sh --check    # only report: exit 3 if it is not built yet
#
# Environment:
#   BURSTD_KUBE_VERSION     k8s.io/kubernetes release to build (default below)
#   BURSTD_TESTENV_CACHE    cache root (default $HOME/.cache/burstd-testenv)
#   BURSTD_TESTENV_REBUILD  set to 1 to rebuild even if the cached binary has the right version
#   GO                      the go command (default: install-go.sh: `go` on PATH, /usr/local/go/bin/go, else fetched)
#
# The binary lands in $BURSTD_TESTENV_CACHE/<version>/kube-apiserver and is rebuilt only when the version
# changes. k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the k8s.io/* staging modules
# with ./staging/src/k8s.io/*, which do not exist outside its repository. So we build from a throw-away
# wrapper module that requires k8s.io/kubernetes <version> and replaces every staging module with its
# published v0.<minor>.<patch> release. That list is GENERATED from the release's own go.mod (fetched
# through the module proxy), never hard-coded. Progress goes to stderr; only the path goes to stdout.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/testenv/lib.sh
. "$HERE/lib.sh"
testenv_args build-kube-apiserver "$@"

KUBE_VERSION="${BURSTD_KUBE_VERSION:-v1.35.4}"
CACHE="$(testenv_cache)"
OUT_DIR="$CACHE/$KUBE_VERSION"
OUT="$OUT_DIR/kube-apiserver"
PKG="k8s.io/kubernetes/cmd/kube-apiserver"

kube_check_version "$KUBE_VERSION"

cached_ok() {
  [[ -x "$OUT" ]] && [[ "$("$OUT" --version 2>/dev/null || true)" == "Kubernetes $KUBE_VERSION" ]]
}

reuse_or_lock "kube-apiserver $KUBE_VERSION"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/burstd-kube-apiserver.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

kube_wrapper_module "$KUBE_VERSION" "$WORK" "$(basename "$0")"

cd "$WORK"
say "resolving dependencies of $PKG (go get)"
nice -n 10 "$GO" get "$PKG@$KUBE_VERSION" >&2 \
  || die "'go get $PKG@$KUBE_VERSION' failed in the wrapper module (a staging module missing at v0.${KUBE_VERSION#v1.} on the proxy?)"

LDFLAGS="$(kube_ldflags "$KUBE_VERSION")"

say "building $PKG $KUBE_VERSION (CGO_ENABLED=0; several minutes on a cold Go build cache)"
START=$SECONDS
CGO_ENABLED=0 nice -n 10 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$WORK/kube-apiserver" "$PKG" >&2 \
  || die "go build of $PKG $KUBE_VERSION failed (see the compiler output above)"
say "built in $((SECONDS - START)) s"

GOT="$("$WORK/kube-apiserver" --version 2>&1 || true)"
[[ "$GOT" == "Kubernetes $KUBE_VERSION" ]] || die "the built binary reports '$GOT', expected 'Kubernetes $KUBE_VERSION'"
cp "$WORK/go.mod" "$OUT_DIR/wrapper-go.mod"
install_atomically "$WORK/kube-apiserver" "$OUT"
say "installed $OUT ($(du -h "$OUT" | cut -f1))"
echo "$OUT"
