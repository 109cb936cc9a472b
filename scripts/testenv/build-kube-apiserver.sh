#!/usr/bin/env bash
# Build kube-apiserver from Go modules and cache it OUTSIDE the repository.
#
#   scripts/testenv/build-kube-apiserver.sh            # prints the binary's path on stdout
#
# Environment:
#   BURSTD_KUBE_VERSION     k8s.io/kubernetes release to build (default below)
#   BURSTD_TESTENV_CACHE    cache root (default $HOME/.cache/burstd-testenv)
#   BURSTD_TESTENV_REBUILD  set to 1 to rebuild even if the cached binary has the right version
#   GO                      the go command (default: `go` on PATH, else /usr/local/go/bin/go)
#
# The binary lands in $BURSTD_TESTENV_CACHE/<version>/kube-apiserver and is rebuilt only when the version
# changes. k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the k8s.io/* staging modules
# with ./staging/src/k8s.io/*, which do not exist outside its repository. So we build from a throw-away
# wrapper module that requires k8s.io/kubernetes <version> and replaces every staging module with its
# published v0.<minor>.<patch> release. That list is GENERATED from the release's own go.mod (fetched
# through the module proxy), never hard-coded. Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

KUBE_VERSION="${BURSTD_KUBE_VERSION:-v1.35.4}"
CACHE="${BURSTD_TESTENV_CACHE:-$HOME/.cache/burstd-testenv}"
OUT_DIR="$CACHE/$KUBE_VERSION"
OUT="$OUT_DIR/kube-apiserver"
PKG="k8s.io/kubernetes/cmd/kube-apiserver"

