"""Burst state: one per policy, persisted by the daemon, carried between ``decide`` calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    IDLE = "Idle"
    PROVISIONING = "Provisioning"
    SHIFTING = "Shifting"
    BURSTING = "Bursting"
    DRAINING = "Draining"
    RELEASING = "Releasing"


@dataclass(frozen=True, slots=True)
class PoolCost:
    """What one pool billed: node-seconds, their cost at the pool's price, and its currency.

    ``unpriced_seconds`` are node-seconds (included in ``node_seconds``) that had no price when they were
    accounted (a provider pool with no quote yet): they are in no ``cost``, and the cost report shows them.
    """

    node_seconds: float = 0.0
    cost: float = 0.0
    currency: str = ""
    unpriced_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class BurstRecord:
    """One burst's bill: from the evaluation that started it (its id) to the one that returned to Idle
    (``end`` None while it runs), per pool."""

    start: float
    end: float | None = None
    pools: Mapping[str, PoolCost] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ledger:
    """Cloud node-seconds and their cost, accounted per pool from what the cloud API reports
    (see burstd.engine.ledger). ``node_seconds`` and ``cost`` are the policy's running totals (also
    from states saved before per-pool costs); ``pools`` the per-pool totals since per-pool accounting."""

    node_seconds: Mapping[str, float] = field(default_factory=dict)
    cost: float = 0.0
    accounted_until: float | None = None
    pools: Mapping[str, PoolCost] = field(default_factory=dict)
    #: pool -> cloud nodes seen at ``accounted_until`` (a node gone by the next evaluation is charged to it)
    seen: Mapping[str, int] = field(default_factory=dict)
    #: the burst in progress, if any
    burst: BurstRecord | None = None
    #: closed bursts, oldest first, bounded (burstd.engine.ledger.MAX_CLOSED_BURSTS / MAX_BURST_AGE_S)
    bursts: tuple[BurstRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class History:
    """Demand history for the predictive mode and the stabilization window: one bucket per ``step``
    seconds, newest last (see burstd.engine.forecast)."""

    step: float = 300.0
    start: float | None = None  # time of the first bucket
    values: tuple[float, ...] = ()
    #: the last sample, which holds until the next one (None in states saved before it was kept)
    last: float | None = None
    #: running sums derived from ``values`` (burstd.engine.forecast.Sums): never saved, rebuilt when needed
    sums: object | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BurstState:
    phase: Phase = Phase.IDLE
    phase_since: float = 0.0
    burst_started_at: float | None = None
    #: condition id -> time since which the condition has held without interruption
    holding_since: Mapping[str, float] = field(default_factory=dict)
    #: nodes burstd asked each pool for
    pool_targets: Mapping[str, int] = field(default_factory=dict)
    #: cloud replicas per workload that the weights written by burstd send to the cloud
    shifted: Mapping[str, int] = field(default_factory=dict)
    #: the staticWeightList burstd last wrote, per workload (cluster -> weight)
    weights: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: alert codes currently raised (an Alert action is emitted only when a code is newly raised)
    alerts: tuple[str, ...] = ()
    #: cloud replica target of the current burst (after headroom and limits)
    target_cloud_replicas: int = 0
    last_shift_at: float | None = None
    last_shift_direction: int = 0  # +1 towards the cloud, -1 back to the base
    #: pool name -> since when the pool has been waiting for nodes to become Ready
    provisioning_since: Mapping[str, float] = field(default_factory=dict)
    #: pool name -> time until which the pool is skipped (stock-out, failed launch, timeout)
    backoff_until: Mapping[str, float] = field(default_factory=dict)
    rebalance_requested_at: float | None = None
    #: base cluster -> replicas of the managed workloads its Karmada resource summary counted when burstd
    #: last moved replicas (``last_shift_at``, ``rebalance_requested_at``): a summary first seen before that
    #: move still counts these, not the scheduler's new placement (see burstd.engine.capacity.counted)
    replicas_in_summaries: Mapping[str, int] = field(default_factory=dict)
    bursts: int = 0
    ledger: Ledger = field(default_factory=Ledger)
    history: History = field(default_factory=History)
    #: pools removed from the policy that may still hold cloud nodes: pool name -> its spec as it was in
    #: the policy (a camelCase mapping), kept until the pool is seen empty (see burstd.engine.retire)
    retiring_pools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: workloads removed from the policy that may still have replicas on the cloud: workload key -> its
    #: spec as it was in the policy, kept until its replicas are back on the base
    retiring_workloads: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible form for persistence (the inverse of :meth:`from_dict`)."""
        return {
            "phase": self.phase.value,
            "phaseSince": self.phase_since,
            "burstStartedAt": self.burst_started_at,
            "holdingSince": dict(self.holding_since),
            "poolTargets": dict(self.pool_targets),
            "shifted": dict(self.shifted),
            "weights": {k: dict(v) for k, v in self.weights.items()},
            "alerts": list(self.alerts),
            "targetCloudReplicas": self.target_cloud_replicas,
            "lastShiftAt": self.last_shift_at,
            "lastShiftDirection": self.last_shift_direction,
            "provisioningSince": dict(self.provisioning_since),
            "backoffUntil": dict(self.backoff_until),
            "rebalanceRequestedAt": self.rebalance_requested_at,
            "replicasInSummaries": dict(self.replicas_in_summaries),
            "bursts": self.bursts,
            "ledger": _ledger_dict(self.ledger),
            "history": _history_dict(self.history),
            "retiringPools": {k: dict(v) for k, v in self.retiring_pools.items()},
            "retiringWorkloads": {k: dict(v) for k, v in self.retiring_workloads.items()},
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> BurstState:
        """Rebuild a state saved by :meth:`to_dict`. Raises ValueError naming the missing or bad field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"burst state must be a mapping, got {type(data).__name__}")
        ledger = _field(data, "ledger", _mapping, {})
        history = _field(data, "history", _mapping, {})
        return BurstState(
            phase=_field(data, "phase", Phase),
            phase_since=_field(data, "phaseSince", float),
            burst_started_at=_field(data, "burstStartedAt", _opt_float, None),
            holding_since=_field(data, "holdingSince", _floats, {}),
            pool_targets=_field(data, "poolTargets", _ints, {}),
            shifted=_field(data, "shifted", _ints, {}),
            weights=_field(data, "weights", lambda v: {str(k): _ints(w) for k, w in _mapping(v).items()}, {}),
            alerts=_field(data, "alerts", lambda v: tuple(str(a) for a in v), ()),
            target_cloud_replicas=_field(data, "targetCloudReplicas", int, 0),
            last_shift_at=_field(data, "lastShiftAt", _opt_float, None),
            last_shift_direction=_field(data, "lastShiftDirection", int, 0),
            provisioning_since=_field(data, "provisioningSince", _floats, {}),
            backoff_until=_field(data, "backoffUntil", _floats, {}),
            rebalance_requested_at=_field(data, "rebalanceRequestedAt", _opt_float, None),
            replicas_in_summaries=_field(data, "replicasInSummaries", _ints, {}),
            bursts=_field(data, "bursts", int, 0),
            ledger=_ledger(ledger),
            history=History(
                step=_field(history, "step", float, 300.0, "history."),
                start=_field(history, "start", _opt_float, None, "history."),
                values=_field(history, "values", lambda v: tuple(float(x) for x in v), (), "history."),
                last=_field(history, "last", _opt_float, None, "history."),
            ),
            retiring_pools=_field(data, "retiringPools", _specs, {}),
            retiring_workloads=_field(data, "retiringWorkloads", _specs, {}),
        )


def _history_dict(history: History) -> dict[str, Any]:
    out: dict[str, Any] = {"step": history.step, "start": history.start, "values": list(history.values)}
    if history.last is not None:  # absent from states saved before it was kept
        out["last"] = history.last
    return out


def _ledger_dict(ledger: Ledger) -> dict[str, Any]:
    return {
        "nodeSeconds": dict(ledger.node_seconds),
        "cost": ledger.cost,
        "accountedUntil": ledger.accounted_until,
        "pools": _pool_costs_dict(ledger.pools),
        "seen": dict(ledger.seen),
        "burst": None if ledger.burst is None else _burst_dict(ledger.burst),
        "bursts": [_burst_dict(b) for b in ledger.bursts],
    }


def _pool_costs_dict(pools: Mapping[str, PoolCost]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, c in pools.items():
        entry: dict[str, Any] = {"nodeSeconds": c.node_seconds, "cost": c.cost, "currency": c.currency}
        if c.unpriced_seconds:  # rare: left out when 0 to keep the state small
            entry["unpricedSeconds"] = c.unpriced_seconds
        out[name] = entry
    return out


def _burst_dict(burst: BurstRecord) -> dict[str, Any]:
    return {"start": burst.start, "end": burst.end, "pools": _pool_costs_dict(burst.pools)}


def _ledger(data: Mapping[str, Any]) -> Ledger:
    """The ledger of a saved state; the fields after ``accountedUntil`` are absent from older states."""
    p = "ledger."
    return Ledger(
        node_seconds=_field(data, "nodeSeconds", _floats, {}, p),
        cost=_field(data, "cost", float, 0.0, p),
        accounted_until=_field(data, "accountedUntil", _opt_float, None, p),
        pools=_field(data, "pools", _pool_costs, {}, p),
        seen=_field(data, "seen", _ints, {}, p),
        burst=_field(data, "burst", _burst, None, p),
        bursts=_field(data, "bursts", lambda v: tuple(_burst(b) for b in _list(v)), (), p),
    )


def _pool_costs(value: Any) -> dict[str, PoolCost]:
    out = {}
    for name, raw in _mapping(value).items():
        c = _mapping(raw)
        out[str(name)] = PoolCost(
            node_seconds=float(c.get("nodeSeconds", 0.0)),
            cost=float(c.get("cost", 0.0)),
            currency=str(c.get("currency", "")),
            unpriced_seconds=float(c.get("unpricedSeconds", 0.0)),
        )
    return out


def _burst(value: Any) -> BurstRecord:
    b = _mapping(value)
    if "start" not in b:
        raise ValueError("a burst record has no start")
    end = b.get("end")
    return BurstRecord(
        start=float(b["start"]),
        end=None if end is None else float(end),
        pools=_pool_costs(b.get("pools", {})),
    )


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


_MISSING = object()


def _field(data: Mapping[str, Any], key: str, convert: Any, default: Any = _MISSING, prefix: str = "") -> Any:
    if key not in data or (data[key] is None and default is not _MISSING):
        if default is _MISSING:
            raise ValueError(f"burst state is missing field '{prefix}{key}'")
        return default
    try:
        return convert(data[key])
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"burst state field {prefix}{key} is malformed: {data[key]!r} ({exc})") from None


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    return value


def _floats(value: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in _mapping(value).items()}


def _ints(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in _mapping(value).items()}


def _specs(value: Any) -> dict[str, dict[str, Any]]:
    return {str(k): dict(_mapping(v)) for k, v in _mapping(value).items()}


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
