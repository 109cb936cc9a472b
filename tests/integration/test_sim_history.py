"""``burstd simulate --prometheus``: demand pulled from a REAL Prometheus holding backfilled history.

Eight days of 1-minute samples ending a few minutes ago are written with ``promtool tsdb create-blocks-from
openmetrics`` into a fresh data dir, and Prometheus is started on it (nothing scraped). The tests pull the
history back, directly and through ``FrontServer`` (which checks a bearer token and records every
request), and check it sample for sample, chunk by chunk, and every way it can fail.

Prometheus and promtool must exist (scripts/testenv/install-prometheus.sh); if not, these tests ERROR with
the command that provides them - never skip.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from burstd.prometheus.source import RetryPolicy
from burstd.sim import command, history
from burstd.sim.demand_source import load_demand
from burstd.sim.history import rfc3339
from burstd.sim.trace import Trace

from .prometheus_server import (
    FrontServer,
    Prometheus,
    PrometheusSetupError,
    backfill,
    free_port,
    start_prometheus,
)

TOKEN = "s3cr3t-T0KEN-history-test"  # must never leak
DAYS = 8
STEP = 60
POINTS = DAYS * 1440
ROOT = Path(__file__).resolve().parents[2]
FAST_RETRY = RetryPolicy(attempts=2, initial_wait=0.05, max_wait=0.1, max_time=10.0)
HOLE = range(600, 620)  # the gappy series has no sample for these 20 minutes ...
NAN_AT = 300  # ... and a NaN here


def demand(k: int) -> float:
    """Minute k of the history: a daily wave, a weekday step and some jitter; 3 decimals, exact in text."""
    wave = 150 + 90 * math.sin(2 * math.pi * (k % 1440) / 1440)
    return round(wave + 40 * ((k // 1440) % 7 < 5) + (k * 7919 % 41) / 8, 3)


@dataclass(frozen=True)
class History:
    prometheus: Prometheus
    front: FrontServer
    end: float  # the last sample's time (a multiple of STEP)
    token_file: Path

    @property
    def start(self) -> float:
        return self.end - (POINTS - 1) * STEP


def openmetrics(end: int) -> str:
    start = end - (POINTS - 1) * STEP
    day = end - 1439 * STEP
    lines = ["# TYPE burstd_hist_demand gauge"]
    lines += [f"burstd_hist_demand {demand(k):.3f} {start + k * STEP}" for k in range(POINTS)]
    lines.append("# TYPE burstd_hist_gappy gauge")
    for k in range(1440):
        if k not in HOLE:
            value = "NaN" if k == NAN_AT else f"{demand(k):.3f}"
            lines.append(f"burstd_hist_gappy {value} {day + k * STEP}")
    lines.append("# TYPE burstd_hist_pods gauge")
    for pod in ("a", "b"):
        lines += [f'burstd_hist_pods{{pod="{pod}"}} 1 {end - k * STEP}' for k in range(59, -1, -1)]
    lines.append("# TYPE burstd_hist_negative gauge")
    lines += [f"burstd_hist_negative {-3 if k == 30 else 5} {end - (59 - k) * STEP}" for k in range(60)]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    work = tmp_path_factory.mktemp("history")
    end = int(time.time()) // STEP * STEP - 3 * STEP
    token_file = work / "token"
    token_file.write_text(TOKEN + "\n")
    with contextlib.ExitStack() as stack:
        failure = None
        try:
            started = time.monotonic()
            backfill(openmetrics(end), work / "data")
            backfilled = time.monotonic() - started
            # time retention counts back from the newest block's end: keep more than the history
            prom = stack.enter_context(start_prometheus({}, storage=work / "data", retention="30d"))
        except PrometheusSetupError as exc:
            failure = str(exc)
        if failure is not None:  # an ERROR with the reason, never a skip
            pytest.fail(failure, pytrace=False)
        front = FrontServer(prom.url, accepted_token=TOKEN)
        stack.callback(front.stop)
        print(f"\nbackfill {backfilled:.2f} s; prometheus ready in {prom.ready_s:.2f} s")
        yield History(prom, front, float(end), token_file)


def argv(url: str, query: str, *extra: str) -> list[str]:
    return ["--prometheus", url, "--query", query, "--step", "1m", *extra]


def pull(url: str, query: str, *extra: str, now: float | None = None) -> Trace:
    return load_demand(command_parser().parse_args(argv(url, query, *extra)), now=now)


def command_parser() -> argparse.ArgumentParser:
    """The parser ``burstd simulate`` uses."""
    parser = argparse.ArgumentParser(prog="burstd simulate")
    command.add_arguments(parser)
    return parser


def ranges(front: FrontServer, since: int) -> list[tuple[float, float, float]]:
    """(start, end, step) of the range queries the front relayed, from request number ``since`` on."""
    with front.lock:
        paths = front.paths[since:]
    out = []
    for path in paths:
        split = urllib.parse.urlsplit(path)
        assert split.path == "/api/v1/query_range"
        params = urllib.parse.parse_qs(split.query)
        out.append((float(params["start"][0]), float(params["end"][0]), float(params["step"][0])))
    return out


def fails(args: Sequence[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``burstd simulate`` in process; it must exit 1 with one line on stderr. Returns that line."""
    code = command.main(list(args))
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    return captured.err.strip()


