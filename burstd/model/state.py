"""Burst state: one per policy, persisted by the daemon, carried between ``decide`` calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
class Ledger:
    """Cloud node-seconds and their cost, accounted per pool from what the cloud API reports."""

    node_seconds: Mapping[str, float] = field(default_factory=dict)
    cost: float = 0.0
    accounted_until: float | None = None


@dataclass(frozen=True, slots=True)
class History:
    """Demand history for the predictive mode: one bucket per ``step`` seconds, newest last."""

    step: float = 300.0
    start: float | None = None  # time of the first bucket
    values: tuple[float, ...] = ()


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
    provisioning_since: float | None = None
    #: pool name -> time until which the pool is skipped (stock-out, failed launch, timeout)
    backoff_until: Mapping[str, float] = field(default_factory=dict)
    rebalance_requested_at: float | None = None
    bursts: int = 0
    ledger: Ledger = field(default_factory=Ledger)
    history: History = field(default_factory=History)

    def with_phase(self, phase: Phase, now: float) -> BurstState:
        if phase == self.phase:
            return self
        return replace(self, phase=phase, phase_since=now)

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
            "provisioningSince": self.provisioning_since,
            "backoffUntil": dict(self.backoff_until),
            "rebalanceRequestedAt": self.rebalance_requested_at,
            "bursts": self.bursts,
            "ledger": {
                "nodeSeconds": dict(self.ledger.node_seconds),
                "cost": self.ledger.cost,
                "accountedUntil": self.ledger.accounted_until,
            },
            "history": {
                "step": self.history.step,
                "start": self.history.start,
                "values": list(self.history.values),
            },
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> BurstState:
        """Rebuild a state saved by :meth:`to_dict`. Raises ValueError naming the bad field."""
        try:
            ledger = data.get("ledger", {})
            history = data.get("history", {})
            return BurstState(
                phase=Phase(data["phase"]),
                phase_since=float(data["phaseSince"]),
                burst_started_at=_opt_float(data.get("burstStartedAt")),
                holding_since={str(k): float(v) for k, v in data.get("holdingSince", {}).items()},
                pool_targets={str(k): int(v) for k, v in data.get("poolTargets", {}).items()},
                shifted={str(k): int(v) for k, v in data.get("shifted", {}).items()},
                weights={
                    str(k): {str(c): int(w) for c, w in v.items()} for k, v in data.get("weights", {}).items()
                },
                alerts=tuple(str(a) for a in data.get("alerts", ())),
                target_cloud_replicas=int(data.get("targetCloudReplicas", 0)),
                last_shift_at=_opt_float(data.get("lastShiftAt")),
                last_shift_direction=int(data.get("lastShiftDirection", 0)),
                provisioning_since=_opt_float(data.get("provisioningSince")),
                backoff_until={str(k): float(v) for k, v in data.get("backoffUntil", {}).items()},
                rebalance_requested_at=_opt_float(data.get("rebalanceRequestedAt")),
                bursts=int(data.get("bursts", 0)),
                ledger=Ledger(
                    node_seconds={str(k): float(v) for k, v in ledger.get("nodeSeconds", {}).items()},
                    cost=float(ledger.get("cost", 0.0)),
                    accounted_until=_opt_float(ledger.get("accountedUntil")),
                ),
                history=History(
                    step=float(history.get("step", 300.0)),
                    start=_opt_float(history.get("start")),
                    values=tuple(float(v) for v in history.get("values", ())),
                ),
            )
        except KeyError as exc:
            raise ValueError(f"burst state is missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"burst state is malformed: {exc}") from exc


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
