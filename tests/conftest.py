"""Fixtures shared by tests/e2e and tests/chaos: the test bed of real controllers (tests/testbed/), started
once per session whichever suites use it. They live here, in one place, because a session fixture defined
(or imported) in two conftest files is two fixtures with two instances, and only one Cluster API bed can
run per host (CAPD's in-memory backend listens on a fixed port).

A start failure (a missing binary, a server that did not come up) fails the test with its message: an
error, never a skip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

import pytest
from e2e.bed import Bed
from integration.controlplane import ControlPlaneError
from testbed.capi import CapiPlane, WorkloadCluster
from testbed.karmada import KarmadaPlane

T = TypeVar("T")


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
