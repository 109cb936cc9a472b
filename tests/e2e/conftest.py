"""Fixtures for the end-to-end tests: two real kube-apiservers (each with its own etcd and the upstream
CRDs), one playing karmada-apiserver and one the Cluster API management cluster, as burstd sees them in
production. Both have every CRD installed, so an object read or written on the wrong server is not a
"no such resource" error but an object that is missing, or one nobody else sees.

Every test under tests/e2e/ is marked ``e2e`` and ``integration``. As for the integration tests, a missing
binary makes the tests ERROR (never skip), with the command that provides them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from integration.controlplane import ControlPlane, ControlPlaneError, start_control_plane
from testbed.capi import CapiPlane, WorkloadCluster
from testbed.karmada import KarmadaPlane

from .bed import Bed
from .harness import Planes

T = TypeVar("T")

_HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: burstd end to end against the real kube-apiserver and the harness"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.integration)


@contextlib.contextmanager
def started(start: contextlib.AbstractContextManager[T]) -> Iterator[T]:
    """Enter a test-environment context manager; a ``ControlPlaneError`` (a missing binary, a server that
    did not come up) fails the test with its message: an error, never a skip, and no traceback noise."""
    with contextlib.ExitStack() as stack:
        failure = None
        try:
            value = stack.enter_context(start)
        except ControlPlaneError as exc:
            failure = str(exc)
        if failure is not None:  # outside the except block: no "during handling ..." noise
            pytest.fail(failure, pytrace=False)
        yield value


def _plane() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver (RBAC, static-token admin) on loopback with the Karmada and CAPI CRDs."""
    with started(start_control_plane()) as plane:
        yield plane


@pytest.fixture(scope="session")
def karmada_plane() -> Iterator[ControlPlane]:
    """The API server playing karmada-apiserver: Clusters, PropagationPolicies, ResourceBindings,
    FederatedHPAs and the workload's namespace."""
    yield from _plane()


@pytest.fixture(scope="session")
def management_plane() -> Iterator[ControlPlane]:
    """The API server playing the Cluster API management cluster: MachineDeployments, Machines, the CAPI
    namespace and burstd's namespace (state ConfigMaps, leader Lease)."""
    yield from _plane()


@pytest.fixture(scope="session")
def planes(karmada_plane: ControlPlane, management_plane: ControlPlane) -> Planes:
    """Both planes, for the harness and ``burstd run``."""
    return Planes(karmada_plane, management_plane)


# ------------------------------------------------------------------------------------------ the test bed
# The real Karmada and Cluster API controllers (tests/testbed/). The fixtures ``karmada`` (Karmada's
# webhook, scheduler and controller-manager on their API server), ``capi`` (the Cluster API managers on the
# management cluster) and ``workload_cluster`` (the in-memory Cluster whose MachineDeployments are the cloud
# pools) are defined below, each in its own section.


@pytest.fixture(scope="session")
def bed(karmada: KarmadaPlane, capi: CapiPlane, workload_cluster: WorkloadCluster) -> Bed:
    """The whole test bed: what ``run_bed`` creates each test's fleet on."""
    return Bed(karmada, capi, workload_cluster)


# ------------------------------------------------------------------------------------------ karmada
# (helper "karmada-division" section) The real Karmada control plane: testbed.karmada.start_karmada.


@pytest.fixture(scope="session")
def karmada() -> Iterator[KarmadaPlane]:
    """etcd + kube-apiserver with every Karmada CRD, and the real karmada-webhook, karmada-scheduler and
    karmada-controller-manager (``clusterStatus`` off: the harness writes member Cluster status)."""
    from testbed.karmada import start_karmada

    with started(start_karmada()) as plane:
        yield plane
        plane.check_alive()  # a controller that died during the session fails its last test's teardown


# ------------------------------------------------------------------------------------------ capi
# (helper "capi" section) The Cluster API management cluster with the real controllers and CAPD's
# in-memory backend: testbed.capi.start_capi / create_workload_cluster.

CAPI_NAMESPACE = "burstd-cloud"
WORKLOAD_CLUSTER = "cloud"


@pytest.fixture(scope="session")
def capi() -> Iterator[CapiPlane]:
    """etcd + kube-apiserver with the Cluster API CRDs, and the real core, kubeadm bootstrap, kubeadm
    control-plane and CAPD managers (webhooks and CRD conversion served on loopback)."""
    from testbed.capi import start_capi

    with started(start_capi()) as plane:
        yield plane
        plane.check_alive()  # a manager that died during the session fails its last test's teardown


@pytest.fixture(scope="session")
def workload_cluster(capi: CapiPlane) -> WorkloadCluster:
    """One in-memory workload Cluster (one control-plane Machine), made once: workers can join it."""
    from testbed.capi import create_workload_cluster

    try:
        return create_workload_cluster(capi, CAPI_NAMESPACE, WORKLOAD_CLUSTER)
    except ControlPlaneError as exc:
        failure = str(exc)
    pytest.fail(failure, pytrace=False)
