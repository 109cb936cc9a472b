"""Trace loading: strict validation with FILE:LINE: FIELD messages, gap handling, scaling, percentiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from burstd.sim.files import InputError, bundled_traces, load_trace
from burstd.sim.trace import (
    MAX_TRACE_DAYS,
    MAX_TRACE_DURATION_S,
    TraceError,
    parse_base_replicas,
    parse_trace,
    percentile,
    resolve_base_replicas,
    scale_to_replicas,
)

GOOD = "timestamp_s,demand\n0,1\n60,2\n120,3\n"


def error_of(text: str, fill: str = "error") -> str:
    with pytest.raises(TraceError) as info:
        parse_trace(text, "d.csv", fill)  # type: ignore[arg-type]
    return str(info.value)


def test_good_trace() -> None:
    trace = parse_trace(GOOD, "d.csv")
    assert trace.times == (0.0, 60.0, 120.0)
    assert trace.values == (1.0, 2.0, 3.0)
    assert trace.step == 60.0
    assert trace.end == 180.0
    assert trace.rows == 3
    assert trace.filled == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "d.csv:1:1: the file is empty"),
        (
            "time,demand\n0,1\n60,2\n",
            "d.csv:1:1: header: expected exactly 'timestamp_s,demand', got 'time,demand'",
        ),
        ("timestamp_s,demand,x\n0,1,2\n", "d.csv:1:1: header: expected exactly 'timestamp_s,demand'"),
        ("timestamp_s,demand\n0,1\n60,2,3\n", "d.csv:3:1: expected 2 comma-separated fields"),
        ("timestamp_s,demand\n0,1\n60\n", "d.csv:3:1: expected 2 comma-separated fields"),
        ("timestamp_s,demand\n0,1\n60,lots\n", "d.csv:3:4: demand: expected a number, got 'lots'"),
        ("timestamp_s,demand\n0,1\nsoon,2\n", "d.csv:3:1: timestamp_s: expected a number, got 'soon'"),
        ("timestamp_s,demand\n0,1\n60,nan\n", "d.csv:3:4: demand: expected a finite number, got 'nan'"),
        ("timestamp_s,demand\n0,1\n60,inf\n", "d.csv:3:4: demand: expected a finite number, got 'inf'"),
        ("timestamp_s,demand\n0,1\n60,-2\n", "d.csv:3:4: demand: must not be negative, got -2"),
        ("timestamp_s,demand\n-60,1\n0,2\n", "d.csv:2:1: timestamp_s: must not be negative, got -60"),
        (
            "timestamp_s,demand\n0,1\n60,2\n60,3\n",
            "d.csv:4:1: timestamp_s: 60 is not after the previous timestamp 60 "
            "(line 3); timestamps must increase strictly",
        ),
        ("timestamp_s,demand\n0,1\n120,2\n60,3\n", "d.csv:4:1: timestamp_s: 60 is not after the previous"),
        ("timestamp_s,demand\n0,1\n", "d.csv:2:1: expected at least 2 data rows, got 1"),
        ("timestamp_s,demand\n", "d.csv:1:1: expected at least 2 data rows, got 0"),
        ("timestamp_s,demand\n0,0\n60,0\n", "d.csv:1:1: demand: every value is 0"),
    ],
)
def test_bad_traces(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_gap_is_an_error_naming_lines_and_the_fix() -> None:
    text = "timestamp_s,demand\n0,1\n60,2\n120,3\n420,4\n480,5\n600,6\n"
    message = error_of(text)
    assert message.startswith("d.csv:5:1: timestamp_s: gap of 300s between line 4 (t=120) and line 5 (t=420)")
    assert "typical step is 60s (and 1 more)" in message
    assert "--fill-gaps hold" in message
    assert "--fill-gaps zero" in message


def test_fill_gaps_hold_and_zero() -> None:
    text = "timestamp_s,demand\n0,1\n60,2\n120,3\n300,4\n360,5\n"
    hold = parse_trace(text, "d.csv", "hold")
    assert hold.times == (0, 60, 120, 180, 240, 300, 360)
    assert hold.values == (1, 2, 3, 3, 3, 4, 5)
    assert hold.filled == 2
    assert hold.rows == 5
    zero = parse_trace(text, "d.csv", "zero")
    assert zero.values == (1, 2, 3, 0, 0, 4, 5)


def test_large_timestamps_print_exactly() -> None:
    text = "timestamp_s,demand\n2381460,1\n2381520,2\n2678400,3\n2678460,3\n"
    assert "(t=2381520) and line 4 (t=2678400)" in error_of(text)


def test_file_errors_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "demand.csv"
    path.write_text("timestamp_s,demand\n0,1\n60,x\n")
    with pytest.raises(InputError, match=r"demand\.csv:3:4: demand: expected a number, got 'x'"):
        load_trace(str(path))
    with pytest.raises(InputError, match="no such file"):
        load_trace(str(tmp_path / "missing.csv"))


def test_bundled_traces() -> None:
    assert {"alibaba-2018", "nasa-http-1995"} <= set(bundled_traces())
    alibaba = load_trace(None)
    assert alibaba.name == "alibaba-2018"
    assert alibaba.rows == 2243
    assert alibaba.step == 300
    with pytest.raises(InputError, match=r"nasa-http-1995:\d+:1: timestamp_s: gap of 296940s"):
        load_trace("nasa-http-1995")
    nasa = load_trace("nasa-http-1995", "hold")
    assert nasa.rows == 84332
    assert nasa.filled == 4948


def test_scaling_is_exact_at_the_max() -> None:
    assert scale_to_replicas([0.0, 1.0, 39.5, 79.0743], 400) == [0, 6, 200, 400]
    values = [0.1 * i for i in range(1, 1000)]
    scaled = scale_to_replicas(values, 400)
    assert max(scaled) == 400
    assert scaled[values.index(max(values))] == 400
    assert all(r >= v * 400 / max(values) - 1e-9 for r, v in zip(scaled, values, strict=True))


def test_percentiles() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20], 70) == pytest.approx(17.0)
    assert resolve_base_replicas("p70", [10, 20]) == 17
    assert resolve_base_replicas("p100", [3, 9, 4]) == 9
    assert resolve_base_replicas("p0", [3, 9, 4]) == 3
    assert resolve_base_replicas(42, [3, 9, 4]) == 42


@pytest.mark.parametrize("text", ["q70", "p101", "70%", "-3", "p", ""])
def test_bad_base_replicas(text: str) -> None:
    with pytest.raises(ValueError, match="expected a number of replicas"):
        parse_base_replicas(text)


def test_good_base_replicas() -> None:
    assert parse_base_replicas("p70") == "p70"
    assert parse_base_replicas("p99.5") == "p99.5"
    assert parse_base_replicas("180") == 180
    assert parse_base_replicas(180) == 180


# ------------------------------------------------------------------------------------------- bounds (issue 7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("timestamp_s,demand\n0,1\n60,1e308\n", "d.csv:3:4: demand: must be at most 1e+15, got 1e308"),
        ("timestamp_s,demand\n0,1\n1e300,2\n", "d.csv:3:1: timestamp_s: must be at most 1e+10, got 1e300"),
        ("timestamp_s,demand\n0,1\n1e9,2\n", "d.csv:3:1: timestamp_s: the trace lasts 2000000000s"),
        (
            "timestamp_s,demand\n0,1\n60,2\n9000000000,3\n",
            "d.csv:4:1: timestamp_s: the trace lasts 13500000000s",
        ),
        (
            "timestamp_s,demand\n0,1\n" + "9" * 500 + ",2\n",
            "d.csv:3:1: timestamp_s: expected a finite number",
        ),
    ],
)
def test_values_that_would_hang_or_overflow_are_refused(text: str, expected: str) -> None:
    message = error_of(text, "hold")
    assert message.startswith(expected), message
    assert len(message) < 400  # a huge field is clipped in the message


def test_gap_filling_is_bounded_before_it_allocates() -> None:
    # 30 days at a 1 ms step would be 2.6e9 samples: refused before any is inserted.
    text = "timestamp_s,demand\n0,1\n0.001,2\n0.002,2\n2592000,3\n"
    message = error_of(text, "zero")
    assert message.startswith("d.csv:5:1: timestamp_s: filling the gaps would insert 2591999997 samples")


def test_a_trace_of_ten_years_is_accepted_and_a_second_more_is_not() -> None:
    third = MAX_TRACE_DAYS * 86400 // 3  # whole seconds: 3653 days are 3 x 105206400 s
    text = f"timestamp_s,demand\n0,1\n{third},2\n{2 * third},3\n"
    trace = parse_trace(text, "d.csv", "hold")
    assert trace.duration == MAX_TRACE_DURATION_S == 3653 * 86400
    message = error_of(text.replace(f"{2 * third},3", f"{2 * third + 1},3"), "hold")
    assert message.startswith("d.csv:4:1: timestamp_s: the trace lasts 315619201.5s"), message
    assert message.endswith("a trace may last at most 3653 days (10 years, 315619200s)"), message


def test_an_hourly_history_of_2000_days_loads() -> None:
    rows = "".join(f"{i * 3600},{1 + i % 24}\n" for i in range(2000 * 24))
    trace = parse_trace("timestamp_s,demand\n" + rows, "d.csv")
    assert (len(trace.times), trace.step, trace.duration) == (48_000, 3600.0, 2000 * 86400.0)
