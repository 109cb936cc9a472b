#!/usr/bin/env bash
# Print the path of a `go` binary, fetching the Go toolchain from the Go module proxy (the module
# golang.org/toolchain, which is how `go` itself downloads toolchains) when none is installed.
# Cached in $BURSTD_TESTENV_CACHE (default ~/.cache/burstd-testenv)/go-<version>; needs only curl and python3.
set -euo pipefail
GO_VERSION="${BURSTD_GO_VERSION:-1.26.8}"
if command -v go >/dev/null; then command -v go; exit 0; fi
if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; exit 0; fi
arch="$(uname -m)"; case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
cache="${BURSTD_TESTENV_CACHE:-$HOME/.cache/burstd-testenv}/go-${GO_VERSION}"
module="v0.0.1-go${GO_VERSION}.linux-${arch}"
if [ ! -x "$cache/bin/go" ]; then
  mkdir -p "$cache.tmp"
  echo "fetching Go ${GO_VERSION} from the Go module proxy" >&2
  curl -fsSL "${GOPROXY_URL:-https://proxy.golang.org}/golang.org/toolchain/@v/${module}.zip" -o "$cache.tmp/go.zip"
  python3 - "$cache.tmp/go.zip" "$cache.tmp/x" <<'PY'
import os, stat, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = z.extract(info, sys.argv[2])
        mode = info.external_attr >> 16
        if mode:
            os.chmod(path, stat.S_IMODE(mode))
PY
  rm -rf "$cache"
  mv "$cache.tmp/x/golang.org/toolchain@${module}" "$cache"
  rm -rf "$cache.tmp"
fi
echo "$cache/bin/go"
