"""The workload's ResourceBinding as the Karmada scheduler keeps it: weights, per-cluster assignment and
replicas it could not place, in static-weights or overflow mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from burstd.sim.karmada import moves, overflow_fresh, overflow_scale, webster


class Binding:
    def __init__(self, mode: str, base: Sequence[str], cloud: Sequence[str]) -> None:
        self.mode = mode
        self.base = tuple(base)
        self.cloud = tuple(cloud)
        #: the PropagationPolicy's staticWeightList; before burstd writes it, only the base clusters
        self.weights: dict[str, int] = dict.fromkeys(self.base, 1)
        self.assigned: dict[str, int] = {}
        self.unscheduled = 0
        self._desired = -1
        self._dirty = True
        self._fresh = False

    def set_weights(self, weights: Sequence[tuple[str, int]]) -> None:
        new = dict(weights)
        if new != self.weights:
            self.weights = new
            self._dirty = True

    def rebalance(self) -> None:
        """A WorkloadRebalancer: the next scheduling pass re-divides from scratch."""
        self._fresh = True

    def update(self, desired: int, capacity: Mapping[str, int]) -> int:
        """Schedule for ``desired`` replicas and the clusters' capacity; returns the replicas moved."""
        old = self.assigned
        if self.mode == "static-weights":
            if not self._dirty and desired == self._desired:
                return 0
            new = webster(desired, self.weights)
        else:
            placed = sum(old.values())
            if self._fresh:
                new = overflow_fresh(desired, capacity, self.base, self.cloud)
            elif desired != placed:
                new = overflow_scale(old, desired, capacity, self.base, self.cloud)
            else:
                return 0
        self._dirty = False
        self._fresh = False
        self._desired = desired
        self.assigned = {c: n for c, n in new.items() if n > 0}
        self.unscheduled = max(0, desired - sum(self.assigned.values()))
        return moves(old, self.assigned)
