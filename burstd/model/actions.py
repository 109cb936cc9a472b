"""Decisions are data: the plan ``decide`` returns is a tuple of these frozen actions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class ScalePool:
    """Set a pool's node count (the backend's ``/scale`` subresource or the node pool's desired size)."""

    pool: str
    nodes: int
    previous: int
    reason: str


@dataclass(frozen=True, slots=True)
class MarkMachines:
    """Mark the machines to remove first (``cluster.x-k8s.io/delete-machine``), before a scale-in."""

    pool: str
    machines: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class SetWeights:
    """Write a PropagationPolicy's ``staticWeightList``: cluster name -> weight (every weight >= 1)."""

    workload: str
    weights: tuple[tuple[str, int], ...]
    #: The split these weights produce for ``replicas`` under Karmada's Webster division.
    intended: tuple[tuple[str, int], ...]
    replicas: int
    reason: str


@dataclass(frozen=True, slots=True)
class Rebalance:
    """Create a Karmada WorkloadRebalancer so replicas move back to the base (overflow mode)."""

    workloads: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Hold:
    """Nothing is changed this round, and why."""

    reason: str


class Severity(StrEnum):
    INFO = "Info"
    WARNING = "Warning"
    CRITICAL = "Critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a human should know: a limit reached, a provisioning failure, a leaked instance."""

    severity: Severity
    code: str  # CamelCase reason, as in Kubernetes Events: LimitReached, ProvisioningFailed, ...
    reason: str


Action = ScalePool | MarkMachines | SetWeights | Rebalance | Hold | Alert


def describe(action: Action) -> str:
    """One line a person can read in a log, an Event or the simulator's trace."""
    match action:
        case ScalePool(pool=pool, nodes=nodes, previous=previous, reason=reason):
            return f"scale pool {pool}: {previous} -> {nodes} nodes ({reason})"
        case MarkMachines(pool=pool, machines=machines, reason=reason):
            return f"mark for deletion in {pool}: {', '.join(machines)} ({reason})"
        case SetWeights(workload=workload, weights=weights, reason=reason):
            listed = ", ".join(f"{c}={w}" for c, w in weights)
            return f"set weights of {workload}: {listed} ({reason})"
        case Rebalance(workloads=workloads, reason=reason):
            return f"rebalance {', '.join(workloads)} ({reason})"
        case Hold(reason=reason):
            return f"hold ({reason})"
        case Alert(severity=severity, code=code, reason=reason):
            return f"alert {severity.value}/{code}: {reason}"
