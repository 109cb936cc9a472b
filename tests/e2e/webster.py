"""Karmada's static-weight division, written independently of ``burstd.engine`` (the harness must not
share code with what it checks).

Karmada divides a Divided/Weighted binding's replicas with the Webster (Sainte-Laguë) method: each seat
goes to the cluster with the largest ``weight / (2 * seats + 1)``; a tie goes to the cluster holding fewer
seats, then to the lower cluster name. (Karmada v1.18 may flip the name order per binding, from the parity
of a hash of the resource UID; the harness always uses ascending names.) Clusters that end with 0 replicas
are left out of the result, as in ``spec.clusters`` without ``--enable-empty-workload-propagation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction


def divide(replicas: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``replicas`` over the clusters with weight > 0; returns only clusters with replicas > 0."""
    if replicas < 0:
        raise ValueError(f"replicas must be >= 0, got {replicas}")
    parties = {name: w for name, w in weights.items() if w > 0}
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be >= 0, got {dict(weights)}")
    seats = dict.fromkeys(parties, 0)
    if not parties:
        return {}
    for _ in range(replicas):
        winner = min(parties, key=lambda n: (-Fraction(parties[n], 2 * seats[n] + 1), seats[n], n))
        seats[winner] += 1
    return {name: n for name, n in sorted(seats.items()) if n > 0}
