"""Hostile input files: never a traceback, never a hang.

Hypothesis takes valid documents (the bundled policy, the example settings, a small trace) and breaks them:
NaN, infinities, ``1e999``, numbers with hundreds of digits, negative and zero values, wrong types, deep
nesting, YAML aliases, huge strings and bytes that are not UTF-8. Each file goes to what a user would run:
``burstd policy check`` and ``burstd simulate --trace`` through the CLI's ``main()`` in this process (fast),
the settings loader with ``burstd run``'s startup checks, and a few of each as real ``burstd`` processes.
The only acceptable outcomes are success or a clear error (exit 1, or 2 for usage), each error line saying
where (``FILE:LINE:COL``); an exception escaping, a traceback on stderr or a call that does not return
within its bound fails the test.

The traces Hypothesis writes span at most a few hours when valid (their hostile values are all outside the
trace bounds), so a simulation that is accepted stays fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from burstd.cli import main
from burstd.runtime import preflight
from burstd.runtime.settings import SettingsError, load_settings_with_origins

from .figures import add

ROOT = Path(__file__).resolve().parents[2]
POLICY = YAML(typ="safe").load((ROOT / "burstd" / "sim" / "data" / "policy.yaml").read_text())
SETTINGS = YAML(typ="safe").load((ROOT / "deploy" / "config.example.yaml").read_text())

#: bound on one in-process call (a guard against a hang: the fuzzed inputs take milliseconds)
CALL_BOUND_S = 60
#: bound on one ``burstd`` process
PROCESS_BOUND_S = 120

FUZZ = settings(
    max_examples=200,
    deadline=None,  # no timed assertion: a hang is caught by CALL_BOUND_S instead
    derandomize=True,  # the same inputs on every CI run
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

#: ``FILE:LINE:COL: ...`` (policy and settings files) or ``FILE:LINE:COL: FIELD: ...`` (traces)
LOCATED = re.compile(r"^.+:\d+:\d+: \S")


class Hang(Exception):
    pass


@contextlib.contextmanager
def bounded(seconds: int) -> Iterator[None]:
    """Raise Hang in this (the main) thread if the block has not returned after ``seconds``."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``burstd ARGV`` in this process: (exit code, stdout, stderr). Any exception escaping fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with bounded(CALL_BOUND_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------------------------------- YAML writing


class Raw(str):
    """A YAML token written as is: ``.nan``, ``1e999``, ``[[[[]]]]``, ``!!binary ...``."""


