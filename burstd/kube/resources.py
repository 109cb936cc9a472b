"""The API resources burstd reads and writes, as plain frozen descriptors (no client import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    """An API resource endpoint: ``/apis/<group>/<version>/[namespaces/<ns>/]<plural>``. The core group
    (``""``, served under ``/api/<version>``) is used only by the client's typed ConfigMap methods."""

    group: str
    version: str
    plural: str
    namespaced: bool
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        """kubectl's spelling: ``machinedeployments.cluster.x-k8s.io/v1beta2`` (core: ``configmaps/v1``)."""
        return f"{self.plural}.{self.group}/{self.version}" if self.group else f"{self.plural}/{self.version}"


KARMADA_CLUSTERS = Resource("cluster.karmada.io", "v1alpha1", "clusters", False, "Cluster")
FEDERATED_HPAS = Resource("autoscaling.karmada.io", "v1alpha1", "federatedhpas", True, "FederatedHPA")
RESOURCE_BINDINGS = Resource("work.karmada.io", "v1alpha2", "resourcebindings", True, "ResourceBinding")
PROPAGATION_POLICIES = Resource(
    "policy.karmada.io", "v1alpha1", "propagationpolicies", True, "PropagationPolicy"
)
WORKLOAD_REBALANCERS = Resource(
    "apps.karmada.io", "v1alpha1", "workloadrebalancers", False, "WorkloadRebalancer"
)

_CAPI = "cluster.x-k8s.io"
MACHINE_DEPLOYMENTS = Resource(_CAPI, "v1beta2", "machinedeployments", True, "MachineDeployment")
MACHINE_POOLS = Resource(_CAPI, "v1beta2", "machinepools", True, "MachinePool")
MACHINES = Resource(_CAPI, "v1beta2", "machines", True, "Machine")
MACHINE_DEPLOYMENTS_V1BETA1 = Resource(_CAPI, "v1beta1", "machinedeployments", True, "MachineDeployment")
MACHINE_POOLS_V1BETA1 = Resource(_CAPI, "v1beta1", "machinepools", True, "MachinePool")
MACHINES_V1BETA1 = Resource(_CAPI, "v1beta1", "machines", True, "Machine")

# Built-in APIs: burstd's state and Lease (management cluster) and its Events (both API servers).
CONFIGMAPS = Resource("", "v1", "configmaps", True, "ConfigMap")
LEASES = Resource("coordination.k8s.io", "v1", "leases", True, "Lease")
EVENTS = Resource("events.k8s.io", "v1", "events", True, "Event")
