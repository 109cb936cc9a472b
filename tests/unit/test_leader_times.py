"""MicroTime formatting and lenient parsing (Lease and Event times), and the elector's argument checks."""

from __future__ import annotations

from typing import Any

import pytest

from burstd.runtime.leader import LeaderElector
from burstd.runtime.microtime import format_micro_time, parse_time

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z


def test_format_is_utc_with_six_fractional_digits() -> None:
    assert format_micro_time(T0) == "2024-05-01T12:00:00.000000Z"
    assert format_micro_time(T0 + 0.123456) == "2024-05-01T12:00:00.123456Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00.000000Z", T0),
        ("2024-05-01T12:00:00Z", T0),
        ("2024-05-01T12:00:00.5Z", T0 + 0.5),
        ("2024-05-01T12:00:00.123456789Z", T0 + 0.123456),  # nanoseconds: beyond micro dropped
        ("2024-05-01T14:00:00+02:00", T0),
        ("2024-05-01T12:00:00", T0),  # no offset: UTC
        (" 2024-05-01T12:00:00Z ", T0),
    ],
)
def test_parse_accepts_what_other_clients_write(text: str, expected: float) -> None:
    parsed = parse_time(text)
    assert parsed == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("value", [None, "", "  ", "yesterday", "2024-13-01T00:00:00Z", 1714564800, {"t": 1}])
def test_parse_rejects_what_is_not_a_time(value: Any) -> None:
    assert parse_time(value) is None


def test_round_trip() -> None:
    for t in (0.0, T0, T0 + 0.999999, 4_102_444_800.25):
        parsed = parse_time(format_micro_time(t))
        assert parsed == pytest.approx(t, abs=1e-6)


@pytest.mark.parametrize(
    ("lease", "renew", "retry"), [(10.0, 10.0, 2.0), (15.0, 2.0, 2.0), (15.0, 10.0, 0.0)]
)
def test_elector_refuses_unsafe_durations(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="retry_period < renew_deadline < lease_duration"):
        LeaderElector(
            object(),  # type: ignore[arg-type]
            "ns",
            identity="a",
            lease_duration=lease,
            renew_deadline=renew,
            retry_period=retry,
        )


def test_elector_needs_an_identity() -> None:
    with pytest.raises(ValueError, match="identity"):
        LeaderElector(object(), "ns", identity="")  # type: ignore[arg-type]
