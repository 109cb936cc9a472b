"""What a cloud provider reports, as plain values: quotes, instances and native node pools. The provider
protocol and its errors are in ``burstd.cloud.provider``; these types are here so that the engine and the
pure observers can use them without importing the plugin machinery."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["POOL_TAG", "Instance", "InstanceState", "NodePool", "NodePoolMember", "Quote"]


@dataclass(frozen=True, slots=True)
class Quote:
    """What launching nodes in a pool would meet right now."""

    #: the pool's instance type can be launched in its zone now
    in_stock: bool
    #: how many more nodes the account's quota allows in this pool (0 when the quota is used up)
    quota_headroom_nodes: int
    price_per_node_hour: float
    #: ISO 4217 code, e.g. "CNY"
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.quota_headroom_nodes, bool) or not isinstance(self.quota_headroom_nodes, int):
            raise TypeError(f"quota_headroom_nodes must be an int, got {self.quota_headroom_nodes!r}")
        if self.quota_headroom_nodes < 0:
            raise ValueError(f"quota_headroom_nodes must be >= 0, got {self.quota_headroom_nodes}")
        if not math.isfinite(self.price_per_node_hour) or self.price_per_node_hour < 0:
            raise ValueError(
                f"price_per_node_hour must be a finite number >= 0, got {self.price_per_node_hour}"
            )
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError(f"currency must be an ISO 4217 code such as 'CNY', got {self.currency!r}")

    def can_launch(self, nodes: int) -> bool:
        """True when ``nodes`` more nodes are in stock and within quota."""
        return self.in_stock and nodes <= self.quota_headroom_nodes


#: The tag every burstd-managed cloud instance carries, its value the burstd pool's name. Cluster API
#: machine templates and native node pools are configured to put it on their instances (docs/providers.md);
#: ``CloudProvider.instances`` finds a pool's instances by it.
POOL_TAG = "burstd.io/pool"


class InstanceState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class Instance:
    """One cloud instance as the cloud API reports it (the truth that catches leaks and stuck launches)."""

    id: str
    #: the burstd pool name the instance belongs to
    pool: str
    state: InstanceState
    #: seconds since the epoch
    created_at: float

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("instance id must not be empty")
        # Accept the plain string from an SDK response, keep the enum.
        object.__setattr__(self, "state", InstanceState(self.state))

    @property
    def alive(self) -> bool:
        """Still billed or about to be: anything but terminated."""
        return self.state is not InstanceState.TERMINATED


@dataclass(frozen=True, slots=True)
class NodePoolMember:
    """One node of a native node pool (TKE, ACK) as the cloud's node-pool API reports it."""

    instance_id: str
    #: the Kubernetes Node's name, once the instance joined the cluster
    node_name: str | None
    #: the node joined and is Ready (TKE ``InstanceState`` running / ACK ``state`` running)
    ready: bool
    #: seconds since the epoch
    created_at: float
    #: being removed or released
    deleting: bool = False
    #: the launch or the join failed
    failed: bool = False

    def __post_init__(self) -> None:
        if not self.instance_id:
            raise ValueError("node pool member instance_id must not be empty")


@dataclass(frozen=True, slots=True)
class NodePool:
    """A native node pool: the desired node count the cloud's autoscaling group holds and its nodes."""

    id: str
    desired: int
    members: tuple[NodePoolMember, ...]
    #: the node pool is managed by the cloud's own autoscaler (TKE ``EnableAutoscale``, ACK
    #: ``auto_scaling.enable``): burstd must not fight it, like a Cluster Autoscaler MachineDeployment
    autoscaling: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.desired, bool) or not isinstance(self.desired, int) or self.desired < 0:
            raise ValueError(f"node pool desired must be an int >= 0, got {self.desired!r}")
