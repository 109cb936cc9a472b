#!/usr/bin/env bash
# The one entry point CI and the integration tests share: make sure kube-apiserver and etcd, and the real
# Karmada and Cluster API controllers and kwok the end-to-end tests run, and helm with the Prometheus
# Operator CRDs the chart tests use, exist in the cache (building them when the version changed) and print
# where they are.
#
#   scripts/testenv/ensure.sh             # prints KUBE_APISERVER=<path>, ETCD=<path>, KARMADA_DIR=<dir>,
#                                         # CAPI_DIR=<dir>, KWOK_DIR=<dir> and KUBE_COMPONENTS_DIR=<dir>
#                                         # (kube-scheduler, kube-controller-manager) and HELM_DIR=<dir>
#                                         # (helm, crds/monitoring.coreos.com/), one per line
#   scripts/testenv/ensure.sh --export    # prints "export KUBE_APISERVER=..." lines: eval "$(... --export)"
#   scripts/testenv/ensure.sh --check     # build nothing: exit 3 (with a message) if one is missing
#   scripts/testenv/ensure.sh --base      # only etcd and kube-apiserver (what tests/integration needs)
#
#   export $(scripts/testenv/ensure.sh)   # typical use in a shell or CI script
#
# Progress goes to stderr. Versions and cache: see build-kube-apiserver.sh, install-etcd.sh,
# build-karmada.sh, build-capi.sh, build-kwok.sh and build-helm.sh (BURSTD_KUBE_VERSION,
# BURSTD_ETCD_VERSION, BURSTD_ETCD_SOURCE, BURSTD_KARMADA_VERSION, BURSTD_CAPI_VERSION, BURSTD_KWOK_VERSION,
# BURSTD_HELM_VERSION, BURSTD_PROMETHEUS_OPERATOR_VERSION, BURSTD_SHARED, BURSTD_TESTENV_CACHE).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

CHECK=()
PREFIX=""
BASE=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=(--check) ;;
    --export) PREFIX="export " ;;
    --base) BASE=1 ;;
    *) echo "usage: $0 [--check] [--export] [--base]" >&2; exit 2 ;;
  esac
done

# name <TAB> script <TAB> variable printed; built in this order (the first ones are needed most often).
STEPS="etcd	install-etcd.sh	ETCD
kube-apiserver	build-kube-apiserver.sh	KUBE_APISERVER
Karmada	build-karmada.sh	KARMADA_DIR
Cluster API	build-capi.sh	CAPI_DIR
kwok	build-kwok.sh	KWOK_DIR
kube-scheduler, kube-controller-manager	build-kube-components.sh	KUBE_COMPONENTS_DIR
helm	build-helm.sh	HELM_DIR"
OUTPUT=""
MISSING=()
while IFS=$'\t' read -r name script var; do
  [[ $BASE == 1 && $var != ETCD && $var != KUBE_APISERVER ]] && continue
  rc=0
  path="$("$HERE/$script" "${CHECK[@]}" </dev/null)" || rc=$?
  if [[ $rc == 3 ]]; then
    MISSING+=("$name")
  elif [[ $rc != 0 ]]; then
    echo "[ensure] ERROR: $script failed (exit $rc)" >&2
    exit "$rc"
  fi
  OUTPUT+="$PREFIX$var=$path"$'\n'
done <<< "$STEPS"
if ((${#MISSING[@]})); then
  echo "[ensure] not built yet: ${MISSING[*]}: run scripts/testenv/ensure.sh (without --check)" >&2
  exit 3
fi
printf '%s' "$OUTPUT"
