#!/usr/bin/env bash
# Provide libfaketime for the chaos suite (daemons with skewed wall clocks) and print LIBFAKETIME=<path>.
#
#   scripts/testenv/install-faketime.sh            # install Debian's faketime package if needed
#   scripts/testenv/install-faketime.sh --check    # only report: exit 3 if it is not there yet
#
# tests/chaos/rig.py preloads the library into a burstd process (FAKETIME="+30s",
# FAKETIME_DONT_FAKE_MONOTONIC=1): its wall clock runs ahead or behind, its monotonic clock does not.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/testenv/lib.sh
. "$HERE/lib.sh"
testenv_args install-faketime "$@"

MULTIARCH="$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("MULTIARCH") or "")')"
LIB="/usr/lib/${MULTIARCH}/faketime/libfaketime.so.1"
report() { say "using $LIB"; echo "LIBFAKETIME=$LIB"; exit 0; }

[[ -e "$LIB" ]] && report
[[ "$CHECK" == 1 ]] && { say "libfaketime is not installed (run $0, or apt-get install faketime)"; exit 3; }

say "installing Debian's faketime package"
apt_install faketime
[[ -e "$LIB" ]] || die "the faketime package did not provide $LIB"
report
