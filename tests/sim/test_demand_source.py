"""Demand options and the Prometheus history without a server: chunk planning and stitching, parsing range
answers, turning a series into a trace (gaps, bounds), and the errors raised before any request.

The same code against a real Prometheus: tests/integration/test_sim_history.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from burstd.prometheus.errors import AuthFailed, BadResponse, PrometheusUnavailable, QueryRejected
from burstd.prometheus.range_parse import (
    MAX_POINTS_PER_QUERY,
    Chunk,
    NotPrometheus,
    Series,
    check_one_series,
    only_series,
    parse_range_response,
    plan_chunks,
    stitch,
)
from burstd.prometheus.range_query import RangeQuerySource, display_url
from burstd.sim import command
from burstd.sim.demand_source import DemandUsageError, add_demand_arguments, load_demand
from burstd.sim.files import InputError
from burstd.sim.history import Grid, plan_grid, to_trace, trace_name

T0 = 1_790_000_040.0  # a multiple of 60
Q = "sum(burstd_demand)"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="burstd simulate")
    command.add_arguments(p)
    return p


def parse(argv: Sequence[str]) -> argparse.Namespace:
    return parser().parse_args(list(argv))


def input_error(argv: Sequence[str], now: float = T0) -> str:
    with pytest.raises(InputError) as info:
        load_demand(parse(argv), now=now)
    return str(info.value)


# ---------------------------------------------------------------- chunks


def test_a_day_of_minutes_is_one_query_and_eight_days_are_two() -> None:
    assert plan_chunks(T0, 1440, 60) == [Chunk(0, 1440, T0, T0 + 1439 * 60)]
    first, second = plan_chunks(T0, 8 * 1440, 60)
    assert first == Chunk(0, MAX_POINTS_PER_QUERY, T0, T0 + (MAX_POINTS_PER_QUERY - 1) * 60)
    assert second.first == MAX_POINTS_PER_QUERY
    assert second.start == first.end + 60  # the next step: no overlap, no hole
    assert second.end == T0 + (8 * 1440 - 1) * 60


@given(
    points=st.integers(1, 50_000),
    max_points=st.integers(1, 12_000),
    step=st.sampled_from([1.0, 15.0, 60.0, 300.0, 3600.0]),
)
def test_chunks_cover_every_point_once_within_the_limit(points: int, max_points: int, step: float) -> None:
    chunks = plan_chunks(T0, points, step, max_points)
    covered = [i for c in chunks for i in range(c.first, c.first + c.points)]
    assert covered == list(range(points))
    for c in chunks:
        assert 1 <= c.points <= max_points
        assert c.start == T0 + c.first * step
        assert c.end == c.start + (c.points - 1) * step
        # Prometheus refuses (end - start) / step > 11000
        assert (c.end - c.start) / step <= max(max_points - 1, 0)


def test_plan_chunks_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="points >= 1"):
        plan_chunks(T0, 0, 60)


# ---------------------------------------------------------------- parsing one chunk's answer


def answer(*series: tuple[dict[str, str], list[tuple[float, str]]]) -> bytes:
    result = [{"metric": m, "values": [[t, v] for t, v in values]} for m, values in series]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}).encode()


CHUNK = Chunk(10, 5, T0 + 600, T0 + 840)


def test_points_land_on_their_grid_index_and_nan_is_kept_for_stitching() -> None:
    body = answer(({"job": "web"}, [(T0 + 600, "3"), (T0 + 660.0004, "NaN"), (T0 + 840, "+Inf")]))
    (series,) = parse_range_response(Q, 200, body, CHUNK, T0, 60)
    assert series.labels == {"job": "web"}
    assert [i for i, _ in series.points] == [10, 11, 14]
    assert series.points[0][1] == 3.0
    assert math.isnan(series.points[1][1])


@pytest.mark.parametrize(
    ("t", "why"), [(T0 + 630, "off the grid"), (T0 + 540, "before the chunk"), (T0 + 900, "after the chunk")]
)
def test_a_point_not_asked_for_is_a_bad_response(t: float, why: str) -> None:
    with pytest.raises(BadResponse, match="not one of the evaluation times asked for"):
        parse_range_response(Q, 200, answer(({}, [(t, "1")])), CHUNK, T0, 60)


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (
            400,
            {"status": "error", "errorType": "bad_data", "error": "parse error"},
            QueryRejected,
            "parse error",
        ),
        (
            422,
            {"status": "error", "errorType": "execution", "error": "too many samples"},
            QueryRejected,
            "samples",
        ),
        (401, {"status": "error", "error": "no"}, AuthFailed, "HTTP 401"),
        (503, {"status": "error", "error": "overloaded"}, PrometheusUnavailable, "overloaded"),
        (429, {}, PrometheusUnavailable, "HTTP 429"),
        (404, None, NotPrometheus, "does the URL point at Prometheus"),
        (200, None, NotPrometheus, "not JSON"),
        (200, {"status": "error", "error": "x"}, BadResponse, "without a success status"),
        (200, {"status": "success", "data": {"resultType": "vector", "result": []}}, BadResponse, "matrix"),
    ],
)
def test_http_answers_are_classified(status: int, body: Any, kind: type[Exception], text: str) -> None:
    raw = b"<html>nope</html>" if body is None else json.dumps(body).encode()
    with pytest.raises(kind, match=text):
        parse_range_response(Q, status, raw, CHUNK, T0, 60)


# ---------------------------------------------------------------- stitching


def test_stitching_places_every_chunk_and_marks_holes() -> None:
    a = [Series({}, [(0, 1.0), (1, 2.0)])]
    b = [Series({}, [(3, float("nan")), (4, 5.0)])]
    assert stitch(Q, 5, [a, b]) == {"{}": [1.0, 2.0, None, None, 5.0]}
    assert only_series(Q, stitch(Q, 5, [[], []])) is None


def test_a_step_answered_twice_is_a_bad_response() -> None:
    with pytest.raises(BadResponse, match="twice"):
        stitch(Q, 3, [[Series({}, [(1, 1.0)])], [Series({}, [(1, 1.0)])]])


def test_several_series_name_the_count_and_labels() -> None:
    answer_ = [Series({"pod": f"p{i}"}, [(0, 1.0)]) for i in range(5)]
    with pytest.raises(BadResponse) as info:
        check_one_series(Q, answer_)
    assert 'returned 5 series ({pod="p0"}, {pod="p1"}, {pod="p2"} and 2 more)' in str(info.value)
    assert "sum(...)" in str(info.value)
    # one series per chunk, but a different one: still two series over the range
    stitched = stitch(Q, 2, [[Series({"pod": "a"}, [(0, 1.0)])], [Series({"pod": "b"}, [(1, 1.0)])]])
    with pytest.raises(BadResponse, match=r'returned 2 series \(\{pod="a"\}, \{pod="b"\}\)'):
        only_series(Q, stitched)


# ---------------------------------------------------------------- the grid and the trace


def test_the_grid_ends_at_until_rounded_down_and_holds_since() -> None:
    grid = plan_grid(86400, T0 + 59.9, 60)
    assert grid.points == 1440
    assert grid.time(grid.points - 1) == T0
    assert grid.start == T0 - 1439 * 60


GRID = Grid(T0, 8, 60)


def test_the_trace_starts_at_the_first_value_and_ends_at_the_last() -> None:
    trace = to_trace(Q, GRID, [None, None, 1.0, 2.0, 3.5, 0.0, None, None], None)
    assert trace.times == (0.0, 60.0, 120.0, 180.0)
    assert trace.values == (1.0, 2.0, 3.5, 0.0)
    assert (trace.step, trace.rows, trace.filled) == (60.0, 4, 0)
    assert trace.name == "prometheus:sum(burstd_demand)"


def test_gaps_follow_fill_gaps() -> None:
    series: list[float | None] = [4.0, None, None, 6.0, None, 2.0]
    with pytest.raises(InputError) as info:
        to_trace(Q, Grid(T0, 6, 60), series, None)
    assert str(info.value) == (
        "--query 'sum(burstd_demand)': no value at 3 steps of 1m: 2m from 2026-09-21T14:15:00Z (and 1 more "
        "gap). Pass --fill-gaps hold to carry the last value over gaps, or --fill-gaps zero to treat them "
        "as no demand"
    )
    hold = to_trace(Q, Grid(T0, 6, 60), series, "hold")
    assert hold.values == (4.0, 4.0, 4.0, 6.0, 6.0, 2.0)
    assert (hold.rows, hold.filled) == (3, 3)
    zero = to_trace(Q, Grid(T0, 6, 60), series, "zero")
    assert zero.values == (4.0, 0.0, 0.0, 6.0, 0.0, 2.0)


@pytest.mark.parametrize(
    ("series", "text"),
    [
        ([None] * 8, "no data from 2026-09-21T14:14:00Z to 2026-09-21T14:21:00Z (step 1m)"),
        (None, "no data"),
        ([None, 3.0, None, None, None, None, None, None], "only one sample"),
        ([1.0, -2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "-2 at 2026-09-21T14:15:00Z is negative"),
        ([0.0] * 8, "every value from 2026-09-21T14:14:00Z to 2026-09-21T14:21:00Z is 0"),
        ([1.0, 2e15, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "is above 1e+15"),
    ],
)
def test_unusable_series_name_the_query(series: list[float | None] | None, text: str) -> None:
    with pytest.raises(InputError) as info:
        to_trace(Q, GRID, series, "hold")
    assert str(info.value).startswith("--query 'sum(burstd_demand)': ")
    assert text in str(info.value)


def test_the_trace_name_is_short_and_on_one_line() -> None:
    name = trace_name('sum by (x) (\n  rate(http_requests_total{job="shop", code!~"5.."}[5m])\n) / 17\n')
    assert name.startswith('prometheus:sum by (x) ( rate(http_requests_total{job="shop"')
    assert len(name) == len("prometheus:") + 60
    assert name.endswith("...")


# ---------------------------------------------------------------- options


def test_no_options_is_the_bundled_trace_as_before() -> None:
    trace = load_demand(parse([]))
    assert trace.name == "alibaba-2018"
    assert load_demand(parse(["--trace", "nasa-http-1995", "--fill-gaps", "hold"])).filled > 0


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["--query", Q], "--query only goes with --prometheus URL"),
        (["--since", "1d", "--step", "1m"], "--since, --step only go with --prometheus URL"),
        (["--trace", "x.csv", "--prometheus-bearer-token-file", "t"], "--prometheus-bearer-token-file only"),
        (["--prometheus", "http://p:9090"], "--prometheus needs --query PROMQL"),
        (["--prometheus", "http://p:9090", "--trace", "x.csv", "--query", Q], "not allowed with argument"),
        (["--prometheus", "http://p:9090", "--query", Q, "--since", "0s"], "must be above 0s"),
        (["--prometheus", "http://p:9090", "--query", Q, "--until", "2026-11-01T00:00:00"], "no time zone"),
        (["--prometheus", "http://p:9090", "--query", Q, "--until", "yesterday"], "RFC 3339"),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(
    argv: list[str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        command.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: burstd simulate")
    assert text in err


def test_a_namespace_not_made_by_the_parser_gets_a_usage_exception() -> None:
    with pytest.raises(DemandUsageError, match="--prometheus needs --query"):
        load_demand(argparse.Namespace(prometheus="http://p:9090", query=None))


def test_until_takes_rfc3339_and_unix_seconds() -> None:
    p = argparse.ArgumentParser()
    add_demand_arguments(p)
    assert p.parse_args(["--until", "2026-11-01T00:00:00Z"]).until == 1_793_491_200.0
    assert p.parse_args(["--until", "2026-11-01T02:00:00+02:00"]).until == 1_793_491_200.0
    assert p.parse_args(["--until", "1793491200"]).until == 1_793_491_200.0


URL = "http://127.0.0.1:9"  # never contacted: every error below is found before any request


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--step", "500ms"], "--step 500ms: must be at least 1s"),
        (["--since", "4000d"], "--since 4000d: a trace may last at most 3653 days"),
        (["--since", "30d", "--step", "1s"], "--since 30d at --step 1s is 2592000 points, more than 1000000"),
        (["--since", "1m", "--step", "1m"], "--since 1m is shorter than two steps of 1m"),
    ],
)
def test_history_too_long_or_too_fine_names_the_option(extra: list[str], text: str) -> None:
    assert text in input_error(["--prometheus", URL, "--query", Q, *extra])


def test_credentials_and_url_problems_name_the_option(tmp_path: Path) -> None:
    base = ["--prometheus", URL, "--query", Q]
    missing = tmp_path / "nope"
    assert input_error([*base, "--prometheus-bearer-token-file", str(missing)]) == (
        f"--prometheus-bearer-token-file {missing}: no such file"
    )
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert input_error([*base, "--prometheus-bearer-token-file", str(empty)]).endswith("the file is empty")
    assert input_error([*base, "--prometheus-ca-file", str(missing)]).startswith(
        f"--prometheus-ca-file {missing}: cannot load the CA bundle: "
    )
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    assert input_error([*base, "--prometheus-ca-file", str(not_pem)]).startswith("--prometheus-ca-file ")
    ftp = input_error(["--prometheus", "ftp://user:pw-S3CRET@host/", "--query", Q])
    assert ftp == (
        "--prometheus ftp://host/: expected an http:// or https:// URL with a host, e.g. http://prometheus:9090"
    )


def test_the_source_never_shows_its_secrets() -> None:
    source = RangeQuerySource("http://alice:pw-S3CRET@prom:9090", bearer_token="tok-S3CRET")
    assert "S3CRET" not in repr(source)
    asyncio.run(source.aclose())
    assert display_url("https://alice:pw-S3CRET@prom:9090/x") == "https://prom:9090/x"
