"""What a policy implies that does not change between decisions, computed once per policy object."""

from __future__ import annotations

from dataclasses import dataclass

from burstd.policy.spec import BurstPolicy, PoolSpec


@dataclass(frozen=True, slots=True)
class Statics:
    keys: tuple[str, ...]  # workload keys, in policy order
    key_set: frozenset[str]
    base: tuple[str, ...]
    base_set: frozenset[str]
    pools: tuple[PoolSpec, ...]
    cloud_clusters: tuple[str, ...]  # sorted
    mins: dict[str, int]


_CACHE: dict[int, tuple[BurstPolicy, Statics]] = {}


def statics(policy: BurstPolicy) -> Statics:
    """The policy's constants. Policies are frozen, so the answer for one object never changes; the
    cache keeps the policy alive with its entry, so an id is never reused while cached."""
    hit = _CACHE.get(id(policy))
    if hit is not None and hit[0] is policy:
        return hit[1]
    spec = policy.spec
    keys = tuple(w.propagation_policy.key for w in spec.workloads)
    pools = tuple(spec.burst.pools)
    value = Statics(
        keys=keys,
        key_set=frozenset(keys),
        base=tuple(spec.base.clusters),
        base_set=frozenset(spec.base.clusters),
        pools=pools,
        cloud_clusters=tuple(sorted({p.cluster for p in pools})),
        mins={p.name: p.nodes.min for p in pools},
    )
    if len(_CACHE) >= 256:
        _CACHE.clear()
    _CACHE[id(policy)] = (policy, value)
    return value