# ---------------------------------------------------------------- the history comes back as written


def test_simulate_pulls_eight_days_in_queries_of_the_real_limit(env: History) -> None:
    """The CLI end to end, with a bearer token: 11,520 points are two range queries, 11,000 + 520."""
    before = len(env.front.paths)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "burstd",
            "simulate",
            *argv(env.front.url, "burstd_hist_demand", "--since", "8d", "--until", rfc3339(env.end)),
            "--prometheus-bearer-token-file",
            str(env.token_file),
            "--report",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["trace"] == {
        "name": "prometheus:burstd_hist_demand",
        "rows": POINTS,
        "filled_samples": 0,
        "step_s": 60.0,
        "duration_s": DAYS * 86400.0,
    }
    # the history runs at its real times (schedules and seasonality see the real time of day)
    assert report["settings"]["start_time"] == rfc3339(env.start)
    assert report["runs"]["burstd"]["cost"] > 0
    assert ranges(env.front, before) == [
        (env.start, env.start + 10_999 * STEP, 60.0),
        (env.start + 11_000 * STEP, env.end, 60.0),
    ]


def test_the_trace_equals_the_samples_written_across_many_small_chunks(
    env: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "CHUNK_POINTS", 500)
    before = len(env.front.paths)
    # --since 9d reaches a day before the first sample: the trace starts at the first one; the clock is
    # injected: the grid ends at now rounded down to the step, the last sample
    trace = pull(env.front.url, "burstd_hist_demand", "--since", "9d", now=env.end + 59)
    assert trace.values == tuple(demand(k) for k in range(POINTS))
    assert trace.times == tuple(float(k * STEP) for k in range(POINTS))
    assert (trace.rows, trace.filled, trace.step) == (POINTS, 0, 60.0)
    assert trace.origin == env.start  # the Unix time of the first sample
    chunks = ranges(env.front, before)
    assert len(chunks) == math.ceil(9 * 1440 / 500) == 26
    assert chunks[0][0] == env.end - (9 * 1440 - 1) * STEP
    assert chunks[-1][1] == env.end
    for (_, end, _), (start, _, _) in itertools.pairwise(chunks):
        assert start == end + STEP  # stitched without a duplicate or a missing step
    assert all((e - s) / STEP + 1 <= 500 for s, e, _ in chunks)


