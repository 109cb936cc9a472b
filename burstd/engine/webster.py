"""Karmada's division of replicas by static weights (Webster / Sainte-Laguë), and its inverse.

This is burstd's one model of how Karmada divides a Divided/Weighted binding: the engine and the
simulator both use it, and ``tests/e2e/test_karmada_division.py`` checks it against the real
karmada-scheduler (v1.18.2). What Karmada does (``pkg/util/helper/webstermethod.go`` and ``binding.go``,
called from ``assignByStaticWeightStrategy`` in ``pkg/scheduler/core/assignment.go``):

- seats are handed out one at a time, each to the cluster with the largest ``weight / (2 * seats + 1)``,
  computed in float64 (``float64(votes) / float64(2*seats+1)``), so priorities that are distinct but round
  to the same double tie (only with weights near 2**53; ``webster`` compares the same doubles);
- a tie goes to the cluster with fewer seats, then by name: ascending, or descending when the FNV-1a
  32-bit hash of the binding's ``spec.resource.uid`` (the resource template's UID) is odd
  (``tieBreakerByUID``; ``descending_for`` computes it); an empty UID means ascending;
- clusters that match no weight rule (weight 0) take no part; when *no* candidate has a weight, every
  candidate gets weight 1 (``getStaticWeightInfoList``) -- callers that model a policy must apply that;
- clusters that end with 0 replicas are dropped from ``spec.clusters`` (``removeZeroReplicasCluster``)
  unless the scheduler runs with ``--enable-empty-workload-propagation``; and a workload with 0 replicas
  and no resource requests is not divided at all: it goes to every candidate with 0 replicas.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from functools import lru_cache
from math import gcd

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def descending_for(resource_uid: str) -> bool:
    """Karmada's per-binding tie order: whether ties between clusters with equal priority and seats go to
    the name that sorts last. ``resource_uid`` is the binding's ``spec.resource.uid`` (the template's
    UID, not the binding's own); its UTF-8 bytes are hashed with FNV-1a (32 bit) and an odd hash means
    descending."""
    if not resource_uid:
        return False
    h = _FNV32_OFFSET
    for byte in resource_uid.encode():
        h = ((h ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return h & 1 == 1


def webster(seats: int, weights: Mapping[str, int], *, descending: bool = False) -> dict[str, int]:
    """Divide ``seats`` among clusters by ``weights`` exactly as Karmada's Webster dispenser does.

    Clusters with weight <= 0 are left out; every other one appears in the result (possibly with 0).
    With no positive weight, nothing is assigned. ``descending``: see ``descending_for``.
    """
    return dict(_webster(seats, tuple(weights.items()), descending))


def karmada_division(
    replicas: int, weights: Mapping[str, int], *, resource_uid: str = "", candidates: Iterable[str] = ()
) -> dict[str, int]:
    """``spec.clusters`` as the Karmada scheduler writes it for static weights: the clusters that get
    replicas, and how many.

    ``weights``: each candidate's weight (the largest of the staticWeightList rules that match it; 0 or
    absent when none does). ``candidates``: the clusters that passed the scheduler's filters, when some of
    them have no weight; if no candidate has a positive weight, each gets weight 1. ``resource_uid``: the
    binding's ``spec.resource.uid`` (the tie order, ``descending_for``).
    """
    positive = {c: w for c, w in weights.items() if w > 0}
    if not positive:
        positive = dict.fromkeys([*weights, *candidates], 1)
    division = webster(replicas, positive, descending=descending_for(resource_uid))
    return {c: n for c, n in division.items() if n > 0}


@lru_cache(maxsize=65536)
def _webster(seats: int, items: tuple[tuple[str, int], ...], descending: bool) -> tuple[tuple[str, int], ...]:
    return tuple(_divide(seats, dict(items), descending).items())


def _priority(weight: int, taken: int) -> float:
    """Karmada's priority, as the same IEEE double (int to double rounds to nearest even in both Go and
    Python, and the division is correctly rounded in both)."""
    return float(weight) / float(2 * taken + 1)


def _divide(seats: int, weights: Mapping[str, int], descending: bool) -> dict[str, int]:
    if seats < 0:
        raise ValueError(f"seats must be >= 0, got {seats}")
    result = {name: 0 for name, w in weights.items() if w > 0}
    if not result or seats == 0:
        return result
    _fast_forward(seats, weights, result)
    # Heap key: highest priority first, then fewer seats, then the name in the chosen order.
    heap: list[tuple[float, int, _Name, str]] = []
    for name, taken in result.items():
        heapq.heappush(heap, (-_priority(weights[name], taken), taken, _Name(name, descending), name))
    for _ in range(seats - sum(result.values())):
        _, taken, key, name = heapq.heappop(heap)
        taken += 1
        result[name] = taken
        heapq.heappush(heap, (-_priority(weights[name], taken), taken, key, name))
    if not _doubles_are_exact(seats, max(weights[name] for name in result)):
        _exchange(weights, result, descending)
    return result


def _exchange(weights: Mapping[str, int], result: dict[str, int], descending: bool) -> None:
    """Make ``result`` the best seats in Karmada's double order when it may differ from the exact order.

    Each cluster's seats get strictly worse one after the other, so a set of seats is the best one exactly
    when no cluster's next seat beats another's last; swap while one does (each swap improves the set).
    """

    def seat(name: str, index: int) -> tuple[float, int, _Name]:
        return (-_priority(weights[name], index), index, _Name(name, descending))

    while True:
        worst = max((n for n, s in result.items() if s > 0), key=lambda n: seat(n, result[n] - 1))
        best = min(result, key=lambda n: seat(n, result[n]))
        if not seat(best, result[best]) < seat(worst, result[worst] - 1):
            return
        result[best] += 1
        result[worst] -= 1


def _doubles_are_exact(seats: int, max_weight: int) -> bool:
    """Whether double priorities order every pair of seats as exact fractions do (no false ties).

    Two distinct fractions ``a/b``, ``c/d`` with ``a, c < 2**W`` and ``b, d < 2**S`` differ by more than
    ``2**-2S``; each double is off by less than ``2**(W-53)``, so with ``W + 2S <= 52`` they never meet
    (and rounding is monotone: doubles never invert an order, they can only tie).
    """
    return max_weight.bit_length() + 2 * (2 * seats + 1).bit_length() <= 52


def _fast_forward(seats: int, weights: Mapping[str, int], result: dict[str, int]) -> None:
    """Give each cluster the seats it is sure to win, so only a handful are left to hand out one by one.

    The seats of a division are the ``seats`` highest priorities ``w/(2s+1)`` (in Karmada's order). With
    ``n`` clusters and ``lam = W / (2 (seats - n))``, the priorities strictly above ``lam`` number at most
    ``sum(w / (2 lam) + 1/2) = seats - n/2 <= seats``, so all of them are among the winners whatever the
    tie-break; handing them out first and then continuing one seat at a time gives the same result.
    Cluster i has ``#{s >= 0 : W (2s + 1) < 2 w_i (seats - n)}`` such priorities. (In exact order; when
    the double priorities may order seats otherwise, ``_exchange`` corrects the result afterwards.)
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
