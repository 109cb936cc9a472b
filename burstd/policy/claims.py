"""One owner per target: the objects a BurstPolicy writes, and which policy may write each one.

Every policy writes as the same field manager (``burstd``), so two policies naming one PropagationPolicy,
MachineDeployment, MachinePool or native node pool would silently undo each other's writes. A target
belongs to one policy:

- ``burstd policy check`` rejects a second claim (:func:`overlaps`), naming both places;
- ``burstd run`` runs the first claimant and holds the later policy (:func:`refusals`). "First" is the
  policy already running with that target (it keeps it across reloads); among policies that start
  together, the first in the order they are read: the ``policies`` paths in the order given, each
  directory's files sorted by name, documents in file order.

A ``spec.dryRun`` policy writes nothing and owns nothing: it may watch targets another policy manages.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from burstd.policy.spec import BurstPolicy, Loc, Problem

__all__ = [
    "NODE_POOL_KINDS",
    "ONE_OWNER",
    "Claim",
    "Conflict",
    "Target",
    "claimed",
    "claims_of",
    "overlaps",
    "refusals",
    "repeated",
]

#: What to do about a conflict.
ONE_OWNER = "one object is managed by one policy: remove it from one of them"

#: How a native node pool backend is named in messages.
NODE_POOL_KINDS = {"tke-nodepool": "TKE node pool", "ack-nodepool": "ACK node pool"}


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """An object burstd writes: ``kind`` is ``PropagationPolicy`` (on the Karmada API server),
    ``MachineDeployment`` or ``MachinePool`` (management cluster), or a native node pool backend
    (``tke-nodepool``, ``ack-nodepool``); ``key`` is ``namespace/name``, or ``clusterId/nodePoolId``."""

    kind: str
    key: str

    def __str__(self) -> str:
        return f"{NODE_POOL_KINDS.get(self.kind, self.kind)} {self.key}"


@dataclass(frozen=True, slots=True)
class Claim:
    """Policy ``policy`` names ``target`` at ``loc`` (a path of keys and indexes in its document)."""

    target: Target
    policy: str
    loc: Loc

    @property
    def path(self) -> str:
        return Problem(self.loc, "").path


@dataclass(frozen=True, slots=True)
class Conflict:
    """``later`` names a target ``first`` already has."""

    first: Claim
    later: Claim

    @property
    def target(self) -> Target:
        return self.first.target

    def message(self) -> str:
        """Which policy names what where, and who manages it already (for logs and Events)."""
        return (
            f"policy {self.later.policy} ({self.later.path}) names {self.target}, which policy "
            f"{self.first.policy} ({self.first.path}) already manages"
        )


def claims_of(policy: BurstPolicy) -> list[Claim]:
    """Every target ``policy`` writes, in document order: its workloads' PropagationPolicies, then its
    pools' MachineDeployments/MachinePools or native node pools."""
    name = policy.name
    out = [
        Claim(
            Target("PropagationPolicy", w.propagation_policy.key),
            name,
            ("spec", "workloads", i, "propagationPolicy"),
        )
        for i, w in enumerate(policy.spec.workloads)
    ]
    for i, pool in enumerate(policy.spec.burst.pools):
        at: Loc = ("spec", "burst", "pools", i)
        if pool.ref is not None and pool.backend == "capi-machinedeployment":
            out.append(Claim(Target("MachineDeployment", pool.ref.key), name, (*at, "ref")))
        elif pool.ref is not None and pool.backend == "capi-machinepool":
            out.append(Claim(Target("MachinePool", pool.ref.key), name, (*at, "ref")))
        elif pool.node_pool is not None and pool.backend in NODE_POOL_KINDS:
            key = f"{pool.node_pool.cluster_id}/{pool.node_pool.node_pool_id}"
            out.append(Claim(Target(pool.backend, key), name, (*at, "nodePool")))
    return out


def claimed(policy: BurstPolicy) -> list[Claim]:
    """The targets ``policy`` owns: all it names, or none for a ``spec.dryRun`` policy (it never writes,
    so it may watch a workload another policy manages)."""
    return [] if policy.spec.dry_run else claims_of(policy)


def repeated(policy: BurstPolicy) -> list[Problem]:
    """Pools of one policy that name the same node group (a workload listed twice is reported by the
    policy's own checks)."""
    seen: dict[Target, Claim] = {}
    problems: list[Problem] = []
    for claim in claims_of(policy):
        if claim.target.kind == "PropagationPolicy":
            continue
        first = seen.setdefault(claim.target, claim)
        if first is not claim:
            problems.append(
                Problem(
                    claim.loc,
                    f"{claim.target} is already the target of {first.path}; each pool must name its own "
                    "node group",
                )
            )
    return problems


def overlaps(policies: Iterable[BurstPolicy]) -> list[Conflict]:
    """Every claim on a target an earlier policy (in ``policies`` order) already names, against the first
    claim on it."""
    first: dict[Target, Claim] = {}
    out: list[Conflict] = []
    for policy in policies:
        for claim in claimed(policy):
            owner = first.setdefault(claim.target, claim)
            if owner.policy != claim.policy:
                out.append(Conflict(owner, claim))
    return out


def refusals(
    policies: Sequence[BurstPolicy], owners: Mapping[Target, str] | None = None
) -> dict[str, list[Conflict]]:
    """The policies to hold, each with the conflicts that hold it.

    ``owners`` maps each target to the policy that manages it now (the running policies that are not
    held): a policy naming a target another policy owns is considered after every other policy, so a
    running policy keeps its targets when a conflicting one is added or edited. Otherwise the order of
    ``policies`` decides. A held policy claims nothing, so it never holds a third one.
    """
    owned = dict(owners or {})

    def trespasses(policy: BurstPolicy) -> bool:
        return any(owned.get(c.target, policy.name) != policy.name for c in claimed(policy))

    ranked = sorted(enumerate(policies), key=lambda item: (trespasses(item[1]), item[0]))
    taken: dict[Target, Claim] = {}
    held: dict[str, list[Conflict]] = {}
    for _, policy in ranked:
        claims = claimed(policy)
        lost = [
            Conflict(taken[c.target], c)
            for c in claims
            if c.target in taken and taken[c.target].policy != policy.name
        ]
        if lost:
            held[policy.name] = lost
            continue
        for claim in claims:
            taken.setdefault(claim.target, claim)
    return {p.name: held[p.name] for p in policies if p.name in held}
