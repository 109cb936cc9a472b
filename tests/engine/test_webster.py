"""Karmada's Webster division of static weights, its inverse ``weights_for``, and ``proportional``."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burstd.engine.webster import descending_for, karmada_division, proportional, webster, weights_for

from .toyfleet import DETERMINISTIC

NAMES = ("idc-1", "idc-2", "tke", "ack", "ack-2", "a", "b", "zz")


def reference(seats: int, weights: Mapping[str, int], *, descending: bool = False) -> dict[str, int]:
    """Karmada's dispenser written out plainly: one seat at a time to the largest ``w / (2 s + 1)``,
    compared exactly; ties to the cluster with fewer seats, then by name in the chosen order."""
    result = {name: 0 for name, w in weights.items() if w > 0}
    names = sorted(result)
    if not names:
        return result

    def beats(a: str, b: str) -> bool:
        pa = Fraction(weights[a], 2 * result[a] + 1)
        pb = Fraction(weights[b], 2 * result[b] + 1)
        if pa != pb:
            return pa > pb
        if result[a] != result[b]:
            return result[a] < result[b]
        return a > b if descending else a < b

    for _ in range(seats):
        best = names[0]
        for name in names[1:]:
            if beats(name, best):
                best = name
        result[best] += 1
    return result


weight_maps = st.dictionaries(st.sampled_from(NAMES), st.integers(min_value=0, max_value=60), max_size=6)
splits = st.dictionaries(st.sampled_from(NAMES), st.integers(min_value=0, max_value=400), max_size=6)


# --- Karmada's own examples ------------------------------------------------------------------------


@pytest.mark.parametrize("descending", [False, True])
def test_karmada_example_one_to_two(descending: bool) -> None:
    assert webster(9, {"a": 1, "b": 2}, descending=descending) == {"a": 3, "b": 6}


@pytest.mark.parametrize("descending", [False, True])
def test_karmada_example_one_to_three(descending: bool) -> None:
    assert webster(9, {"a": 1, "b": 3}, descending=descending) == {"a": 2, "b": 7}


def test_tie_on_priority_goes_to_fewer_seats_then_name_order() -> None:
    # a:1 and b:3 tie after b holds one seat (1/1 vs 3/3): a has fewer seats and wins either way.
    assert webster(2, {"a": 1, "b": 3}) == {"a": 1, "b": 1}
    assert webster(2, {"a": 1, "b": 3}, descending=True) == {"a": 1, "b": 1}
    # Equal weights, equal seats: the name order decides the odd seat.
    assert webster(3, {"a": 1, "b": 1}) == {"a": 2, "b": 1}
    assert webster(3, {"a": 1, "b": 1}, descending=True) == {"a": 1, "b": 2}


def test_zero_weight_and_zero_seats() -> None:
    assert webster(5, {"a": 0, "b": 2}) == {"b": 5}
    assert webster(0, {"a": 1, "b": 2}) == {"a": 0, "b": 0}
    assert webster(7, {}) == {}
    assert webster(7, {"a": 0}) == {}
    with pytest.raises(ValueError, match="seats must be >= 0"):
        webster(-1, {"a": 1})


def test_large_division_is_exact_and_fast() -> None:
    weights = {"idc-1": 27, "tke": 7, "ack": 2}
    assert webster(180, weights) == reference(180, weights)
    assert sum(webster(10**6, weights).values()) == 10**6


# --- Karmada's tie order and float64 priorities ------------------------------------------------------


def test_descending_for_is_the_parity_of_fnv1a_32() -> None:
    # FNV-1a 32: "a" -> 0xe40c292c (even), "b" -> 0xe70c2de5 (odd), "c" -> 0xe60c2c52 (even).
    assert descending_for("a") is False
    assert descending_for("b") is True
    assert descending_for("c") is False
    assert descending_for("") is False, "no UID: ascending"
    assert descending_for("6f1c2a3b-0000-4000-8000-000000000000") is True


def test_priorities_compare_as_doubles_like_karmada() -> None:
    # 2**53 + 1 and 2**53 are the same double: the seat is a tie, decided by the name order.
    weights = {"a": 2**53, "b": 2**53 + 1}
    assert webster(1, weights) == {"a": 1, "b": 0}
    assert webster(1, weights, descending=True) == {"a": 0, "b": 1}


def float_reference(seats: int, weights: Mapping[str, int], *, descending: bool = False) -> dict[str, int]:
    """Karmada's dispenser with its float64 priorities, one seat at a time."""
    result = {name: 0 for name, w in weights.items() if w > 0}
    for _ in range(seats if result else 0):
        best = min(
            result,
            key=lambda n: (-(float(weights[n]) / float(2 * result[n] + 1)), result[n], _order(n, descending)),
        )
        result[best] += 1
    return result


def _order(name: str, descending: bool) -> tuple[int, ...]:
    codes = tuple(ord(ch) for ch in name)
    return (*(-c for c in codes), 1) if descending else (*codes, 0)


