"""How fast ``burstd simulate`` runs, measured in one run against a no-op decider.

Two traces, each simulated with a no-op decider (it holds: the event loop, world snapshots and
quote refreshes of the burstd run, the simulator's own cost) and with the real ``burstd.engine.decide``,
the bundled policy and fleet (peak 400 replicas, base p70, provisioning delay 3m). Each configuration
runs ``--repeat`` times (default 3) and the best wall-clock time is kept.

- ``1-minute``: the first 30 days of the bundled nasa-http-1995 trace (1-minute samples, the gap filled
  with ``hold``; 43,200 samples).
- ``hourly``: 2,000 days of an hourly trace (48,000 samples), built deterministically: the bundled
  alibaba-2018 trace (5-minute samples, 7.8 days) averaged per hour and repeated end to end.

For each: the burstd run alone with each decider (engine calls, time, the engine/no-op ratio), the
reactive and oracle runs alone, and the whole three-way simulation with the engine. Also the same burstd
run with the daemon's old 60 s tick forced on (``BurstdRun(tick=60)``), as the simulator ran before it
called the engine only on input changes, with ``--old-tick``. ``--profile`` prints the top entries of a cProfile of the
engine's burstd run on the hourly trace.

``--floor`` adds a lower bound on any correct engine: a decider that does only the work every evaluation
must do (see :func:`floor`) and then holds, timed beside the no-op decider on the same calls (both hold,
so the simulator calls them at the same moments). Its ratio to the no-op is the least the engine/no-op
ratio could be. Run from the repository root:

    python benchmarks/simulate_speed.py [--repeat N] [--only 1-minute|hourly] [--old-tick] [--profile] [--floor]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from burstd.engine.capacity import base_room, builtin_signals, demand_of
from burstd.engine.forecast import keep_for, record
from burstd.engine.ledger import accrue, currencies_of
from burstd.engine.pools import known_prices
from burstd.engine.triggers import evaluate
from burstd.model.actions import Hold
from burstd.model.decision import Decision
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy
from burstd.sim.files import load_fleet, load_policy, load_trace
from burstd.sim.metrics import RunResult
from burstd.sim.oracle import run_oracle
from burstd.sim.reactive import run_reactive
from burstd.sim.runner import LEGACY_TICK_S, BurstdRun, Decider
from burstd.sim.scenario import Scenario, build_scenario
from burstd.sim.simulate import simulate
from burstd.sim.trace import Trace, parse_trace, slice_trace

HOURLY_DAYS = 2000
T = TypeVar("T")


def hold(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
    return Decision(state, (Hold("benchmark baseline"),), (), None)


def floor(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
    """What every evaluation of a correct engine must do, with the engine's own functions, then a Hold:
    aggregate the demand, record it in the demand history (stabilization window, forecast), charge the
    cost ledger for the interval, compute the built-in signals and evaluate both trigger groups on them,
    and save the next state. No sizing, allocation, shift, scaling or phase. No ``wake_at`` (as the no-op
    decider: the simulator calls both at the same moments)."""
    spec = policy.spec
    pools = spec.burst.pools
    ledger = accrue(
        state.ledger,
        world.pools,
        known_prices(pools, world.pools),
        now,
        currencies_of(pools),
        state.burst_started_at,
    )
    demand = demand_of(world, policy)
    if demand is None:
        return Decision(replace(state, ledger=ledger), (Hold("not observed"),), (), None)
    history = record(
        state.history,
        now,
        float(demand.replicas),
        keep_for(spec.predictive, spec.drain.stabilization_window),
        running_sums=spec.predictive.enabled,
    )
    room = base_room(world, policy, demand)
    signals = {**world.signals, **builtin_signals(world, policy, demand, room)}
    max_age = spec.safety.signal_max_age
    out = evaluate("scaleOut", spec.triggers.scale_out, signals, state.holding_since, now, max_age)
    inn = evaluate("scaleIn", spec.triggers.scale_in, signals, state.holding_since, now, max_age)
    holding = {**out.holding_since, **inn.holding_since}
    new_state = replace(state, ledger=ledger, history=history, holding_since=holding)
    return Decision(new_state, (Hold("benchmark floor"),), (), None)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hourly_trace(days: int = HOURLY_DAYS) -> Trace:
    """alibaba-2018 averaged per hour, repeated end to end for ``days`` days (deterministic)."""
    source = load_trace("alibaba-2018")
    per_hour: dict[int, list[float]] = {}
    for t, v in zip(source.times, source.values, strict=True):
        per_hour.setdefault(int((t - source.start) // 3600), []).append(v)
    hours = [sum(vs) / len(vs) for _, vs in sorted(per_hour.items())]
    rows = "".join(f"{h * 3600},{hours[h % len(hours)]:.4f}\n" for h in range(days * 24))
    return parse_trace("timestamp_s,demand\n" + rows, f"alibaba-2018-hourly-x{days}d")


def best_of(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """(best wall-clock time, the last result) of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def burstd_run(scenario: Scenario, decider: Decider, tick: float | None = None) -> Callable[[], RunResult]:
    return lambda: BurstdRun(scenario, decider, tick=tick).run()


