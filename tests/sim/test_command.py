"""``burstd simulate`` end to end: the JSON report, determinism, the table, the plot, exit codes."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from burstd.sim import command

ROOT = Path(__file__).resolve().parents[2]
RUN_KEYS = {
    "cost",
    "unserved_replica_seconds",
    "unserved_ratio",
    "actions",
    "replica_moves",
    "peak_cloud_nodes",
    "bursts",
    "node_hours",
    "demand_above_base_replica_seconds",
}


def spiky_trace(tmp_path: Path) -> str:
    """One day, 1-minute steps: a daily wave with two sharp spikes."""
    lines = ["timestamp_s,demand"]
    for i in range(24 * 60):
        value = 100 + 60 * (1 if 9 * 60 <= i < 18 * 60 else 0)
        if 600 <= i < 640 or 1000 <= i < 1090:
            value += 200
        lines.append(f"{i * 60},{value}")
    path = tmp_path / "demand.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def stocky_fleet(tmp_path: Path) -> str:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "apiVersion: burstd.io/v1alpha1\n"
        "kind: SimulatedFleet\n"
        "metadata: {name: stocky}\n"
        "spec:\n"
        "  request: {cpu: '1', memory: 2Gi}\n"
        "  peakReplicas: 400\n"
        "  base: {replicas: p70}\n"
        "  poolDefaults: {provisionDelay: 3m, stockOutProbability: 0.3, stockOutDuration: 5m,\n"
        "                 launchFailureProbability: 0.05}\n"
    )
    return str(path)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="burstd simulate")
    command.add_arguments(parser)
    return parser.parse_args(argv)


def run_json(argv: list[str]) -> tuple[str, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    assert command.run(parse([*argv, "--report", "json"]), out=out, err=err) == 0, err.getvalue()
    text = out.getvalue()
    return text, json.loads(text)


def cli(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "burstd.sim.command", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_json_report_shape(tmp_path: Path) -> None:
    text, report = run_json(["--trace", spiky_trace(tmp_path)])
    assert text.count("\n") == 1  # one JSON object on one line
    assert set(report) >= {"runs", "trace", "settings"}
    assert list(report["runs"]) == ["burstd", "reactive", "oracle"]
    for name, run in report["runs"].items():
        assert set(run) >= RUN_KEYS, name
        assert run["cost"] == round(run["cost"], 2)
        assert run["unserved_replica_seconds"] >= 0
        assert run["demand_above_base_replica_seconds"] > 0
    assert report["runs"]["oracle"]["unserved_replica_seconds"] == 0
    assert report["settings"]["peak_replicas"] == 400
    assert report["settings"]["base_replicas_spec"] == "p70"
    assert report["settings"]["provision_delay_s"] == {"tke-gz6": 180.0, "ack-hz-h": 180.0}
    assert report["trace"]["rows"] == 1440


def test_same_seed_same_report(tmp_path: Path) -> None:
    argv = ["--trace", spiky_trace(tmp_path), "--fleet", stocky_fleet(tmp_path)]
    first, report = run_json([*argv, "--seed", "7"])
    second, _ = run_json([*argv, "--seed", "7"])
    other, _ = run_json([*argv, "--seed", "8"])
    assert first == second
    assert first != other
    assert report["runs"]["burstd"]["failed_launches"] > 0


def test_overrides(tmp_path: Path) -> None:
    _, report = run_json(
        [
            "--trace",
            spiky_trace(tmp_path),
            "--peak-replicas",
            "200",
            "--base-replicas",
            "120",
            "--provision-delay",
            "90s",
        ]
    )
    settings = report["settings"]
    assert settings["peak_replicas"] == 200
    assert settings["base_replicas"] == 120
    assert settings["provision_delay_s"] == {"tke-gz6": 90.0, "ack-hz-h": 90.0}


def test_table_plot_and_log(tmp_path: Path) -> None:
    png = tmp_path / "out.png"
    log = tmp_path / "actions.log"
    out = io.StringIO()
    args = parse(["--trace", spiky_trace(tmp_path), "--plot", str(png), "--log", str(log)])
    assert command.run(args, out=out) == 0
    table = out.getvalue().splitlines()
    assert table[0].startswith("burstd simulate: trace ")
    assert "peak 400 replicas, base " in table[0]
    assert "provisioning delay 3m" in table[0]
    header = next(i for i, line in enumerate(table) if line.startswith("run "))
    assert [line.split()[0] for line in table[header + 1 : header + 4]] == ["burstd", "reactive", "oracle"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "burstd scale pool" in log.read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--peak-replicas", "0"], "must be at least 1"),
        (["--peak-replicas", "many"], "expected a whole number"),
        (["--base-replicas", "q70"], "invalid base replicas 'q70'"),
        (["--provision-delay", "3x"], "invalid duration '3x'"),
        (["--report", "xml"], "invalid choice: 'xml'"),
        (["--fill-gaps", "maybe"], "invalid choice: 'maybe'"),
        (["--seed"], "expected one argument"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str) -> None:
    result = cli(*argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_trace_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp_s,demand\n0,1\n60,-1\n")
    result = cli("--trace", str(path))
    assert result.returncode == 1
    assert result.stderr.strip() == f"{path}:3:4: demand: must not be negative, got -1"
    assert result.stdout == ""


def test_trace_with_a_gap_exits_1_and_names_the_fix() -> None:
    result = cli("--trace", "nasa-http-1995")
    assert result.returncode == 1
    assert result.stderr.startswith("nasa-http-1995:39694:1: timestamp_s: gap of 296940s between line 39693")
    assert "--fill-gaps hold" in result.stderr


def test_missing_files_exit_1(tmp_path: Path) -> None:
    for flag in ("--trace", "--fleet", "--policy"):
        result = cli(flag, str(tmp_path / "nope"))
        assert result.returncode == 1, flag
        assert str(tmp_path / "nope") in result.stderr
        assert "Traceback" not in result.stderr


def test_bad_fleet_exits_1_with_position(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "apiVersion: burstd.io/v1alpha1\nkind: SimulatedFleet\nmetadata: {name: x}\nspec:\n"
        "  request: {cpu: '1', memory: 2Gi}\n  peakReplicas: 10\n  base: {replicas: 5}\n"
        "  poolDefaults: {provisionDelay: soon}\n"
    )
    result = cli("--fleet", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}:8:34: spec.poolDefaults.provisionDelay: invalid duration 'soon'")


def test_fleet_that_does_not_fit_the_policy_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "apiVersion: burstd.io/v1alpha1\nkind: SimulatedFleet\nmetadata: {name: x}\nspec:\n"
        "  request: {cpu: '1', memory: 2Gi}\n  peakReplicas: 10\n"
        "  base: {clusters: [idc-9], replicas: 5}\n"
    )
    result = cli("--fleet", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}: fleet spec.base.clusters ['idc-9'] does not match")


def test_bad_policy_exits_1_with_position(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    text = (
        (ROOT / "burstd/sim/data/policy.yaml").read_text().replace("maxCloudNodes: 80", "maxCloudNodes: -1")
    )
    path.write_text(text)
    result = cli("--policy", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}:")
    assert "spec.limits.maxCloudNodes" in result.stderr


def test_default_run_prints_the_table(tmp_path: Path) -> None:
    result = cli("--trace", spiky_trace(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("burstd simulate: trace ")
    assert "oracle" in result.stdout


def test_wired_into_the_burstd_command() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "burstd", "simulate", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--fill-gaps" in result.stdout