def test_karmada_division_is_what_spec_clusters_holds() -> None:
    assert karmada_division(3, {"a": 1, "b": 1}) == {"a": 2, "b": 1}
    assert karmada_division(3, {"a": 1, "b": 1}, resource_uid="b") == {"a": 1, "b": 2}, "odd hash"
    assert karmada_division(1, {"a": 1, "b": 3, "c": 0}) == {"b": 1}, "0-replica clusters left out"
    assert karmada_division(0, {"a": 1}) == {}
    # no candidate has a weight: all weigh 1
    assert karmada_division(4, {"a": 0}, candidates=["a", "b"]) == {"a": 2, "b": 2}
    assert karmada_division(4, {"a": 2}, candidates=["a", "b"]) == {"a": 4}


huge = st.integers(min_value=2**52, max_value=2**53 + 8)


@settings(DETERMINISTIC, max_examples=150)
@given(
    seats=st.integers(min_value=0, max_value=400),
    weights=st.dictionaries(
        st.sampled_from(NAMES), st.one_of(huge, st.integers(1, 9)), min_size=1, max_size=4
    ),
    descending=st.booleans(),
)
def test_huge_weights_divide_as_karmadas_doubles(
    seats: int, weights: dict[str, int], descending: bool
) -> None:
    # Beyond the range where doubles order seats as exact fractions do: false ties, as in Karmada.
    assert webster(seats, weights, descending=descending) == float_reference(
        seats, weights, descending=descending
    )


# --- agreement with the plain reference ---------------------------------------------------------------


@settings(DETERMINISTIC, max_examples=400)
@given(seats=st.integers(min_value=0, max_value=300), weights=weight_maps, descending=st.booleans())
def test_webster_matches_reference(seats: int, weights: dict[str, int], descending: bool) -> None:
    got = webster(seats, weights, descending=descending)
    assert got == reference(seats, weights, descending=descending)
    if got:
        assert sum(got.values()) == seats


@settings(DETERMINISTIC, max_examples=200)
@given(
    seats=st.integers(min_value=0, max_value=60),
    weight=st.integers(min_value=1, max_value=5),
    names=st.lists(st.sampled_from(NAMES), min_size=2, max_size=6, unique=True),
    descending=st.booleans(),
)
def test_webster_matches_reference_on_all_ties(
    seats: int, weight: int, names: list[str], descending: bool
) -> None:
    # Equal weights: every seat is decided by the tie-breaks alone.
    weights = dict.fromkeys(names, weight)
    assert webster(seats, weights, descending=descending) == reference(seats, weights, descending=descending)


# --- weights_for: the inverse ------------------------------------------------------------------------


@settings(DETERMINISTIC, max_examples=400)
@given(split=splits, descending=st.booleans())
def test_weights_for_reproduces_any_split(split: dict[str, int], descending: bool) -> None:
    weights = weights_for(split)
    positive = {c: n for c, n in split.items() if n > 0}
    assert set(weights) == set(positive), "zero-count clusters are left out, the others kept"
    assert all(w >= 1 for w in weights.values())
    assert webster(sum(split.values()), weights, descending=descending) == positive
    if sum(split.values()) <= 300:  # the plain reference hands out seats one by one: keep it quick
        assert reference(sum(split.values()), weights, descending=descending) == positive


def test_weights_for_examples() -> None:
    assert weights_for({"idc-1": 90, "tke": 60, "ack": 30}) == {"ack": 1, "idc-1": 3, "tke": 2}
    assert weights_for({"idc-1": 40, "tke": 0}) == {"idc-1": 1}
    assert weights_for({"idc-1": 0, "tke": 0}) == {}
    assert weights_for({}) == {}
    assert weights_for({"idc-1": 7, "tke": 5}) == {"idc-1": 7, "tke": 5}


# --- proportional --------------------------------------------------------------------------------


@settings(DETERMINISTIC, max_examples=300)
@given(
    total=st.integers(min_value=0, max_value=10_000),
    capacities=st.dictionaries(
        st.sampled_from(NAMES),
        st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
        max_size=6,
    ),
)
def test_proportional_sums_exactly(total: int, capacities: dict[str, float]) -> None:
    out = proportional(total, capacities)
    assert set(out) == set(capacities)
    assert all(n >= 0 for n in out.values())
    positive = {k: v for k, v in capacities.items() if v > 0}
    if positive:
        assert sum(out.values()) == total
        whole = sum(positive.values())
        for k, v in capacities.items():
            exact = total * v / whole
            assert abs(out[k] - exact) < 1 + 1e-6, (k, out[k], exact)
            if v == 0:
                assert out[k] == 0
    else:
        assert sum(out.values()) == 0


def test_proportional_examples() -> None:
    assert proportional(10, {"a": 1.0, "b": 1.0, "c": 1.0}) == {"a": 4, "b": 3, "c": 3}
    assert proportional(7, {"a": 3.0, "b": 0.0, "c": 1.0}) == {"a": 5, "b": 0, "c": 2}
    assert proportional(5, {"a": 0.0}) == {"a": 0}
    assert proportional(-3, {"a": 1.0}) == {"a": 0}
