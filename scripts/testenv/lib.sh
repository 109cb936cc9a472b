# shellcheck shell=bash
# Helpers shared by scripts/testenv/*.sh. Source it; it defines functions only.

# The cache root: binaries live OUTSIDE the repository, one directory per version.
testenv_cache() { printf '%s\n' "${BURSTD_TESTENV_CACHE:-$HOME/.cache/burstd-testenv}"; }

# find_go: sets GO to a usable go command (install-go.sh: the installed one, else one fetched from the
# Go module proxy) or dies.
find_go() {
  GO="${GO:-}"
  if [[ -z "$GO" ]]; then
    GO="$("$(dirname "${BASH_SOURCE[0]}")/install-go.sh")" || die "no Go toolchain and none could be fetched"
  fi
  "$GO" version >/dev/null 2>&1 || die "'$GO version' failed"
}

# gomod_path MODULE@VERSION: downloads the module through the module proxy and prints its go.mod's path.
gomod_path() {
  local json gomod
  json="$("$GO" mod download -json "$1")" \
    || die "cannot download $1 (is the Go module proxy reachable? try: $GO list -m -versions ${1%@*})"
  gomod="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$gomod" && -f "$gomod" ]] || die "no GoMod path for $1 in: $json"
  printf '%s\n' "$gomod"
}

# gomod_replaces GOMOD: prints "left<TAB>right" for every replace directive (block or single-line form);
# left is "module" or "module version", right is a path or "module version".
gomod_replaces() {
  awk '
    function emit(line,   n, f, i, arrow, mod, target) {
      n = split(line, f, /[[:space:]]+/)
      arrow = 0
      for (i = 1; i <= n; i++) if (f[i] == "=>") { arrow = i; break }
      if (!arrow) return
      mod = f[arrow - 1]
      if (mod ~ /^v[0-9]/) mod = f[arrow - 2] " " mod   # "module version => ...": keep the version
      target = f[arrow + 1]
      if (arrow + 2 <= n && f[arrow + 2] != "" && f[arrow + 2] !~ /^\/\//) target = target " " f[arrow + 2]
      print mod "\t" target
    }
    /^replace[[:space:]]*\(/ { inblock = 1; next }
    inblock && /^\)/         { inblock = 0; next }
    inblock                  { emit($0); next }
    /^replace[[:space:]]/    { line = $0; sub(/^replace[[:space:]]+/, "", line); emit(line) }
  ' "$1"
}

# gomod_go_line GOMOD: the version in its "go" directive.
gomod_go_line() { sed -n 's/^go[[:space:]]\+\([0-9.]\+\)[[:space:]]*$/\1/p' "$1" | head -n1; }

# lock_dir DIR: one builder per directory at a time (CI and a developer's pytest may race on a cold cache).
lock_dir() {
  mkdir -p "$1"
  exec 9>"$1/.lock"
  if ! flock -n 9; then
    say "another build into $1 is running; waiting for it"
    flock 9
  fi
}

# install_atomically SRC DEST: readers never see a half-written binary.
install_atomically() {
  cp -f "$1" "$2.tmp.$$"
  chmod 0755 "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
}

# reuse_or_lock LABEL: the cache protocol both builders share. The caller sets OUT, OUT_DIR and CHECK and
# defines cached_ok. Prints $OUT and exits when the cached binary is right; with --check, exits 3 when it
# is missing; otherwise finds Go, takes the build lock, looks again (another process may have just built
# it) and returns holding the lock: the caller builds.
reuse_or_lock() {
  if [[ "${BURSTD_TESTENV_REBUILD:-0}" != 1 ]] && cached_ok; then
    say "cached: $OUT ($1)"
    echo "$OUT"
    exit 0
  fi
  [[ "$CHECK" == 1 ]] && { say "$1 is not built yet ($OUT)"; exit 3; }
  find_go
  say "using $("$GO" version)"
  lock_dir "$OUT_DIR"
  if [[ "${BURSTD_TESTENV_REBUILD:-0}" != 1 ]] && cached_ok; then
    say "built by another process: $OUT"
    echo "$OUT"
    exit 0
  fi
}

# apt_install PACKAGE...: install Debian packages (as root, or through sudo), refreshing the package
# lists first when the install fails on a machine whose lists are missing or old. Dies on failure.
apt_install() {
  local sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "installing $* needs root (or sudo)"
    sudo=sudo
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 \
    || { $sudo apt-get update -qq >&2 \
         && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; } \
    || die "apt-get install $* failed"
}
