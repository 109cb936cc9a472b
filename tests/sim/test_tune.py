"""``burstd tune``: objectives, the out-of-sample check, the tuned policy file, the report, errors."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from burstd import cli
from burstd.sim import tune_command
from burstd.sim.files import load_policy
from burstd.sim.front import Caps, Figures, Point
from burstd.sim.plot_front import build_front_figure, plot_front
from burstd.sim.tunables import Tunable, custom_tunables
from burstd.sim.tune import Objective, edge_notes, tune
from burstd.sim.tune_report import to_table

from .test_reactive_spare import POLICY_YAML, alibaba_two_days

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "burstd" / "sim" / "data"
GRID = [
    "--tune",
    "spec.burst.headroom=0%,10%",
    "--tune",
    "spec.drain.stabilizationWindow=0s,12m",
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    """Two days of alibaba-2018 and the example policy (with its comments)."""
    lines = (DATA / "traces" / "alibaba-2018" / "demand.csv").read_text().splitlines()[: 1 + 2 * 288]
    trace = tmp_path / "alibaba-2d.csv"
    trace.write_text("\n".join(lines) + "\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_YAML)
    return str(policy), str(trace)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="burstd tune")
    tune_command.add_arguments(parser)
    return parser.parse_args(argv)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = tune_command.run(parse(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def run_json(argv: list[str]) -> tuple[int, dict[str, Any], str]:
    code, out, err = run([*argv, "--report", "json", "--jobs", "1"])
    return code, (json.loads(out) if out else {}), err


def test_objective_syntax() -> None:
    assert Objective.parse("max_unserved", "0.5x") == Objective("max_unserved", 0.5, "x")
    assert Objective.parse("max_unserved", "2%") == Objective("max_unserved", 2.0, "%")
    assert Objective.parse("max_cost", " 1.5x ") == Objective("max_cost", 1.5, "x")
    for kind, text in (
        ("max_cost", "2%"),
        ("max_unserved", "half"),
        ("max_unserved", "-1x"),
        ("max_unserved", "101%"),
    ):
        with pytest.raises(ValueError, match=r"expected|at most"):
            Objective.parse(kind, text)  # type: ignore[arg-type]


def test_tune_meets_the_objective_and_writes_the_policy(files: tuple[str, str], tmp_path: Path) -> None:
    policy, trace = files
    output = tmp_path / "tuned.yaml"
    code, report, err = run_json(
        [
            "--policy",
            policy,
            "--trace",
            trace,
            *GRID,
            "--max-unserved",
            "1.2x",
            "--holdout",
            "25%",
            "--output",
            str(output),
        ]
    )
    assert code == 0, err
    assert set(report) >= {
        "trace",
        "settings",
        "tunables",
        "notes",
        "search",
        "chosen",
        "holdout",
        "out_of_sample",
    }
    assert report["met"] is True
    assert report["settings"]["objective"] == {"kind": "max_unserved", "value": 1.2, "unit": "x"}
    search = report["search"]
    assert search["name"] == "tune"
    assert search["duration_s"] == 36 * 3600
    assert len(search["points"]["burstd"]) == 4
    assert {"burstd", "burstd_within_caps", "reactive"} <= set(search["fronts"])
    chosen = report["chosen"]
    assert chosen["unserved_vs_reactive"] <= 1.2
    # the cheapest of the points that meet the objective
    ok = [p for p in search["points"]["burstd"] if p["unserved_vs_reactive"] <= 1.2]
    assert chosen["cost"] == min(p["cost"] for p in ok)
    for key in ("cost_vs_oracle", "replica_moves_per_burst", "weight_writes_per_burst", "params"):
        assert key in chosen
    # out of sample: the chosen parameters on the last 25%, with the deltas
    holdout = report["holdout"]
    assert holdout["start_s"] == 36 * 3600
    assert holdout["duration_s"] == 12 * 3600
    assert holdout["chosen"]["params"] == chosen["params"]
    oos = report["out_of_sample"]
    cost = oos["cost_vs_oracle"]
    assert cost["in_sample"] == chosen["cost_vs_oracle"]
    assert cost["out_of_sample"] == holdout["chosen"]["cost_vs_oracle"]
    assert cost["delta"] == pytest.approx(cost["out_of_sample"] - cost["in_sample"], abs=1e-3)
    assert isinstance(oos["objective_met_out_of_sample"], bool)
    # the tuned file: the chosen values, every comment of the input, and it passes 'burstd policy check'
    tuned = output.read_text()
    original = Path(policy).read_text()
    for line in original.splitlines():
        if line.strip().startswith("#"):
            assert line in tuned
    assert "Tuned by burstd tune" in tuned
    loaded = load_policy(str(output))
    assert loaded.spec.burst.headroom == pytest.approx(
        float(chosen["params"]["spec.burst.headroom"].rstrip("%")) / 100
    )
    assert cli.main(["policy", "check", str(output)]) == 0


def test_no_point_meets_the_objective(files: tuple[str, str], tmp_path: Path) -> None:
    policy, trace = files
    output = tmp_path / "tuned.yaml"
    code, report, _ = run_json(
        ["--policy", policy, "--trace", trace, *GRID, "--max-cost", "0.1x", "--output", str(output)]
    )
    assert code == tune_command.EXIT_NOT_MET
    assert report["met"] is False
    assert report["chosen"] is None
    assert report["closest"]
    assert report["out_of_sample"] is None
    assert not output.exists()


def test_caps_exclude_points(files: tuple[str, str]) -> None:
    policy, trace = files
    # every variant of this static-weights policy writes weights: none is within a cap of 0
    code, report, _ = run_json(
        [
            "--policy",
            policy,
            "--trace",
            trace,
            *GRID,
            "--max-cost",
            "100x",
            "--max-weight-writes-per-burst",
            "0",
        ]
    )
    assert code == tune_command.EXIT_NOT_MET
    points = report["search"]["points"]["burstd"]
    assert points
    assert all(p["weight_writes_per_burst"] > 0 and not p["within_caps"] for p in points)
    assert report["search"]["fronts"]["burstd_within_caps"] == []
    assert report["settings"]["caps"] == {"replica_moves_per_burst": None, "weight_writes_per_burst": 0.0}
    # a cap every point meets changes nothing
    code, report, _ = run_json(
        ["--policy", policy, "--trace", trace, *GRID, "--max-cost", "100x", "--max-moves-per-burst", "1e6"]
    )
    assert code == 0
    assert all(p["within_caps"] for p in report["search"]["points"]["burstd"])


def test_fronts_without_objective_table(files: tuple[str, str]) -> None:
    policy, trace = files
    code, out, err = run(["--policy", policy, "--trace", trace, *GRID, "--jobs", "2"])
    assert code == 0, err
    assert "searched on the whole history, 2.00 days" in out
    assert "burstd front" in out
    assert "reactive family front" in out
    assert "policy" in out
    assert "out of sample" not in out


def test_policy_without_the_trigger(tmp_path: Path, files: tuple[str, str]) -> None:
    _, trace = files
    text = POLICY_YAML
    text = text.replace("        - {signal: base.cpu.requestedRatio, above: 0.95, for: 0s}\n", "")
    text = text.replace(
        "{signal: base.cpu.requestedRatio, below: 0.9, for: 0s}",
        "{signal: fhpa.unfitReplicas, below: -5, for: 5m}",
    )
    policy = tmp_path / "no-ratio.yaml"
    policy.write_text(text)
    code, report, err = run_json(["--policy", str(policy), "--trace", trace, "--budget", "3"])
    assert code == 0, err
    assert not any("triggers" in t["path"] for t in report["tunables"])
    assert any("scaleOut" in n and "base.cpu.requestedRatio" in n for n in report["notes"])
    code, _, err = run_json(
        ["--policy", str(policy), "--trace", trace, "--tune", "spec.triggers.scaleOut.any[1].above=0.9"]
    )
    assert code == 2
    assert "--tune" in err
    assert "spec.triggers.scaleOut.any[1]" in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--max-unserved", "half"], "--max-unserved"),
        (["--max-cost", "1.5"], "--max-cost"),
        (["--max-cost", "150%"], "--max-cost"),
        (["--holdout", "95%"], "--holdout"),
        (["--max-moves-per-burst", "-1"], "--max-moves-per-burst"),
        (["--tune", "spec.burst.headroom"], "--tune"),
        (["--max-unserved", "0.5x", "--max-cost", "1.5x"], "not allowed with"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["tune", *argv])
    assert exc.value.code == 2
    assert named in capsys.readouterr().err


def test_usage_errors_found_after_parsing(files: tuple[str, str]) -> None:
    policy, trace = files
    code, _, err = run(["--policy", policy, "--trace", trace, "--output", "x.yaml"])
    assert (code, err.strip()) == (
        2,
        "burstd tune: --output needs an objective (--max-unserved or --max-cost)",
    )
    code, _, err = run(["--policy", policy, "--trace", trace, "--tune", "spec.burst.headroon=1%"])
    assert code == 2
    assert "argument --tune: spec.burst.headroon: the policy has no field spec.burst.headroon" in err
    code, _, err = run(["--policy", policy, "--trace", trace, "--tune", "spec.limits.maxCloudNodes=3"])
    assert code == 2
    assert "not a tunable parameter" in err
    code, _, err = run(["--policy", policy, "--trace", trace, "--tune", "spec.burst.headroom=5"])
    assert code == 2
    assert "spec.burst.headroom=5" in err
    short = Path(trace).with_name("short.csv")
    short.write_text("timestamp_s,demand\n0,1\n300,5\n600,2\n")
    code, _, err = run(
        ["--policy", policy, "--trace", str(short), "--max-unserved", "0.5x", "--holdout", "10%"]
    )
    assert code == 1
    assert "--holdout: the trace has 3 samples: too few to hold out 10%" in err
    code, _, err = run(["--policy", str(Path(policy).with_name("missing.yaml")), "--trace", trace])
    assert code == 1
    assert "missing.yaml:1:1:" in err
    assert "no such file" in err


def test_front_plot_and_table(tmp_path: Path) -> None:
    s = alibaba_two_days()
    tunables = custom_tunables(
        s.policy, [("spec.burst.headroom", ("0%", "10%")), ("spec.drain.stabilizationWindow", ("0s", "12m"))]
    )
    result = tune(
        s,
        tunables,
        objective=Objective.parse("max_unserved", "1.2x"),
        caps=Caps(),
        holdout=0.25,
        budget=10,
        jobs=1,
    )
    assert result.chosen is not None
    fig = build_front_figure(result)
    (ax,) = fig.axes
    assert ax.get_title().startswith("alibaba-2018-2d: cost vs unserved demand, first 1.5 days (searched)")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "burstd front (policy parameters)",
        "reactive + spare capacity front",
        "oracle (cost 1x, nothing unserved)",
        "the given policy",
        "chosen",
        "objective: unserved ≤ 1.2x",
    ]
    # the two fronts are step lines through their points, in order of cost
    burstd_line, reactive_line = ax.get_lines()[:2]
    assert burstd_line.get_drawstyle() == "steps-post"
    xs = list(burstd_line.get_xdata())
    assert xs == sorted(xs)
    assert len(xs) == len(result.capped_front())
    assert reactive_line.get_drawstyle() == "steps-post"
    assert len(reactive_line.get_xdata()) == len(result.search.reactive_front)
    assert reactive_line.get_xdata()[0] == pytest.approx(
        result.search.baselines.cost_ratio(result.search.baselines.reactive)
    )
    assert ax.get_xlabel() == "cost / oracle's cost"
    path = tmp_path / "front.png"
    plot_front(result, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = to_table(result)
    assert "searched on the first 1.50 days, checked on the last 0.50 days (25% held out)" in table
    assert "chosen, held-out days" in table
    assert "out of sample minus in sample: cost/oracle " in table


def test_a_choice_at_the_end_of_a_grid_is_noted() -> None:
    tunables = [Tunable("spec.burst.headroom", "headroom", ("0%", "10%")), Tunable("spec.x", "x", (1,))]
    figures = Figures(1, 1, 1, 0, 0, 1, 0)
    at_end = Point("burstd", (("spec.burst.headroom", "10%"), ("spec.x", 1)), figures)
    inside = Point("burstd", (("spec.burst.headroom", "0%"), ("spec.x", 1)), figures)
    (note,) = edge_notes(at_end, tunables)
    assert note.startswith("spec.burst.headroom: the chosen value 10% is the last of its grid")
    assert edge_notes(inside, tunables) == []
    assert edge_notes(None, tunables) == []
