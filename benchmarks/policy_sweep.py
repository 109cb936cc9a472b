"""Sweep the full grid of the bundled policy's two main knobs and print the cost / unserved trade-off.

``burstd tune`` searches the policy's tunables (a coarse grid refined around the front) and compares with
the reactive family; this script evaluates every pair of ``spec.burst.headroom`` and
``spec.drain.stabilizationWindow`` in the grid instead, with the same machinery (``burstd.sim.front``),
in parallel. Printed per pair: burstd's cost over the oracle's, its unserved replica-seconds over the
reactive baseline's, replica moves and weight writes per burst; ``*`` marks the Pareto front. Run from the
repository root:

    python benchmarks/policy_sweep.py --trace alibaba-2018
    python benchmarks/policy_sweep.py --trace nasa-http-1995 --fill-gaps hold --headroom 8% 10% 12%
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from burstd.sim.files import load_fleet, load_policy, load_trace
from burstd.sim.front import Evaluator, Point, Task, pareto
from burstd.sim.scenario import build_scenario
from burstd.sim.tunables import Assignments, apply


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trace", default="alibaba-2018")
    parser.add_argument("--fill-gaps", choices=("hold", "zero"))
    parser.add_argument("--headroom", nargs="+", default=["0%", "3%", "5%", "10%", "15%"])
    parser.add_argument("--window", nargs="+", default=["0s", "5m", "10m", "15m", "20m"])
    parser.add_argument("--jobs", type=int, help="simulations in parallel (default: the number of CPUs)")
    args = parser.parse_args()
    policy = load_policy(None)
    scenario = build_scenario(policy, load_fleet(None), load_trace(args.trace, args.fill_gaps or "error"))
    grid: list[Assignments] = [
        (("spec.burst.headroom", h), ("spec.drain.stabilizationWindow", w))
        for h, w in itertools.product(args.headroom, args.window)
    ]
    for params in grid:
        apply(policy, params)  # a bad value fails here, before any simulation
    with Evaluator({"all": scenario}, args.jobs) as ev:
        base = ev.baselines("all")
        tasks: list[Task] = [("all", "burstd", p) for p in grid]
        points = [Point("burstd", p, f) for p, f in zip(grid, ev.run(tasks), strict=True)]
    front = pareto(points)
    print(f"trace {args.trace}: burstd cost / oracle cost, burstd unserved / reactive unserved")
    print(
        f"{'headroom':>8} {'window':>6} {'cost':>6} {'unserved':>8} {'moves/burst':>11} {'writes/burst':>12}  pareto"
    )
    for p in sorted(points, key=lambda q: q.key):
        headroom, window = (v for _, v in p.params)
        cost, unserved = base.cost_ratio(p.figures), base.unserved_ratio(p.figures)
        print(
            f"{headroom!s:>8} {window!s:>6} {_x(cost):>6} {_x(unserved):>8} "
            f"{p.figures.moves_per_burst:>11.1f} {p.figures.weight_writes_per_burst:>12.1f}  "
            f"{'*' if p in front else ''}"
        )
    return 0


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


if __name__ == "__main__":
    raise SystemExit(main())
