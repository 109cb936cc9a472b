"""``burstd simulate``: argument parsing and the command itself.

``burstd.cli`` wires ``add_arguments`` and ``run``; ``python -m burstd.sim.command`` runs it directly.
Exit codes: 0 done, 1 an input (policy, fleet, trace, Prometheus history) or the plot cannot be used, 2 bad
usage (argparse), 70 the engine raised.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from burstd.policy.spec import BurstPolicy
from burstd.sim.argtypes import base_replicas, duration, peak_replicas
from burstd.sim.demand_source import add_demand_arguments, check_demand_arguments, load_demand
from burstd.sim.files import InputError, load_fleet, load_policy
from burstd.sim.runner import Decider, EngineFailed
from burstd.sim.scenario import Scenario, ScenarioError, build_scenario

EXIT_INPUT = 1
EXIT_ENGINE = 70


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``burstd simulate``'s options to ``parser``."""
    parser.description = (
        "Replay a demand trace against a simulated fleet and compare burstd (the real engine "
        "with the policy), a reactive Cluster-Autoscaler-like baseline and an oracle that "
        "knows the future. See docs/simulation.md."
    )
    parser.add_argument(
        "--policy", metavar="FILE", help="BurstPolicy YAML (default: the bundled example policy)"
    )
    parser.add_argument(
        "--fleet",
        metavar="FILE",
        help="SimulatedFleet YAML (default: the bundled fleet: peak "
        "400 replicas, base p70, provisioning delay 3m)",
    )
    parser.add_argument(
        "--peak-replicas",
        metavar="N",
        type=peak_replicas,
        help="scale the trace so its maximum is N replicas (overrides the fleet)",
    )
    parser.add_argument(
        "--base-replicas",
        metavar="M",
        type=base_replicas,
        help="replicas the base holds: a number, or pNN, a percentile of the scaled trace "
        "(overrides the fleet)",
    )
    parser.add_argument(
        "--provision-delay",
        metavar="DURATION",
        type=duration,
        help="time for a cloud node to become Ready, e.g. 3m (overrides the fleet, all pools)",
    )
    parser.add_argument(
        "--seed",
        metavar="S",
        type=int,
        default=0,
        help="seed of the random stock-outs and launch failures (default 0)",
    )
    parser.add_argument(
        "--report",
        choices=("table", "json"),
        default="table",
        help="table (default) or one JSON object on stdout",
    )
    parser.add_argument("--plot", metavar="FILE.png", help="write a figure with one panel per run")
    parser.add_argument("--log", metavar="FILE", help="write every action burstd took, with its virtual time")
    add_demand_arguments(parser)


def scenario_of(args: argparse.Namespace, policy: BurstPolicy) -> Scenario:
    """The scenario that ``simulate``'s and ``tune``'s fleet and demand arguments describe for ``policy``.
    Raises InputError naming the file (or the Prometheus query) that cannot be used."""
    fleet = load_fleet(args.fleet)
    trace = load_demand(args)
    try:
        return build_scenario(
            policy,
            fleet,
            trace,
            peak_replicas=args.peak_replicas,
            base_replicas=args.base_replicas,
            provision_delay=args.provision_delay,
            seed=args.seed,
        )
    except ScenarioError as exc:
        raise InputError(f"{args.fleet or '<bundled fleet.yaml>'}: {exc}") from exc


def run(
    args: argparse.Namespace,
    decider: Decider | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``burstd simulate`` with parsed arguments. Returns the exit code."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    check_demand_arguments(args)  # usage errors first (exit 2), before reading anything
    try:
        scenario = scenario_of(args, load_policy(args.policy))
    except InputError as exc:
        print(str(exc), file=err)
        return EXIT_INPUT

    from burstd.sim.report import to_json, to_table
    from burstd.sim.simulate import simulate

    log_file: TextIO | None = None
    try:
        if args.log:
            try:
                log_file = open(args.log, "w", encoding="utf-8")  # noqa: SIM115 - closed below
            except OSError as exc:
                print(f"{args.log}: cannot write: {exc}", file=err)
                return EXIT_INPUT
        writer = log_file
        log = (lambda line: print(line, file=writer)) if writer is not None else None
        try:
            comparison = simulate(scenario, decider, log)
        except EngineFailed as exc:
            cause = exc.__cause__
            hint = ""
            if isinstance(cause, NotImplementedError):
                hint = " (burstd.engine.decide is not implemented yet)"
            print(f"burstd simulate: {exc}{hint}", file=err)
            return EXIT_ENGINE
    finally:
        if log_file is not None:
            log_file.close()

    if args.plot:
        from burstd.sim.plot import plot

        try:
            plot(comparison, args.plot)
        except (OSError, ValueError) as exc:
            print(f"{args.plot}: cannot write the plot: {exc}", file=err)
            return EXIT_INPUT
    print(to_json(comparison) if args.report == "json" else to_table(comparison), file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="burstd simulate")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
