#!/usr/bin/env bash
# Build the real Karmada controllers the end-to-end tests run (karmada-scheduler,
# karmada-controller-manager, karmada-webhook) from the Karmada source tarball in ../shared/controllers,
# and extract the CRDs and webhook configuration that go with them. Everything lands OUTSIDE the repo.
#
#   scripts/testenv/build-karmada.sh            # prints the output directory on stdout
#   scripts/testenv/build-karmada.sh --check    # only report: exit 3 if it is not built yet
#
# Environment:
#   BURSTD_KARMADA_VERSION  Karmada release (default below); the tarball is karmada-<version>-src.tar.gz
#   BURSTD_SHARED           the shared directory (default: ../shared beside the repository)
#   BURSTD_TESTENV_CACHE    cache root (default $HOME/.cache/burstd-testenv)
#   BURSTD_TESTENV_REBUILD  set to 1 to rebuild even if the cached binaries match the tarball
#   GO                      the go command (default: install-go.sh)
#
# No Go module proxy serves Karmada, but the tarball has a complete vendor/, so this builds offline with
# -mod=vendor. Output, in <cache>/karmada-<version>/:
#   karmada-scheduler karmada-controller-manager karmada-webhook   the binaries
#   crds/                         charts/karmada/_crds/bases (every upstream CRD, no conversion patches)
#   webhook-configuration.yaml    artifacts/deploy/webhook-configuration.yaml (service refs, {{caBundle}})
#   source.sha256                 the tarball's digest: a different tarball means a rebuild
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/testenv/lib.sh
. "$HERE/lib.sh"
testenv_args build-karmada "$@"

VERSION="${BURSTD_KARMADA_VERSION:-v1.18.2}"
SHARED="${BURSTD_SHARED:-$(cd "$HERE/../../.." && pwd)/shared}"
TARBALL="$SHARED/controllers/karmada-$VERSION-src.tar.gz"
CACHE="$(testenv_cache)"
OUT_DIR="$CACHE/karmada-$VERSION"
OUT="$OUT_DIR"
BINARIES=(karmada-scheduler karmada-controller-manager karmada-webhook)
declare -A PKG=([karmada-scheduler]=./cmd/scheduler [karmada-controller-manager]=./cmd/controller-manager
                [karmada-webhook]=./cmd/webhook)

[[ -f "$TARBALL" ]] || die "no Karmada source at $TARBALL (set BURSTD_SHARED to the shared directory)"

digest() { sha256sum "$TARBALL" | cut -d' ' -f1; }
cached_ok() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$OUT_DIR/$b" ]] || return 1; done
  [[ -d "$OUT_DIR/crds" && -f "$OUT_DIR/webhook-configuration.yaml" ]] || return 1
  [[ "$(cat "$OUT_DIR/source.sha256" 2>/dev/null || true)" == "$(digest)" ]]
}
reuse_or_lock "Karmada $VERSION"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/burstd-karmada.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
say "unpacking $TARBALL"
tar xzf "$TARBALL" -C "$WORK"
SRC="$WORK/karmada-$VERSION"
[[ -f "$SRC/go.mod" && -d "$SRC/vendor" ]] || die "$TARBALL has no karmada-$VERSION/go.mod with vendor/"

cd "$SRC"
for b in "${BINARIES[@]}"; do
  say "building $b from ${PKG[$b]} (-mod=vendor, CGO_ENABLED=0; minutes on a cold Go build cache)"
  START=$SECONDS
  GOFLAGS=-mod=vendor CGO_ENABLED=0 GOTOOLCHAIN=local nice -n 10 "$GO" build -trimpath -ldflags "-s -w" \
    -o "$WORK/bin/$b" "${PKG[$b]}" >&2 || die "go build of ${PKG[$b]} failed (see the compiler output above)"
  say "built $b in $((SECONDS - START)) s"
done

rm -rf "$OUT_DIR/crds.tmp"
cp -r "$SRC/charts/karmada/_crds/bases" "$OUT_DIR/crds.tmp"
rm -rf "$OUT_DIR/crds" && mv "$OUT_DIR/crds.tmp" "$OUT_DIR/crds"
cp "$SRC/artifacts/deploy/webhook-configuration.yaml" "$OUT_DIR/webhook-configuration.yaml"
for b in "${BINARIES[@]}"; do install_atomically "$WORK/bin/$b" "$OUT_DIR/$b"; done
digest > "$OUT_DIR/source.sha256"
say "installed $OUT_DIR ($(du -sh "$OUT_DIR" | cut -f1))"
echo "$OUT"
