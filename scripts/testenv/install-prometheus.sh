#!/usr/bin/env bash
# Provide a Prometheus server for the PromQL integration tests and print PROMETHEUS=<path> on stdout.
#
#   scripts/testenv/install-prometheus.sh            # install Debian's prometheus package if needed
#   scripts/testenv/install-prometheus.sh --check    # only report: exit 3 if it is not there yet
#
# Environment:
#   PROMETHEUS   use this binary instead of /usr/bin/prometheus (must be executable)
#
# The tests start the binary themselves (tests/integration/prometheus_server.py); the service that the
# Debian package may try to start is neither needed nor relied on (containers often have no systemd).
# Idempotent: an installed binary is left alone.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/testenv/lib.sh
. "$HERE/lib.sh"
testenv_args install-prometheus "$@"

report() {
  say "using $1 ($("$1" --version 2>&1 | head -n1))"
  echo "PROMETHEUS=$1"
  exit 0
}

if [[ -n "${PROMETHEUS:-}" ]]; then
  [[ -x "$PROMETHEUS" ]] || die "PROMETHEUS=$PROMETHEUS is not an executable file"
  report "$PROMETHEUS"
fi

BIN=/usr/bin/prometheus
[[ -x "$BIN" ]] && report "$BIN"
[[ "$CHECK" == 1 ]] && { say "prometheus is not installed (run $0, or apt-get install prometheus)"; exit 3; }

say "installing Debian's prometheus package"
# The package's postinst may try to start prometheus.service; without systemd that step is skipped or
# fails harmlessly. The binary is all the tests use.
apt_install prometheus
[[ -x "$BIN" ]] || die "the prometheus package did not provide $BIN"
report "$BIN"
