#!/usr/bin/env bash
# The one entry point CI and the integration tests share: make sure kube-apiserver and etcd exist in the
# cache (building them from Go modules when the version changed) and print where they are.
#
#   scripts/testenv/ensure.sh             # prints KUBE_APISERVER=<path> and ETCD=<path>, one per line
#   scripts/testenv/ensure.sh --export    # prints "export KUBE_APISERVER=..." lines: eval "$(... --export)"
#   scripts/testenv/ensure.sh --check     # build nothing: exit 3 (with a message) if either is missing
#
#   export $(scripts/testenv/ensure.sh)   # typical use in a shell or CI script
#
# Progress goes to stderr. Versions and cache: see build-kube-apiserver.sh and install-etcd.sh
# (BURSTD_KUBE_VERSION, BURSTD_ETCD_VERSION, BURSTD_ETCD_SOURCE, BURSTD_TESTENV_CACHE).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

CHECK=()
PREFIX=""
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=(--check) ;;
    --export) PREFIX="export " ;;
    *) echo "usage: $0 [--check] [--export]" >&2; exit 2 ;;
  esac
done

rc=0
ETCD="$("$HERE/install-etcd.sh" "${CHECK[@]}")" || rc=$?
[[ $rc == 0 || $rc == 3 ]] || { echo "[ensure] ERROR: install-etcd.sh failed (exit $rc)" >&2; exit "$rc"; }
krc=0
KUBE="$("$HERE/build-kube-apiserver.sh" "${CHECK[@]}")" || krc=$?
[[ $krc == 0 || $krc == 3 ]] || { echo "[ensure] ERROR: build-kube-apiserver.sh failed (exit $krc)" >&2; exit "$krc"; }
if [[ $rc == 3 || $krc == 3 ]]; then
  echo "[ensure] missing test control plane binaries: run scripts/testenv/ensure.sh (without --check)" >&2
  exit 3
fi
printf '%sKUBE_APISERVER=%s\n%sETCD=%s\n' "$PREFIX" "$KUBE" "$PREFIX" "$ETCD"