def measure(
    name: str, scenario: Scenario, repeat: int, decide: Decider, old_tick: bool, with_floor: bool
) -> None:
    print(
        f"\n{name}: {scenario.trace.name}, {len(scenario.trace.times):,} samples, {scenario.end / 86400:g} days"
    )
    rows: list[tuple[str, float, int | None]] = []
    noop_s, noop = best_of(repeat, burstd_run(scenario, hold))
    engine_s, real = best_of(repeat, burstd_run(scenario, decide))
    rows.append(("burstd run, no-op decider", noop_s, noop.details["decide_calls"]))
    rows.append(("burstd run, real engine", engine_s, real.details["decide_calls"]))
    if with_floor:
        floor_s, floored = best_of(repeat, burstd_run(scenario, floor))
        rows.append(("burstd run, floor decider (--floor)", floor_s, floored.details["decide_calls"]))
    if old_tick:
        tick_s, ticked = best_of(1, burstd_run(scenario, decide, LEGACY_TICK_S))
        rows.append(
            ("burstd run, real engine, old 60 s tick (1 run)", tick_s, ticked.details["decide_calls"])
        )
    reactive_s, _ = best_of(repeat, lambda: run_reactive(scenario))
    oracle_s, _ = best_of(repeat, lambda: run_oracle(scenario))
    rows.append(("reactive run alone", reactive_s, None))
    rows.append(("oracle run alone", oracle_s, None))
    whole_s, _ = best_of(repeat, lambda: simulate(scenario, decide))
    rows.append(("all three runs (burstd simulate), real engine", whole_s, None))
    width = max(len(r[0]) for r in rows)
    for label, seconds, calls in rows:
        print(
            f"  {label:<{width}}  {seconds:8.2f} s"
            + (f"  {calls:>9,} engine calls" if calls is not None else "")
        )
    calls = real.details["decide_calls"]
    print(
        f"  ratio engine/no-op (burstd run): {engine_s / noop_s:.2f}x; "
        f"{(engine_s - noop_s) / max(calls, 1) * 1e6:.0f} us per engine call above the no-op; "
        f"{noop_s / max(noop.details['decide_calls'], 1) * 1e6:.0f} us per no-op call"
    )
    if with_floor:
        print(
            f"  ratio floor/no-op (same calls): {floor_s / noop_s:.2f}x; "
            f"{(floor_s - noop_s) / max(floored.details['decide_calls'], 1) * 1e6:.0f} us per floor call "
            "above the no-op"
        )
    if old_tick:
        print(
            f"  old tick / now: {tick_s / engine_s:.1f}x the time, "
            f"{ticked.details['decide_calls'] / max(calls, 1):.1f}x the calls"
        )


def profile(scenario: Scenario, decide: Decider, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    BurstdRun(scenario, decide).run()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of the burstd run with the real engine on {scenario.trace.name} (by own time):")
    print(out.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the hourly engine run")
    parser.add_argument("--only", choices=("1-minute", "hourly"), help="measure one trace only")
    parser.add_argument(
        "--old-tick", action="store_true", help="also time one run with the old 60 s tick (slow: minutes)"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time the floor decider: only the work every evaluation must do (a lower bound)",
    )
    args = parser.parse_args()

    from burstd.engine import decide

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python {platform.python_version()}, "
        f"load average {load:.2f} at the start"
    )
    print(
        f"method: best of {args.repeat} runs per configuration (the old-tick run: 1); bundled policy and fleet, "
        "peak 400 replicas, base p70, provisioning delay 3m"
    )
    policy, fleet = load_policy(None), load_fleet(None)
    scenarios: dict[str, Callable[[], Scenario]] = {
        "1-minute": lambda: build_scenario(
            policy, fleet, slice_trace(load_trace("nasa-http-1995", "hold"), 30 * 86400)
        ),
        "hourly": lambda: build_scenario(policy, fleet, hourly_trace()),
    }
    for name, make in scenarios.items():
        if args.only in (None, name):
            measure(name, make(), args.repeat, decide, args.old_tick, args.floor)
    if args.profile:
        profile(scenarios["hourly"](), decide, 25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