def to_yaml(value: Any) -> str:
    """Flow-style YAML, so that every hostile value can sit anywhere in a document."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_yaml(str(k))}: {to_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_yaml(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


HOSTILE_TOKENS = [
    ".nan",
    ".inf",
    "-.inf",
    "1e999",
    "-1e999",
    "1e308",
    "1e29",
    "9" * 400,
    "-" + "9" * 400,
    '"' + "9" * 400 + '"',
    '"' + "9" * 400 + 'd"',
    '"1e999s"',
    '"0s"',
    '"0"',
    '"0m"',
    '"-1s"',
    '"99999999999999999999d"',
    '"999999999999Ei"',
    '"100%"',
    '"1000%"',
    "0",
    "-1",
    "0.0",
    "-0.0",
    "2147483648",
    "18446744073709551616",
    "true",
    "null",
    "~",
    "[]",
    "{}",
    '""',
    "!!binary AAEC",
    "!!set {a, b}",
    "!!timestamp 2001-12-14",
    "!!python/object:os.system {}",
    "*undefined_alias",
    "2001-12-14t21:59:43.10-05:00",
]


#: values at the edges of what is valid (often accepted): these reach the engine when the policy passes
EDGE_TOKENS = [
    '"366d"',
    '"1d"',
    '"1ms"',
    '"0s"',
    '"1h"',
    "0",
    "1",
    "10000",
    "1e18",
    "-1e18",
    "5e-324",
    '"1Ei"',
    '"1m"',
    '"1000000"',
    '"100%"',
    '"0%"',
    '"0.001%"',
    "1000000",
    "2147483647",
    "-2147483648",
]


def hostile_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(HOSTILE_TOKENS).map(Raw),
        st.sampled_from(EDGE_TOKENS).map(Raw),
        st.sampled_from(EDGE_TOKENS).map(Raw),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.text(max_size=40),
        st.integers(min_value=1, max_value=3000).map(lambda n: Raw("[" * n + "]" * n)),
        st.integers(min_value=1_000, max_value=200_000).map(lambda n: "x" * n),
        st.lists(st.integers(), max_size=5),
        st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
    )


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value (mappings, lists and leaves) inside ``value``."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found.extend(paths_of(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(paths_of(v, (*prefix, i)))
    return found


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: (replaced(v, rest, value) if k == head else v) for k, v in doc.items()}
    return [replaced(v, rest, value) if i == head else v for i, v in enumerate(doc)]


@st.composite
def broken_documents(draw: st.DrawFn, base: Any) -> bytes:
    """``base`` with one to three values replaced by hostile ones, maybe a key added, maybe bytes spoiled;
    or (a third of the time) with one or two numbers or strings set to values at the edge of validity."""
    if draw(st.integers(0, 2)) == 0:
        doc = base
        leaves = [p for p in paths_of(base) if p and isinstance(_at(base, p), (int, float, str))]
        for _ in range(draw(st.integers(1, 2))):
            doc = replaced(doc, draw(st.sampled_from(leaves)), Raw(draw(st.sampled_from(EDGE_TOKENS))))
        return to_yaml(doc).encode()
    doc = base
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(doc)))
        doc = replaced(doc, path, draw(hostile_values()))
    if isinstance(doc, dict) and draw(st.booleans()):
        doc = {**doc, draw(st.text(max_size=12)): draw(hostile_values())}
    text = to_yaml(doc).encode("utf-8", errors="surrogatepass")
    spoil = draw(st.sampled_from(["none", "none", "bytes", "alias-bomb", "truncate"]))
    if spoil == "bytes":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    elif spoil == "alias-bomb":
        layers = [b"a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in range(1, 7):
            layers.append(f"a{i}: &a{i} [".encode() + b", ".join([f"*a{i - 1}".encode()] * 10) + b"]")
        text = b"\n".join(layers) + b"\n"
    elif spoil == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    return text


# ------------------------------------------------------------------------------------------- assertions


def assert_clear_failure(code: int, err: str, what: str) -> None:
    assert "Traceback" not in err, err[-3000:]
    assert code in (0, 1, 2), (code, err[-3000:])
    if code == 1:
        assert err.strip(), f"{what}: exit 1 without saying why"


def assert_located(lines: list[str], file: Path) -> None:
    """Every problem line names the file and a position in it."""
    problems = [line for line in lines if line.startswith(str(file))]
    assert problems, lines[:5]
    for line in problems:
        assert LOCATED.match(line), line[:300]


# ------------------------------------------------------------------------------------------- policies


@pytest.fixture(scope="module")
def short_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hours at one-minute steps: 100, then 400 for 40 minutes, then 100 (a burst and back)."""
    path = tmp_path_factory.mktemp("short") / "demand.csv"
    rows = [(60 * i, 400 if 30 <= i < 70 else 100) for i in range(120)]
    path.write_text("timestamp_s,demand\n" + "".join(f"{t},{v}\n" for t, v in rows))
    return path


@FUZZ
@given(text=broken_documents(POLICY))
def test_policy_check_never_tracebacks(
    tmp_path_factory: pytest.TempPathFactory, short_trace: Path, text: bytes
) -> None:
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_bytes(text)
    code, out, err = run_cli(["policy", "check", str(path)])
    add(fuzzed_policy_files=1)
    assert_clear_failure(code, err, "policy check")
    if code == 0:
        add(fuzzed_policy_files_valid=1)
        assert f"{path}: ok" in out
        # an accepted policy goes through the engine: a short burst and back
        code, out, err = run_cli(["simulate", "--policy", str(path), "--trace", str(short_trace)])
        add(fuzzed_policies_simulated=1)
        assert_clear_failure(code, err, "simulate --policy")
        if code == 1:
            assert err.startswith("<bundled fleet.yaml>: "), err  # the policy does not fit the fleet
    else:
        assert code == 1
        assert_located(err.splitlines(), path)


# ------------------------------------------------------------------------------------------- settings


@FUZZ
@given(text=broken_documents(SETTINGS))
def test_settings_never_traceback(tmp_path_factory: pytest.TempPathFactory, text: bytes) -> None:
    path = tmp_path_factory.mktemp("settings") / "burstd.yaml"
    path.write_bytes(text)
    add(fuzzed_settings_files=1)
    with bounded(CALL_BOUND_S), _clean_environment():
        try:
            loaded, origins = load_settings_with_origins(path)
        except SettingsError as exc:
            assert_located(str(exc).splitlines(), path)
            return
        checked = preflight.check(loaded, origins)  # what `burstd run` checks before it connects
    add(fuzzed_settings_files_valid=1)
    for line in checked.problems:
        assert LOCATED.match(line), line


