"""What burstd observed of Karmada and Cluster API objects, as frozen values (built by ``burstd.kube.parse``).

``key`` is the watch cache's key (``namespace/name``); ``observed_at`` is when the cache received the
object (seconds since the epoch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from burstd.model.world import Resources

ScalableKind = Literal["MachineDeployment", "MachinePool"]


@dataclass(frozen=True, slots=True)
class FederatedHPAInfo:
    """A Karmada FederatedHPA: its target, bounds and what its status says."""

    key: str
    target_api_version: str
    target_kind: str
    target_name: str
    min_replicas: int
    max_replicas: int
    current_replicas: int | None
    desired_replicas: int | None
    #: condition ScalingLimited=True (desired replicas clamped to min or max)
    scaling_limited: bool
    observed_at: float


@dataclass(frozen=True, slots=True)
class BindingInfo:
    """A Karmada ResourceBinding: the template it binds, its replicas and where the scheduler put them."""

    key: str
    #: "namespace/name" of the PropagationPolicy (from the binding's annotations), None when not set
    policy_key: str | None
    resource_kind: str
    resource_name: str
    resource_namespace: str
    resource_api_version: str
    #: the template's UID (spec.resource.uid): Karmada's tie order when it divides replicas
    resource_uid: str
    replicas: int
    #: per-replica requests (spec.replicaRequirements.resourceRequest)
    request: Resources
    #: the scheduling result: cluster -> replicas (spec.clusters)
    clusters: Mapping[str, int]
    #: cluster -> ready replicas of the member workload (status.aggregatedStatus)
    ready_by_cluster: Mapping[str, int]
    #: condition Scheduled: True, False, or None when absent or Unknown
    scheduled: bool | None
    scheduled_reason: str | None
    generation: int
    scheduler_observed_generation: int
    observed_at: float


@dataclass(frozen=True, slots=True)
class PropagationPolicyInfo:
    """A Karmada PropagationPolicy's replica scheduling, and who owns its static weight list."""

    key: str
    replica_scheduling_type: str  # Divided | Duplicated
    division_preference: str | None  # Weighted | Aggregated
    dynamic_weight: str | None
    #: cluster -> weight from the burstd-shaped staticWeightList entries (one cluster name, nothing else)
    weights: Mapping[str, int]
    #: every staticWeightList entry is burstd-shaped (True for an absent or empty list)
    weights_shape_ok: bool
    #: field managers that own spec.placement.replicaScheduling.weightPreference.staticWeightList
    weights_managers: tuple[str, ...]
    resource_version: str
    observed_at: float


@dataclass(frozen=True, slots=True)
class ScalableInfo:
    """A Cluster API MachineDeployment or MachinePool (v1beta2 or v1beta1)."""

    key: str
    kind: ScalableKind
    api_version: str
    replicas: int | None  # spec.replicas
    status_replicas: int | None
    ready_replicas: int | None
    paused: bool
    #: carries both Cluster Autoscaler min-size and max-size annotations: CA owns its replicas
    autoscaler_managed: bool
    uid: str
    observed_at: float


@dataclass(frozen=True, slots=True)
class MachineObs:
    """A Cluster API Machine as burstd sees it from the management cluster."""

    key: str
    name: str
    namespace: str
    owner_kind: ScalableKind | None  # from the deployment-name / pool-name label
    owner_name: str | None
    ready: bool  # condition Ready=True
    deleting: bool  # metadata.deletionTimestamp is set
    failed: bool  # a failure reason/message, or phase Failed
    marked_for_deletion: bool  # annotation cluster.x-k8s.io/delete-machine
    node_name: str | None
    created_at: float
    observed_at: float
    #: ``spec.providerID`` (e.g. ``tencentcloud:///ap-guangzhou-3/ins-abc``), once the provider set it
    provider_id: str | None = None
