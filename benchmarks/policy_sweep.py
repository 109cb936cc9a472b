"""Sweep the bundled policy's two main knobs and show the cost / unserved trade-off on a trace.

Method: for every pair of ``spec.burst.headroom`` and ``spec.drain.stabilizationWindow`` in the grid, the
bundled policy with those two values is simulated (the real engine, the bundled fleet: peak 400 replicas,
base p70, provisioning delay 3m) against the same reactive baseline and oracle. Printed per pair: burstd's
cost over the oracle's and its unserved replica-seconds over the reactive baseline's; ``*`` marks the
Pareto front (no other pair is both cheaper and better served). Run from the repository root:

    python benchmarks/policy_sweep.py --trace alibaba-2018
    python benchmarks/policy_sweep.py --trace nasa-http-1995 --fill-gaps hold --headroom 8% 10% 12%
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from burstd.policy.spec import BurstPolicy
from burstd.sim.files import load_fleet, load_policy, load_trace
from burstd.sim.scenario import build_scenario
from burstd.sim.simulate import simulate


def variant(policy: BurstPolicy, headroom: str, window: str) -> BurstPolicy:
    data = policy.model_dump(by_alias=True, mode="json")
    data["spec"]["burst"]["headroom"] = headroom
    data["spec"]["drain"]["stabilizationWindow"] = window
    return BurstPolicy.model_validate(data)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trace", default="alibaba-2018")
    parser.add_argument("--fill-gaps", choices=("hold", "zero"))
    parser.add_argument("--headroom", nargs="+", default=["0%", "3%", "5%", "10%", "15%"])
    parser.add_argument("--window", nargs="+", default=["0s", "5m", "10m", "15m", "20m"])
    args = parser.parse_args()
    base = load_policy(None)
    fleet = load_fleet(None)
    trace = load_trace(args.trace, args.fill_gaps or "error")
    rows = []
    for headroom in args.headroom:
        for window in args.window:
            scenario = build_scenario(variant(base, headroom, window), fleet, trace)
            runs = simulate(scenario).runs
            cost = runs["burstd"].cost / runs["oracle"].cost
            unserved = runs["burstd"].unserved_replica_seconds / runs["reactive"].unserved_replica_seconds
            rows.append((cost, unserved, headroom, window))
            print(
                f"  headroom {headroom:>4} window {window:>4}: cost {cost:.2f}x oracle, "
                f"unserved {unserved:.2f}x reactive",
                file=sys.stderr,
                flush=True,
            )
    rows.sort()
    print(f"trace {args.trace}: burstd cost / oracle cost, burstd unserved / reactive unserved")
    print(f"{'headroom':>8} {'window':>6} {'cost':>6} {'unserved':>8}  pareto")
    best = float("inf")
    for cost, unserved, headroom, window in rows:
        front = unserved < best
        best = min(best, unserved)
        print(f"{headroom:>8} {window:>6} {cost:>5.2f}x {unserved:>7.2f}x  {'*' if front else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
