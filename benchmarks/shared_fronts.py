"""The fronts on every shared trace, and where the bundled policy sits on them (issue 11, item 5).

Method: for every trace in ``../shared/traces`` (beside the repository), ``burstd tune`` without an
objective evaluates the bundled policy, a search over its tunables (the burstd family) and the reactive
family (Cluster Autoscaler with 0 to 16 nodes of spare capacity) on the whole trace, with the bundled fleet
(peak 400 replicas, base p70, provisioning delay 3m), seed 0. Ratios: cost over the true oracle's, unserved
replica-seconds over the plain reactive baseline's. From the JSON it decides two things per trace:

- **on the front**: no evaluated point of either family has both a lower cost and a lower unserved ratio
  than the bundled policy by more than 5% of the policy's own figure;
- **target**: where some point of either family reaches unserved <= 0.5x the reactive baseline's at a cost
  <= 1.5x the oracle's ("the front allows it"), whether the bundled policy reaches both too.

Each trace's JSON and front plot go to ``--out`` (default ``docs/fronts``). Run from the repository root:

    python benchmarks/shared_fronts.py [--budget N] [--jobs N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TRACES = REPO.parent / "shared" / "traces"
#: traces whose gaps must be filled to be simulated
FILL = {"nasa-http-1995": "hold"}
TOLERANCE = 0.05
TARGET_UNSERVED = 0.5
TARGET_COST = 1.5


@dataclass(frozen=True, slots=True)
class Pt:
    cost: float
    unserved: float
    label: str


def _pt(p: dict[str, Any], label: str) -> Pt | None:
    cost, unserved = p.get("cost_vs_oracle"), p.get("unserved_vs_reactive")
    if cost is None or unserved is None:
        return None
    return Pt(float(cost), float(unserved), label)


def _label(p: dict[str, Any], family: str) -> str:
    params = p.get("params", {})
    if family == "reactive":
        return f"reactive, spare {params.get('spare_replicas', 0)} replicas"
    return "burstd " + ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


def points(report: dict[str, Any]) -> tuple[Pt, list[Pt]]:
    """The bundled policy's point and every evaluated point of both families."""
    search = report["search"]
    policy = _pt(search["policy"], "the bundled policy")
    assert policy is not None, "the policy's point has no ratios (no oracle cost or no reactive shortfall?)"
    out = []
    for family in ("burstd", "reactive"):
        for p in search["points"][family]:
            pt = _pt(p, _label(p, family))
            if pt is not None:
                out.append(pt)
    return policy, out


def dominating(policy: Pt, others: list[Pt]) -> list[Pt]:
    """Points with both a lower cost and lower unserved than ``policy`` by more than the tolerance."""
    return [
        q
        for q in others
        if q.cost < policy.cost * (1 - TOLERANCE) and q.unserved < policy.unserved * (1 - TOLERANCE)
    ]


def meets(p: Pt) -> bool:
    return p.unserved <= TARGET_UNSERVED and p.cost <= TARGET_COST


def run_tune(name: str, csv: Path, out: Path, budget: int, jobs: int | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "burstd.sim.tune_command", "--trace", str(csv), "--report", "json"]
    cmd += ["--budget", str(budget), "--plot", str(out / f"{name}.png")]
    if name in FILL:
        cmd += ["--fill-gaps", FILL[name]]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    report: dict[str, Any] = json.loads(done.stdout)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "fronts")
    parser.add_argument("--only", nargs="+", help="trace names (default: every shared trace)")
    parser.add_argument("--reuse", action="store_true", help="read the JSON already in --out")
    args = parser.parse_args()
    if not TRACES.is_dir():
        print(f"{TRACES}: no shared traces beside the repository", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.only or sorted(p.name for p in TRACES.iterdir() if (p / "demand.csv").is_file())
    rows = []
    for name in names:
        started = time.perf_counter()
        if args.reuse:
            report = json.loads((args.out / f"{name}.json").read_text(encoding="utf-8"))
        else:
            report = run_tune(name, TRACES / name / "demand.csv", args.out, args.budget, args.jobs)
        took = time.perf_counter() - started
        policy, others = points(report)
        worse = dominating(policy, others)
        allowed = [q for q in others if meets(q)]
        print(f"{name}: {report['evaluations']} simulations in {took:.0f} s", file=sys.stderr, flush=True)
        rows.append((name, policy, worse, allowed))
    print(
        "| trace | bundled policy: cost / oracle | unserved / reactive | on the front (5%) | front allows "
        "<= 0.5x at <= 1.5x | bundled policy meets it |"
    )
    print("|---|---:|---:|---|---|---|")
    for name, policy, worse, allowed in rows:
        front = "yes" if not worse else f"no: {min(worse, key=lambda q: q.cost).label}"
        allows = f"yes ({len(allowed)} points)" if allowed else "no"
        meet = ("yes" if meets(policy) else "**no**") if allowed else "n/a"
        print(f"| {name} | {policy.cost:.2f}x | {policy.unserved:.2f}x | {front} | {allows} | {meet} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
