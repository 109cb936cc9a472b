"""The workload's ResourceBinding as the Karmada scheduler keeps it: weights, per-cluster assignment and
replicas it could not place, in static-weights or overflow mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from burstd.engine.webster import webster
from burstd.sim.karmada import moves, overflow


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
            # Karmada reschedules when the replicas differ from what is assigned (a scale, or a retry of
            # an unschedulable binding) or a rebalance was asked for; never for a cluster's status alone.
            if not self._fresh and desired == sum(old.values()):
                return 0
            # Each cluster's status shows what it holds minus what this binding has there (running or
            # pending): the simulated clusters run nothing else.
            free = {c: max(0, capacity.get(c, 0) - old.get(c, 0)) for c in (*self.base, *self.cloud)}
            placed = overflow(old, desired, free, (self.base, self.cloud), fresh=self._fresh)
            if placed is None:
                # Unschedulable: the binding keeps its assignment (and a rebalance stays pending).
                self.unscheduled = max(0, desired - sum(old.values()))
                return 0
            new = placed
        self._dirty = False
        self._fresh = False
        self._desired = desired
        self.assigned = {c: n for c, n in new.items() if n > 0}
        self.unscheduled = max(0, desired - sum(self.assigned.values()))
        return moves(old, self.assigned)
