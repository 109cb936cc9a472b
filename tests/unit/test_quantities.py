"""Units SREs write in policies: durations, Kubernetes quantities, percentages."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from burstd.model.quantities import format_duration, parse_duration, parse_percent, parse_quantity


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("1m30s500ms", 90.5),
        ("0s", 0.0),
        (" 2m ", 120.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "   ", "90", "2 m", "2mins", "m", "-1s", "1h 30m", "1.s", "s2", "1y", "2M"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_duration_error_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match=r"'2mins'.*expected a number with a unit \(ms, s, m, h, d\)"):
        parse_duration("2mins")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (120, "2m"), (5400, "1h30m"), (3661, "1h1m1s"), (86400, "24h"), (1.5, "1.5s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_negative() -> None:
    assert format_duration(-90) == "-1m30s"


@given(st.integers(min_value=0, max_value=10 * 365 * 86400))
def test_duration_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        ("7600m", 7.6),
        ("4Gi", 4 * 2**30),
        ("512Mi", 512 * 2**20),
        ("1Ki", 1024.0),
        ("1.5G", 1.5e9),
        ("1k", 1000.0),
        ("100n", 1e-7),
        (".5", 0.5),
        ("+1", 1.0),
        (3, 3.0),
        (0.25, 0.25),
        (0, 0.0),
    ],
)
def test_parse_quantity(text: str | int | float, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "4GB", "4 Gi", "-1", "1e3", "abc", "Gi", "1.2.3", "0x10"])
def test_parse_quantity_rejects_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        parse_quantity(text)


@pytest.mark.parametrize("number", [-1, -0.5, math.nan, math.inf])
def test_parse_quantity_rejects_numbers(number: float) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        parse_quantity(number)


def test_parse_quantity_rejects_bool() -> None:
    with pytest.raises(ValueError, match="boolean"):
        parse_quantity(True)


@pytest.mark.parametrize(
    ("text", "fraction"), [("20%", 0.2), ("2.5%", 0.025), ("0%", 0.0), ("100%", 1.0), (" 10% ", 0.1)]
)
def test_parse_percent(text: str, fraction: float) -> None:
    assert parse_percent(text) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["20", "0.2", "-5%", "20 %", "%", "twenty%", ""])
def test_parse_percent_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid percentage"):
        parse_percent(text)


def test_parse_percent_above_100() -> None:
    with pytest.raises(ValueError, match="above 100%"):
        parse_percent("101%")
