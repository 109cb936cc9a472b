"""Karmada division: Webster for static weights, the overflow tiers, replica moves."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from burstd.sim.binding import Binding
from burstd.sim.karmada import moves, overflow, webster


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


TIERS = (("idc-1",), ("tke", "ack"))


def test_overflow_fills_the_base_then_the_cloud_by_free_room() -> None:
    assert overflow({}, 8, {"idc-1": 10, "tke": 14, "ack": 7}, TIERS) == {"idc-1": 8}
    # the base holds 8 + 2 free; the cloud's 3 are spread by free room, 14:7
    free = {"idc-1": 2, "tke": 14, "ack": 7}
    assert overflow({"idc-1": 8}, 13, free, TIERS) == {"idc-1": 10, "tke": 2, "ack": 1}


def test_overflow_is_all_or_nothing() -> None:
    current = {"idc-1": 10, "tke": 2, "ack": 1}
    free = {"idc-1": 0, "tke": 12, "ack": 6}
    # 10 + 14 + 7 = 31 fit: 40 do not, so the scheduler changes nothing (not 31 placed and 9 pending)
    assert overflow(current, 40, free, TIERS) is None
    assert overflow(current, 31, free, TIERS) == {"idc-1": 10, "tke": 14, "ack": 7}


def test_overflow_scale_down_empties_the_cloud_first() -> None:
    current = {"idc-1": 10, "tke": 10, "ack": 5}
    free = {"idc-1": 0, "tke": 4, "ack": 2}
    # not in proportion (6/6/3): the base keeps its 10, the cloud's 5 are divided by its assignment 10:5
    assert overflow(current, 15, free, TIERS) == {"idc-1": 10, "tke": 3, "ack": 2}
    assert overflow(current, 8, free, TIERS) == {"idc-1": 8}


def test_overflow_moves_replicas_back_at_any_reschedule() -> None:
    current = {"idc-1": 10, "tke": 3, "ack": 2}
    # the base has 6 free again: a scale by one puts every replica on the base
    assert overflow(current, 16, {"idc-1": 6, "tke": 11, "ack": 5}, TIERS) == {"idc-1": 16}
    # a fresh division (a WorkloadRebalancer) at the same count: the base takes what it holds (10 + 2),
    # the cloud the rest by its available replicas (free + assigned, 14:7)
    free = {"idc-1": 2, "tke": 11, "ack": 5}
    assert overflow(current, 15, free, TIERS, fresh=True) == {"idc-1": 12, "tke": 2, "ack": 1}


def test_the_binding_reschedules_on_a_scale_or_a_rebalance_not_on_room() -> None:
    b = Binding("overflow", ["idc-1"], ["tke"])
    b.update(10, {"idc-1": 10, "tke": 0})
    assert b.assigned == {"idc-1": 10}
    assert b.update(14, {"idc-1": 10, "tke": 16}) == 0
    assert b.assigned == {"idc-1": 10, "tke": 4}
    # the base grows: a cluster's status alone reschedules nothing
    assert b.update(14, {"idc-1": 20, "tke": 16}) == 0
    assert b.assigned == {"idc-1": 10, "tke": 4}
    b.rebalance()
    assert b.update(14, {"idc-1": 20, "tke": 16}) == 4
    assert b.assigned == {"idc-1": 14}
    # more than fits: the binding keeps its assignment, all 40 - 14 count as unschedulable
    assert b.update(40, {"idc-1": 20, "tke": 16}) == 0
    assert (b.assigned, b.unscheduled) == ({"idc-1": 14}, 26)
    assert b.update(36, {"idc-1": 20, "tke": 16}) == 0
    assert (b.assigned, b.unscheduled) == ({"idc-1": 20, "tke": 16}, 0)


def test_moves_count_only_replicas_that_changed_cluster() -> None:
    assert moves({"a": 5}, {"a": 7}) == 0  # demand grew
    assert moves({"a": 5, "b": 2}, {"a": 5}) == 0  # demand shrank
    assert moves({"a": 5, "b": 0}, {"a": 3, "b": 2}) == 2  # a weight change
    assert moves({"a": 10}, {"a": 6, "b": 6}) == 4  # grew by 2 and moved 4
    assert moves({"a": 6, "b": 6}, {"a": 10}) == 4  # shrank by 2 and moved 4 back