@contextlib.contextmanager
def _clean_environment() -> Iterator[None]:
    """No BURSTD_* variable and no POD_IP from the environment of the test run."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("BURSTD_") or k == "POD_IP"}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


# ------------------------------------------------------------------------------------------- traces

#: timestamps and values outside the trace bounds, or not numbers at all
HOSTILE_NUMBERS = [
    "1e308",
    "1e300",
    "1e12",
    "-1e12",
    "nan",
    "inf",
    "-inf",
    "1e999",
    "-1",
    "9" * 400,
    "0x10",
    "",
    " ",
    "1,2",
    "\x00",
    "١",  # an Arabic-Indic digit
]


@st.composite
def traces(draw: st.DrawFn) -> bytes:
    step = draw(st.sampled_from([60.0, 300.0, 1.0, 0.5, 1e-3]))
    rows = draw(st.integers(2, 40))
    times = [i * step for i in range(rows)]
    values = [draw(st.floats(0, 1000, allow_nan=False)) for _ in range(rows)]
    cells = [[f"{t:.15g}", f"{v:.15g}"] for t, v in zip(times, values, strict=True)]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        row, col = draw(st.integers(0, rows - 1)), draw(st.integers(0, 1))
        cells[row][col] = draw(st.sampled_from(HOSTILE_NUMBERS))
    if draw(st.integers(0, 2)) == 0:  # out of order, or too long to fill
        row = draw(st.integers(1, rows - 1))
        cells[row][0] = draw(st.sampled_from(["0", "1e9", "3e7", "-5"]))
    if draw(st.integers(0, 2)) == 0:  # a gap that --fill-gaps may fill (an error without it)
        shift = draw(st.sampled_from([10 * step, 100 * step]))
        cells = cells[:1] + [[f"{float(t) + shift:.15g}" if _is_number(t) else t, v] for t, v in cells[1:]]
    header = draw(st.sampled_from(["timestamp_s,demand", "timestamp_s,demand", "\ufefftimestamp_s,demand"]))
    text = (header + "\n" + "\n".join(",".join(c) for c in cells) + "\n").encode()
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    return text


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


@settings(FUZZ, max_examples=80)
@given(text=traces(), fill=st.sampled_from([[], ["--fill-gaps", "hold"], ["--fill-gaps", "zero"]]))
def test_simulate_never_tracebacks_on_a_trace(
    tmp_path_factory: pytest.TempPathFactory, text: bytes, fill: list[str]
) -> None:
    path = tmp_path_factory.mktemp("trace") / "demand.csv"
    path.write_bytes(text)
    code, out, err = run_cli(["simulate", "--trace", str(path), "--report", "json", *fill])
    add(fuzzed_trace_files=1)
    assert_clear_failure(code, err, "simulate")
    if code == 0:
        add(fuzzed_trace_files_simulated=1)
        assert json.loads(out)["trace"]["name"] == str(path)
    else:
        assert code == 1, err
        assert_located(err.splitlines(), path)


# ------------------------------------------------------------------------------------------- processes

PROCESS_CASES: list[tuple[str, str, bytes]] = [
    ("policy", "above", to_yaml({**POLICY, "spec": {**POLICY["spec"], "priority": Raw(".nan")}}).encode()),
    ("policy", "nesting", b"apiVersion: burstd.io/v1alpha1\nkind: BurstPolicy\nspec: " + b"[" * 5000),
    ("policy", "binary", b"apiVersion: burstd.io/v1alpha1\n\xff\xfe\x00kind: BurstPolicy\n"),
    ("settings", "zero tick", b"tickInterval: 0s\n"),
    ("settings", "binary", b"namespace: x\n\xff\xfe\x00\n"),
    ("settings", "nesting", b"karmada: " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    ("trace", "1e308", b"timestamp_s,demand\n0,1\n60,1e308\n"),
    ("trace", "1e12 step", b"timestamp_s,demand\n0,1\n1e12,2\n"),
    ("trace", "1e300 timestamp", b"timestamp_s,demand\n0,1\n1e300,2\n"),
    ("trace", "gap", b"timestamp_s,demand\n0,1\n0.001,1\n0.002,1\n2592000,3\n"),
]


def _command(kind: str, path: Path) -> list[str]:
    if kind == "policy":
        return ["policy", "check", str(path)]
    if kind == "settings":
        return ["run", "--config", str(path)]
    return ["simulate", "--trace", str(path), "--fill-gaps", "hold"]


@pytest.mark.parametrize(
    ("kind", "name", "text"), PROCESS_CASES, ids=[f"{k}-{n}" for k, n, _ in PROCESS_CASES]
)
def test_burstd_process_on_a_hostile_file_exits_1_with_a_location(
    tmp_path: Path, kind: str, name: str, text: bytes
) -> None:
    path = tmp_path / ("demand.csv" if kind == "trace" else f"{kind}.yaml")
    path.write_bytes(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURSTD_") and k != "POD_IP"}
    env["KUBECONFIG"] = str(tmp_path / "absent.kubeconfig")  # never a real cluster
    done = subprocess.run(
        [sys.executable, "-m", "burstd", *_command(kind, path)],
        capture_output=True,
        text=True,
        timeout=PROCESS_BOUND_S,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    add(fuzzed_processes=1)
    assert done.returncode == 1, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert re.search(rf"{re.escape(str(path))}:\d+:\d+: ", done.stderr), done.stderr[-3000:]
