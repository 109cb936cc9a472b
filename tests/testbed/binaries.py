"""Where the real controllers' binaries are: ``scripts/testenv/ensure.sh`` builds them into the cache.

A missing binary raises ``ControlPlaneError`` with the command that provides it (tests ERROR, never skip).
``KARMADA_DIR``, ``CAPI_DIR``, ``KWOK_DIR`` and ``KUBE_COMPONENTS_DIR`` in the environment override the
cache lookup.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from integration.controlplane import ENSURE_SCRIPT, ControlPlaneError

KARMADA_BINARIES = ("karmada-scheduler", "karmada-controller-manager", "karmada-webhook")
CAPI_BINARIES = (
    "capi-manager",
    "capi-kubeadm-bootstrap-manager",
    "capi-kubeadm-control-plane-manager",
    "capd-manager",
)
KUBE_COMPONENTS = ("kube-scheduler", "kube-controller-manager")  # a real member cluster's, with kwok
CAPI_COMPONENTS = ("core", "bootstrap-kubeadm", "controlplane-kubeadm", "capd")


@dataclass(frozen=True)
class ControllerBinaries:
    karmada_dir: Path
    """The Karmada binaries, ``crds/`` (every upstream CRD) and ``webhook-configuration.yaml``."""
    capi_dir: Path
    """The Cluster API managers and ``config/<component>/{crds/*.yaml,webhooks.yaml}``."""
    kwok_dir: Path
    """``kwok`` and ``stages.yaml``."""
    kube_components_dir: Path
    """``kube-scheduler`` and ``kube-controller-manager`` (``scripts/testenv/build-kube-components.sh``)."""

    def karmada(self, name: str) -> Path:
        return self.karmada_dir / name

    def capi(self, name: str) -> Path:
        return self.capi_dir / name

    @property
    def kwok(self) -> Path:
        return self.kwok_dir / "kwok"

    def kube(self, name: str) -> Path:
        return self.kube_components_dir / name


_VARS = ("KARMADA_DIR", "CAPI_DIR", "KWOK_DIR", "KUBE_COMPONENTS_DIR")


def find_controller_binaries() -> ControllerBinaries:
    """The directories from the environment, else from ``ensure.sh --check``; every binary checked."""
    found = {v: os.environ.get(v) for v in _VARS}
    how = "from the environment"
    if not all(found.values()):
        build = os.environ.get("BURSTD_TESTENV_BUILD") == "1"
        argv = ["bash", str(ENSURE_SCRIPT)] + ([] if build else ["--check"])
        how = f"from `{' '.join(argv[1:])}`"
        try:
            out = subprocess.run(
                argv,
                check=False,
                stdout=subprocess.PIPE,
                stderr=None if build else subprocess.PIPE,
                text=True,
                timeout=7200,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ControlPlaneError(f"could not run {ENSURE_SCRIPT}: {exc}") from exc
        if out.returncode != 0:
            raise ControlPlaneError(_missing((out.stderr or "see the build output above").strip()))
        listed = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        found = {v: found[v] or listed.get(v) for v in _VARS}
    dirs = {v: Path(p) if p else None for v, p in found.items()}
    wanted = [
        *(("KARMADA_DIR", b) for b in KARMADA_BINARIES),
        *(("CAPI_DIR", b) for b in CAPI_BINARIES),
        ("KWOK_DIR", "kwok"),
        *(("KUBE_COMPONENTS_DIR", b) for b in KUBE_COMPONENTS),
    ]
    missing = [f"{v}/{b}" for v, b in wanted if (d := dirs[v]) is None or not os.access(d / b, os.X_OK)]
    if missing:
        raise ControlPlaneError(_missing(f"not executable ({how}): {', '.join(missing)}"))
    karmada, capi, kwok, kube = (dirs[v] or Path() for v in _VARS)
    return ControllerBinaries(karmada, capi, kwok, kube)


def _missing(detail: str) -> str:
    if os.environ.get("CI"):
        where = "CI must build them: .ci/run runs `scripts/testenv/ensure.sh` (a missing binary fails)."
    else:
        where = (
            "Run `scripts/testenv/ensure.sh` once (a cold build of the Karmada, Cluster API and kwok "
            "binaries takes ~10 min on 2 cores; later runs reuse ~/.cache/burstd-testenv), or set "
            "BURSTD_TESTENV_BUILD=1 to let pytest build them."
        )
    return f"the real controllers' binaries are missing.\n{detail}\n{where}"
