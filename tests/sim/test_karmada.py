"""Karmada division: Webster for static weights, the sticky overflow assignment, replica moves."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from burstd.sim.karmada import moves, overflow_fresh, overflow_scale, webster


def naive_webster(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Seat by seat, exactly as the api-notes describe it."""
    seats = {c: 0 for c, w in weights.items() if w > 0}
    for _ in range(total if seats else 0):
        best = min(seats, key=lambda c: (-Fraction(weights[c], 2 * seats[c] + 1), seats[c], c))
        seats[best] += 1
    return seats


def test_examples_from_the_karmada_code() -> None:
    assert webster(9, {"a": 1, "b": 2}) == {"a": 3, "b": 6}
    assert webster(9, {"a": 1, "b": 3}) == {"a": 2, "b": 7}


def test_ties_go_to_fewer_seats_then_name_ascending() -> None:
    assert webster(1, {"b": 1, "a": 1}) == {"a": 1, "b": 0}
    assert webster(3, {"b": 1, "a": 1}) == {"a": 2, "b": 1}
    assert webster(5, {"x": 2, "y": 2, "z": 1}) == {"x": 2, "y": 2, "z": 1}


def test_zero_weight_and_empty() -> None:
    assert webster(5, {"a": 0, "b": 1}) == {"b": 5}
    assert webster(0, {"a": 1, "b": 2}) == {"a": 0, "b": 0}
    assert webster(4, {}) == {}


@settings(derandomize=True, deadline=None, database=None, max_examples=300)
@given(
    st.integers(min_value=0, max_value=250),
    st.dictionaries(st.sampled_from("abcdef"), st.integers(min_value=0, max_value=1000), min_size=1),
)
def test_matches_seat_by_seat_division(total: int, weights: dict[str, int]) -> None:
    assert webster(total, weights) == naive_webster(total, weights)


BASE = ("idc-1",)
CLOUD = ("tke", "ack")


def test_overflow_scale_up_fills_the_base_then_the_cloud_by_room() -> None:
    capacity = {"idc-1": 10, "tke": 14, "ack": 7}
    assert overflow_scale({}, 8, capacity, BASE, CLOUD) == {"idc-1": 8, "tke": 0, "ack": 0}
    assert overflow_scale({"idc-1": 8}, 13, capacity, BASE, CLOUD) == {"idc-1": 10, "tke": 2, "ack": 1}
    # more than fits: the rest stays unassigned (the caller counts it unschedulable)
    full = overflow_scale({"idc-1": 10, "tke": 2, "ack": 1}, 40, capacity, BASE, CLOUD)
    assert full == {"idc-1": 10, "tke": 14, "ack": 7}


def test_overflow_is_sticky_and_scales_down_in_proportion() -> None:
    capacity = {"idc-1": 10, "tke": 14, "ack": 7}
    current = {"idc-1": 10, "tke": 10, "ack": 5}
    down = overflow_scale(current, 15, capacity, BASE, CLOUD)
    assert down == {"idc-1": 6, "tke": 6, "ack": 3}
    assert all(down[c] <= current[c] for c in down)
    # the base has room again, but nothing moves back without a rebalance
    assert overflow_scale(down, 15, capacity, BASE, CLOUD) == down
    assert overflow_fresh(15, capacity, BASE, CLOUD) == {"idc-1": 10, "tke": 3, "ack": 2}


def test_moves_count_only_replicas_that_changed_cluster() -> None:
    assert moves({"a": 5}, {"a": 7}) == 0  # demand grew
    assert moves({"a": 5, "b": 2}, {"a": 5}) == 0  # demand shrank
    assert moves({"a": 5, "b": 0}, {"a": 3, "b": 2}) == 2  # a weight change
    assert moves({"a": 10}, {"a": 6, "b": 6}) == 4  # grew by 2 and moved 4
    assert moves({"a": 6, "b": 6}, {"a": 10}) == 4  # shrank by 2 and moved 4 back