def test_prometheus_refuses_more_than_its_limit_and_the_error_says_so(
    env: History, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """11,000 points per query pass (above); 11,002 do not: the chunk size is the real limit."""
    monkeypatch.setattr(history, "CHUNK_POINTS", 11_002)
    line = fails(argv(env.prometheus.url, "burstd_hist_demand", "--since", "8d"), capsys)
    assert line == (
        "--query 'burstd_hist_demand': rejected by Prometheus (HTTP 400) - bad_data: exceeded maximum "
        "resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX) "
        "(use a longer --step or a shorter --since)"
    )


# ---------------------------------------------------------------- gaps and NaN: the rules of CSV traces


def test_missing_and_nan_samples_are_gaps(env: History, capsys: pytest.CaptureFixture[str]) -> None:
    day = env.end - 1439 * STEP
    line = fails(
        argv(env.prometheus.url, "burstd_hist_gappy", "--since", "1d", "--until", str(env.end)), capsys
    )
    assert line.startswith("--query 'burstd_hist_gappy': no value at 1")
    assert f"1m from {rfc3339(day + NAN_AT * STEP)} (and 1 more gap). Pass --fill-gaps hold" in line

    hold = pull(env.prometheus.url, "burstd_hist_gappy", "--since", "1d", "--fill-gaps", "hold", now=env.end)
    expected = [demand(k) for k in range(1440)]
    expected[NAN_AT] = expected[NAN_AT - 1]
    for k in HOLE:
        expected[k] = expected[HOLE.start - 1]
    assert hold.values == tuple(expected)
    # Prometheus itself carries the last sample for its 5-minute lookback delta: the rest of the hole and
    # the NaN are filled (15 or 16 steps, depending on whether the lookback includes its start)
    assert hold.filled in (1 + 15, 1 + 16)
    assert hold.rows + hold.filled == 1440

    zero = pull(env.prometheus.url, "burstd_hist_gappy", "--since", "1d", "--fill-gaps", "zero", now=env.end)
    assert zero.values[NAN_AT] == 0.0
    assert zero.values[HOLE.start : HOLE.start + 4] == (expected[HOLE.start - 1],) * 4  # the lookback
    assert zero.values[HOLE.start + 6 : HOLE.stop] == (0.0,) * 14
    assert zero.values[HOLE.stop :] == tuple(expected[HOLE.stop :])


# ---------------------------------------------------------------- errors: one line, exit 1, no secrets


def test_a_wrong_token_is_refused_and_never_echoed(env: History, tmp_path: Path) -> None:
    wrong = tmp_path / "token"
    wrong.write_text("wrong-" + TOKEN)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "burstd",
            "simulate",
            *argv(env.front.url, "burstd_hist_demand", "--since", "1d"),
            "--prometheus-bearer-token-file",
            str(wrong),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (
        f"--prometheus {env.front.url}: HTTP 401: not authorized; check --prometheus-bearer-token-file (or "
        "the user and password in the URL) and the token's permissions\n"
    )


def test_basic_auth_in_the_url_never_shows_the_password(
    env: History, capsys: pytest.CaptureFixture[str]
) -> None:
    url = env.front.url.replace("http://", "http://alice:pw-" + TOKEN + "@")
    line = fails(argv(url, "burstd_hist_demand", "--since", "1d"), capsys)
    assert line.startswith(f"--prometheus {env.front.url}: HTTP 401: not authorized")
    assert TOKEN not in line


def test_unavailable_prometheus_is_retried_then_named_without_the_token(
    env: History, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(history, "RETRY", FAST_RETRY)
    before = env.front.count("sum(burstd_test_down)")
    line = fails(
        [
            *argv(env.front.url, "sum(burstd_test_down)", "--since", "1d"),
            "--prometheus-bearer-token-file",
            str(env.token_file),
        ],
        capsys,
    )
    # the front echoes the Authorization header in its 503 answer: it comes back redacted
    assert line == (
        f"--prometheus {env.front.url}: Prometheus unavailable (HTTP 503) - unavailable: overloaded; you "
        "sent Bearer ***"
    )
    assert env.front.count("sum(burstd_test_down)") - before == FAST_RETRY.attempts

    down = f"http://127.0.0.1:{free_port()}"
    line = fails(argv(down, "burstd_hist_demand", "--since", "1d"), capsys)
    assert line.startswith(f"--prometheus {down}: cannot reach {down}: ConnectError")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "sum(",
            "--query 'sum(': rejected by Prometheus (HTTP 400) - bad_data: 1:5: parse error: unclosed left parenthesis",
        ),
        (
            "burstd_hist_pods",
            "--query 'burstd_hist_pods': returned 2 series "
            '({__name__="burstd_hist_pods",pod="a"}, {__name__="burstd_hist_pods",pod="b"}); the demand must be '
            "one series: aggregate the query, e.g. sum(...) or max(...)",
        ),
        ("burstd_hist_negative", "--query 'burstd_hist_negative': -3 at {t30} is negative; demand must not"),
        (
            "burstd_hist_absent",
            "--query 'burstd_hist_absent': no data from {start} to {end} (step 1m); check",
        ),
    ],
)
def test_query_errors_name_the_query(
    env: History, query: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = fails(argv(env.prometheus.url, query, "--since", "1d", "--until", str(env.end)), capsys)
    for name, t in (("{t30}", env.end - 29 * STEP), ("{start}", env.end - 1439 * STEP), ("{end}", env.end)):
        expected = expected.replace(name, rfc3339(t))
    assert line.startswith(expected)


def test_a_url_that_is_not_prometheus_says_so(env: History, capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(argv(env.prometheus.url + "/nothing", "burstd_hist_demand", "--since", "1d"), capsys)
    assert line == (
        f"--prometheus {env.prometheus.url}/nothing: unexpected HTTP 404 - (no JSON body); does the URL "
        "point at Prometheus?"
    )