say() { printf '[build-kube-apiserver] %s\n' "$*" >&2; }
die() { printf '[build-kube-apiserver] ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$KUBE_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)(-[0-9A-Za-z.-]+)?$ ]] \
  || die "BURSTD_KUBE_VERSION must look like v1.Y.Z (got '$KUBE_VERSION')"
KUBE_MINOR="${BASH_REMATCH[1]}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"   # v1.35.4 -> v0.35.4 (the staging modules' release tag)

cached_ok() {
  [[ -x "$OUT" ]] && [[ "$("$OUT" --version 2>/dev/null || true)" == "Kubernetes $KUBE_VERSION" ]]
}

if [[ "${BURSTD_TESTENV_REBUILD:-0}" != 1 ]] && cached_ok; then
  say "cached: $OUT ($KUBE_VERSION)"
  echo "$OUT"
  exit 0
fi

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO=go
  elif [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go
  else die "no Go toolchain: put 'go' on PATH or set GO=/path/to/go (kube-apiserver $KUBE_VERSION needs Go >= 1.25)"
  fi
fi
say "using $("$GO" version)"

mkdir -p "$OUT_DIR"
# One build at a time per version (CI and a developer's pytest may race on a cold cache).
exec 9>"$OUT_DIR/.lock"
if ! flock -n 9; then
  say "another build of $KUBE_VERSION is running; waiting for it"
  flock 9
fi
if [[ "${BURSTD_TESTENV_REBUILD:-0}" != 1 ]] && cached_ok; then
  say "built by the other process: $OUT"
  echo "$OUT"
  exit 0
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/burstd-kube-apiserver.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

say "fetching k8s.io/kubernetes@$KUBE_VERSION go.mod from the module proxy"
GOMOD_JSON="$("$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION")" \
  || die "cannot download k8s.io/kubernetes@$KUBE_VERSION (is the Go module proxy reachable? try: $GO list -m -versions k8s.io/kubernetes)"
KUBE_GOMOD="$(printf '%s\n' "$GOMOD_JSON" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[[ -n "$KUBE_GOMOD" && -f "$KUBE_GOMOD" ]] || die "could not find the GoMod path in: $GOMOD_JSON"

# Every `k8s.io/<name> => ./staging/src/k8s.io/<name>` directive, in block or single-line form.
STAGING_MODULES="$(awk '
  /^replace[[:space:]]*\(/ { inblock = 1; next }
  inblock && /^\)/         { inblock = 0; next }
  {
    line = $0
    if (!inblock) { if (line !~ /^replace[[:space:]]/) next; sub(/^replace[[:space:]]+/, "", line) }
    n = split(line, f, /[[:space:]]+/)
    # fields: [""] module [version] => target [version]
    for (i = 1; i <= n; i++) if (f[i] == "=>") { arrow = i; break }
    if (!arrow) next
    mod = f[arrow - 1]; target = f[arrow + 1]
    if (mod ~ /^v[0-9]/) mod = f[arrow - 2]   # "module version => target"
    arrow = 0
    if (target ~ /^\.\/staging\//) print mod
  }' "$KUBE_GOMOD")"
# Replacements that point elsewhere are copied verbatim (a dependency's replaces do not apply to us).
OTHER_REPLACES="$(awk '
  /^replace[[:space:]]*\(/ { inblock = 1; next }
  inblock && /^\)/         { inblock = 0; next }
  inblock { if ($0 !~ /=>[[:space:]]*\.\/staging\// && $0 ~ /=>/) print; next }
  /^replace[[:space:]]/ { if ($0 !~ /=>[[:space:]]*\.\/staging\//) { sub(/^replace[[:space:]]+/, "\t"); print } }
' "$KUBE_GOMOD")"
COUNT="$(printf '%s\n' "$STAGING_MODULES" | grep -c . || true)"
[[ "$COUNT" -ge 10 ]] || die "found only $COUNT ./staging replace directives in $KUBE_GOMOD; the go.mod layout changed?"
printf '%s\n' "$STAGING_MODULES" | grep -qx 'k8s.io/apiserver' \
  || die "k8s.io/apiserver is not among the staging replaces in $KUBE_GOMOD"
say "$COUNT staging modules -> $STAGING_VERSION"

GO_LINE="$(sed -n 's/^go[[:space:]]\+\([0-9.]\+\)[[:space:]]*$/\1/p' "$KUBE_GOMOD" | head -n1)"
GODEBUG_LINES="$(grep -E '^godebug[[:space:]]' "$KUBE_GOMOD" || true)"
[[ -n "$GO_LINE" ]] || die "no 'go' directive in $KUBE_GOMOD"

{
  echo "// Generated by scripts/testenv/build-kube-apiserver.sh from k8s.io/kubernetes@$KUBE_VERSION's go.mod."
  echo "module burstd.invalid/testenv/kube-apiserver"
  echo
  echo "go $GO_LINE"
  if [[ -n "$GODEBUG_LINES" ]]; then printf '\n%s\n' "$GODEBUG_LINES"; fi
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  printf '%s\n' "$STAGING_MODULES" | while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done
  if [[ -n "$OTHER_REPLACES" ]]; then printf '%s\n' "$OTHER_REPLACES"; fi
  echo ")"
} > "$WORK/go.mod"
say "wrapper module in $WORK:"
sed 's/^/    /' "$WORK/go.mod" >&2

cd "$WORK"
say "resolving dependencies of $PKG (go get)"
nice -n 10 "$GO" get "$PKG@$KUBE_VERSION" >&2 \
  || die "'go get $PKG@$KUBE_VERSION' failed in the wrapper module (a staging module missing at $STAGING_VERSION on the proxy?)"

# The same version stamps the upstream build (hack/lib/version.sh) sets.
COMMIT="$(sed -n 's/.*"Hash":"\([0-9a-f]\{40\}\)".*/\1/p' "${KUBE_GOMOD%.mod}.info" 2>/dev/null || true)"
BUILD_DATE="$(date -u +'%Y-%m-%dT%H:%M:%SZ')"
LDFLAGS="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X '$p.gitVersion=$KUBE_VERSION' -X '$p.gitMajor=1' -X '$p.gitMinor=$KUBE_MINOR'"
  LDFLAGS+=" -X '$p.gitTreeState=clean' -X '$p.buildDate=$BUILD_DATE'"
  if [[ -n "$COMMIT" ]]; then LDFLAGS+=" -X '$p.gitCommit=$COMMIT'"; fi
done

say "building $PKG $KUBE_VERSION (CGO_ENABLED=0; several minutes on a cold Go build cache)"
START=$SECONDS
CGO_ENABLED=0 nice -n 10 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$WORK/kube-apiserver" "$PKG" >&2 \
  || die "go build of $PKG $KUBE_VERSION failed (see the compiler output above)"
say "built in $((SECONDS - START)) s"

GOT="$("$WORK/kube-apiserver" --version 2>&1 || true)"
[[ "$GOT" == "Kubernetes $KUBE_VERSION" ]] || die "the built binary reports '$GOT', expected 'Kubernetes $KUBE_VERSION'"
cp "$WORK/go.mod" "$OUT_DIR/wrapper-go.mod"
mv -f "$WORK/kube-apiserver" "$OUT.tmp.$$"
mv -f "$OUT.tmp.$$" "$OUT"          # atomic on one filesystem: readers never see a half-written binary
say "installed $OUT ($(du -h "$OUT" | cut -f1))"
echo "$OUT"
