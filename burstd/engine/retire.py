"""Pools and workloads removed from a policy on reload: wound down before they are forgotten.

A pool removed from a policy may still hold cloud nodes, and a removed workload may still have replicas on
the cloud: dropping them at once would leave the nodes billing and move the replicas in one jump. Instead
:func:`retire` records each one in the state with its spec as it was (``BurstState.retiring_pools`` and
``retiring_workloads``, persisted, so a restart finishes the job), and :func:`effective` gives the policy
the engine, the observation and the actuator work on: the policy plus each retiring pool with
``nodes: {min: 0, max: 0}`` and each retiring workload.

``decide`` then winds them down like the end of a burst: a retiring pool's cloud share moves back by
``drain.maxStep`` per ``drain.interval`` and its nodes go once their replicas have left; a retiring
workload's cloud replicas move back to the base by ``drain.maxStep`` of its replicas per
``drain.interval``. A pool is forgotten once it is seen empty (no node asked for, none existing) or not
seen at all (its object is gone); a workload once its weights list no cloud cluster and none of its
replicas runs there (or its PropagationPolicy is gone).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from burstd.model.state import BurstState
from burstd.policy.spec import BurstPolicy, NodeRange, PoolSpec, WorkloadSpec

__all__ = ["effective", "finish", "pool_target", "retire", "retiring_pools", "retiring_workloads"]

_NO_NODES = NodeRange(min=0, max=0)


S = TypeVar("S", bound=BaseModel)


def pool_target(pool: PoolSpec) -> str:
    """The object a pool scales: two pools with the same target manage the same nodes."""
    if pool.ref is not None:
        return f"{pool.backend} {pool.ref.key}"
    if pool.node_pool is not None:
        return f"{pool.backend} {pool.node_pool.cluster_id}/{pool.node_pool.node_pool_id}"
    return f"{pool.backend} {pool.name}"


def _doc(spec: PoolSpec | WorkloadSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def _specs(docs: Mapping[str, Any], model: type[S], field: str, what: str) -> dict[str, S]:
    out: dict[str, S] = {}
    for key, doc in docs.items():
        try:
            out[key] = model.model_validate(doc)
        except ValidationError as exc:
            raise ValueError(f"burst state field {field}.{key} is not a {what} spec: {exc}") from None
    return out


def retiring_pools(state: BurstState) -> dict[str, PoolSpec]:
    """The retiring pools' specs. Raises ValueError naming a spec that does not parse."""
    return _specs(state.retiring_pools, PoolSpec, "retiringPools", "pool")


def retiring_workloads(state: BurstState) -> dict[str, WorkloadSpec]:
    """The retiring workloads' specs. Raises ValueError naming a spec that does not parse."""
    return _specs(state.retiring_workloads, WorkloadSpec, "retiringWorkloads", "workload")


def retire(
    old: BurstPolicy,
    new: BurstPolicy,
    state: BurstState,
    *,
    taken_pools: Set[str] = frozenset(),
    taken_workloads: Set[str] = frozenset(),
) -> BurstState:
    """The state once the running policy ``old`` is replaced by ``new`` (both as written in the files).

    Pools and workloads of ``old`` that ``new`` lacks start retiring; those ``new`` lists again stop
    retiring (``new`` manages them from now on). One that another policy now manages is handed over
    instead: ``taken_pools`` holds the :func:`pool_target` of every pool and ``taken_workloads`` the key of
    every workload of the other policies.
    """
    new_pools = {p.name for p in new.spec.burst.pools}
    new_keys = {w.propagation_policy.key for w in new.spec.workloads}
    pools = {
        name: state.retiring_pools[name]
        for name, spec in retiring_pools(state).items()
        if name not in new_pools and pool_target(spec) not in taken_pools
    }
    for pool in old.spec.burst.pools:
        if pool.name not in new_pools and pool_target(pool) not in taken_pools:
            pools[pool.name] = _doc(pool)
    workloads = {
        key: doc
        for key, doc in state.retiring_workloads.items()
        if key not in new_keys and key not in taken_workloads
    }
    for wl in old.spec.workloads:
        key = wl.propagation_policy.key
        if key not in new_keys and key not in taken_workloads:
            workloads[key] = _doc(wl)
    if pools == dict(state.retiring_pools) and workloads == dict(state.retiring_workloads):
        return state
    return replace(state, retiring_pools=pools, retiring_workloads=workloads)


_CACHE: dict[int, tuple[BurstPolicy, BurstState, BurstPolicy]] = {}


def effective(policy: BurstPolicy, state: BurstState, *, gone: Set[str] = frozenset()) -> BurstPolicy:
    """``policy`` plus the state's retiring pools (with no node wanted: ``nodes: {min: 0, max: 0}``) and
    retiring workloads, after the policy's own. Idempotent: a retiring pool or workload already in
    ``policy`` is not added twice (a retiring pool there gets ``nodes: {min: 0, max: 0}``). Pools and
    workloads named in ``gone`` (pool names, workload keys: retirements just over) are left out."""
    if gone:
        spec = policy.spec
        pools = [p for p in spec.burst.pools if p.name not in gone]
        workloads = [w for w in spec.workloads if w.propagation_policy.key not in gone]
        burst = spec.burst.model_copy(update={"pools": pools})
        update = {"spec": spec.model_copy(update={"burst": burst, "workloads": workloads})}
        return effective(policy.model_copy(update=update), state)
    if not state.retiring_pools and not state.retiring_workloads:
        return policy
    hit = _CACHE.get(id(policy))
    if (
        hit is not None
        and hit[0] is policy
        and hit[1].retiring_pools == state.retiring_pools
        and hit[1].retiring_workloads == state.retiring_workloads
    ):
        return hit[2]
    spec = policy.spec
    retiring = retiring_pools(state)
    pools = [p.model_copy(update={"nodes": _NO_NODES}) if p.name in retiring else p for p in spec.burst.pools]
    present = {p.name for p in pools}
    pools += [
        p.model_copy(update={"nodes": _NO_NODES})
        for name, p in sorted(retiring.items())
        if name not in present
    ]
    keys = {w.propagation_policy.key for w in spec.workloads}
    workloads = list(spec.workloads) + [
        w for key, w in sorted(retiring_workloads(state).items()) if key not in keys
    ]
    burst = spec.burst.model_copy(update={"pools": pools})
    out = policy.model_copy(update={"spec": spec.model_copy(update={"burst": burst, "workloads": workloads})})
    if len(_CACHE) >= 256:
        _CACHE.clear()
    _CACHE[id(policy)] = (policy, state, out)
    return out


def finish(state: BurstState, pools_done: Set[str], workloads_done: Set[str]) -> BurstState:
    """``state`` with the retirements that are over dropped; a finished workload's weights and share are
    forgotten too (burstd no longer manages them)."""
    if not pools_done and not workloads_done:
        return state
    return replace(
        state,
        retiring_pools={n: d for n, d in state.retiring_pools.items() if n not in pools_done},
        retiring_workloads={k: d for k, d in state.retiring_workloads.items() if k not in workloads_done},
        weights={k: w for k, w in state.weights.items() if k not in workloads_done},
        shifted={k: n for k, n in state.shifted.items() if k not in workloads_done},
    )
