"""Fixtures for tests against a real kube-apiserver + etcd (see controlplane.py).

Every test under tests/integration/ is marked ``integration`` (deselect locally with
``-m 'not integration'``). The binaries must exist: a missing binary makes the tests ERROR (never skip),
in CI and outside it, with the command that provides them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .controlplane import ControlPlane, ControlPlaneError, Timings, start_control_plane

_HERE = Path(__file__).resolve().parent
_session_timings: list[tuple[str, Timings, float]] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs the real kube-apiserver + etcd test control plane")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver (RBAC, static-token admin) on loopback with the Karmada and CAPI CRDs."""
    start = time.monotonic()
    with contextlib.ExitStack() as stack:
        failure = None
        try:
            plane = stack.enter_context(start_control_plane())
        except ControlPlaneError as exc:
            failure = str(exc)
        if failure is not None:  # outside the except block: no "during handling ..." noise
            pytest.fail(failure, pytrace=False)
        _session_timings.append(("control_plane", plane.timings, time.monotonic() - start))
        yield plane


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, t, total in _session_timings:
        terminalreporter.write_line(
            f"burstd testenv ({name}): etcd ready {t.etcd_ready_s:.2f} s, kube-apiserver ready "
            f"{t.apiserver_ready_s:.2f} s, {t.crd_count} CRDs established {t.crds_established_s:.2f} s, "
            f"total setup {total:.2f} s"
        )
