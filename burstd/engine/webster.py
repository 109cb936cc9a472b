"""Karmada's division of replicas by static weights (Webster / Sainte-Laguë), and its inverse.

Karmada (pkg/util/helper webster method) hands out seats one at a time; each goes to the cluster with the
largest ``weight / (2 * seats + 1)``. Ties go to the cluster with fewer seats, then by name; the name
order (ascending or descending) comes from the parity of an FNV hash of the binding's UID, so callers
choose it with ``descending``.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from fractions import Fraction
from functools import lru_cache
from math import gcd


def webster(seats: int, weights: Mapping[str, int], *, descending: bool = False) -> dict[str, int]:
    """Divide ``seats`` among clusters by ``weights`` exactly as Karmada's Webster dispenser does.

    Clusters with weight <= 0 are left out. With no positive weight, nothing is assigned.
    """
    return dict(_webster(seats, tuple(weights.items()), descending))


@lru_cache(maxsize=65536)
def _webster(seats: int, items: tuple[tuple[str, int], ...], descending: bool) -> tuple[tuple[str, int], ...]:
    return tuple(_divide(seats, dict(items), descending).items())


def _divide(seats: int, weights: Mapping[str, int], descending: bool) -> dict[str, int]:
    if seats < 0:
        raise ValueError(f"seats must be >= 0, got {seats}")
    result = {name: 0 for name, w in weights.items() if w > 0}
    if not result or seats == 0:
        return result
    _fast_forward(seats, weights, result)
    # Heap key: highest priority first. Priority w/(2s+1) compared exactly with Fractions, then fewer
    # seats, then the name in the chosen order.
    heap: list[tuple[Fraction, int, _Name, str]] = []
    for name, taken in result.items():
        heapq.heappush(heap, (-Fraction(weights[name], 2 * taken + 1), taken, _Name(name, descending), name))
    for _ in range(seats - sum(result.values())):
        _, taken, key, name = heapq.heappop(heap)
        taken += 1
        result[name] = taken
        heapq.heappush(heap, (-Fraction(weights[name], 2 * taken + 1), taken, key, name))
    return result


def _fast_forward(seats: int, weights: Mapping[str, int], result: dict[str, int]) -> None:
    """Give each cluster the seats it is sure to win, so only a handful are left to hand out one by one.

    The seats of a division are the ``seats`` highest priorities ``w/(2s+1)`` (in Karmada's order). With
    ``n`` clusters and ``lam = W / (2 (seats - n))``, the priorities strictly above ``lam`` number at most
    ``sum(w / (2 lam) + 1/2) = seats - n/2 <= seats``, so all of them are among the winners whatever the
    tie-break; handing them out first and then continuing one seat at a time gives the same result.
    Cluster i has ``#{s >= 0 : W (2s + 1) < 2 w_i (seats - n)}`` such priorities.
    """
    n = len(result)
    if seats <= n:
        return
    total = sum(weights[name] for name in result)
    for name in result:
        a = 2 * weights[name] * (seats - n)
        result[name] = (a - 1 - total) // (2 * total) + 1 if a - 1 - total >= 0 else 0


class _Name:
    """Orders names ascending, or descending when asked, for heap tie-breaking."""

    __slots__ = ("descending", "name")

    def __init__(self, name: str, descending: bool) -> None:
        self.name = name
        self.descending = descending

    def __lt__(self, other: _Name) -> bool:
        return self.name > other.name if self.descending else self.name < other.name


def weights_for(split: Mapping[str, int]) -> dict[str, int]:
    """Static weights under which Webster division of ``sum(split)`` replicas gives exactly ``split``.

    Clusters meant to get 0 replicas are left out of the list (Karmada gives a cluster that matches no
    weight rule nothing). The weights are the intended counts divided by their greatest common divisor:
    with weights proportional to the counts the Webster divisor is ``gcd``, every quotient is a whole
    number, no quotient sits on a rounding boundary, so the division is unique whatever the tie-break.
    """
    positive = {name: n for name, n in split.items() if n > 0}
    if not positive:
        return {}
    divisor = 0
    for n in positive.values():
        divisor = gcd(divisor, n)
    return {name: n // divisor for name, n in sorted(positive.items())}


def proportional(total: int, capacities: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` in proportion to ``capacities`` (largest remainder; exact sum, deterministic)."""
    positive = {k: v for k, v in capacities.items() if v > 0}
    if total <= 0 or not positive:
        return dict.fromkeys(capacities, 0)
    whole = sum(positive.values())
    shares = {k: total * v / whole for k, v in positive.items()}
    out = {k: int(s) for k, s in shares.items()}
    left = total - sum(out.values())
    for k in sorted(shares, key=lambda k: (-(shares[k] - out[k]), k))[:left]:
        out[k] += 1
    return {k: out.get(k, 0) for k in capacities}
