"""How fast ``burstd simulate`` runs: the three-way simulation of 30 days of a 1-minute trace.

Method: the first 30 days of the bundled nasa-http-1995 trace (1-minute samples, the gap filled with
``hold``), peak 400 replicas, base p70, provisioning delay 3m, the bundled policy and fleet. Each
configuration runs ``--repeat`` times (default 3) and the best wall-clock time is kept.

- ``baseline``: the same event loop, world snapshots and action handling with a no-op decider (it holds),
  plus the reactive and oracle runs: the simulator's own cost.
- ``engine``: the same with the real ``burstd.engine.decide``.

The ratio engine/baseline says how much of the time the engine takes. Run from the repository root:

    python benchmarks/simulate_speed.py [--repeat N] [--days D]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from burstd.model.actions import Hold
from burstd.model.decision import Decision
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy
from burstd.sim.files import load_fleet, load_policy, load_trace
from burstd.sim.oracle import run_oracle
from burstd.sim.reactive import run_reactive
from burstd.sim.runner import Decider
from burstd.sim.scenario import Scenario, build_scenario
from burstd.sim.simulate import Comparison, simulate
from burstd.sim.trace import slice_trace


def hold(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
    return Decision(state, (Hold("benchmark baseline"),), (), None)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def best_of(repeat: int, scenario: Scenario, decider: Decider) -> tuple[float, Comparison]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = simulate(scenario, decider)
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--days", type=float, default=30.0)
    args = parser.parse_args()

    from burstd.engine import decide

    trace = slice_trace(load_trace("nasa-http-1995", "hold"), args.days * 86400)
    scenario = build_scenario(load_policy(None), load_fleet(None), trace)
    print(f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python {platform.python_version()}")
    print(
        f"trace: first {args.days:g} days of nasa-http-1995 (hold), {len(trace.times)} one-minute samples; "
        f"peak {scenario.peak_replicas}, base {scenario.base_replicas} ({scenario.base_spec}), delay 3m"
    )
    print(f"method: best of {args.repeat} runs of all three simulations (burstd, reactive, oracle)")
    parts = {}
    for name, run in (("reactive", lambda: run_reactive(scenario)), ("oracle", lambda: run_oracle(scenario))):
        parts[name] = min(_timed(run) for _ in range(args.repeat))
    print("reactive run alone: {reactive:.2f} s; oracle run alone: {oracle:.2f} s".format(**parts))
    base_s, base = best_of(args.repeat, scenario, hold)
    engine_s, real = best_of(args.repeat, scenario, decide)
    calls = real.runs["burstd"].details["decide_calls"]
    base_calls = base.runs["burstd"].details["decide_calls"]
    print(f"baseline (no-op decider): {base_s:.2f} s, {base_calls} decide calls")
    print(
        f"engine (burstd.engine.decide): {engine_s:.2f} s, {calls} decide calls, "
        f"{(engine_s - base_s) / max(calls, 1) * 1e6:.0f} us per call above the baseline"
    )
    print(
        f"ratio engine/baseline: {engine_s / base_s:.2f}x; simulated {args.days * 86400 / engine_s:,.0f}x "
        "faster than real time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
