"""Fixtures for the chart tests: real helm and a real kube-apiserver with the Prometheus Operator CRDs.

Every test under tests/chart/ is marked ``integration`` (deselect locally with ``-m 'not integration'``).
helm, the CRDs and the control plane's binaries must exist: a missing one makes the tests ERROR (never
skip) with the command that provides it (``scripts/testenv/ensure.sh``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.controlplane import ControlPlane, ControlPlaneError, start_control_plane

from .helm import NAMESPACE, Helm, HelmTools, find_helm

_HERE = Path(__file__).resolve().parent
VALUES_DIR = _HERE / "values"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def helm_tools() -> HelmTools:
    failure = None
    try:
        return find_helm()
    except ControlPlaneError as exc:
        failure = str(exc)
    pytest.fail(failure, pytrace=False)  # outside the except block: no "during handling ..." noise


@pytest.fixture(scope="session")
def helm(helm_tools: HelmTools, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_tools.helm, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def chart_api(helm_tools: HelmTools) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver with the monitoring.coreos.com CRDs and burstd's namespace."""
    with contextlib.ExitStack() as stack:
        failure = None
        try:
            plane = stack.enter_context(start_control_plane(crds=helm_tools.monitoring_crds))
        except ControlPlaneError as exc:
            failure = str(exc)
        if failure is not None:
            pytest.fail(failure, pytrace=False)
        status, body = plane.request(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        )
        assert status == 201, f"creating namespace {NAMESPACE}: HTTP {status}: {body}"
        yield plane
