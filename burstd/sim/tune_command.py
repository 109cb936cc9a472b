"""``burstd tune``: find the policy parameters that meet an objective on a demand history.

``burstd.cli`` wires ``add_arguments`` and ``run``; ``python -m burstd.sim.tune_command`` runs it directly.
Exit codes: 0 done (the objective met, or no objective: the fronts printed), 1 an input file (policy,
fleet, trace, Prometheus) or an output cannot be used, 2 bad usage, 3 no evaluated point meets the
objective within the caps (the closest points are printed; nothing is written to ``--output``),
70 the engine raised.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from burstd.model.quantities import parse_percent
from burstd.policy.spec import PolicyInvalid
from burstd.sim.argtypes import base_replicas, duration, peak_replicas, whole_number
from burstd.sim.command import scenario_of
from burstd.sim.demand_source import add_demand_arguments, check_demand_arguments
from burstd.sim.files import BUNDLED_POLICY, InputError, data_dir, load_policy
from burstd.sim.front import DEFAULT_BUDGET, Caps, SplitError
from burstd.sim.runner import EngineFailed
from burstd.sim.tunables import TunableError, custom_tunables, default_tunables, parse_grid
from burstd.sim.tune import Objective, ObjectiveKind, TuneResult, changes, tune

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_NOT_MET = 3
EXIT_ENGINE = 70
DEFAULT_HOLDOUT = 0.3
MAX_HOLDOUT = 0.9


def _objective(kind: ObjectiveKind) -> Callable[[str], Objective]:
    def parse(text: str) -> Objective:
        try:
            return Objective.parse(kind, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _holdout(text: str) -> float:
    try:
        value = parse_percent(text) if text.strip().endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share such as 30% or 0.3, got {text[:40]!r}") from None
    if not 0 <= value <= MAX_HOLDOUT:
        raise argparse.ArgumentTypeError(f"must be from 0% to {MAX_HOLDOUT * 100:g}%, got {text[:40]!r}")
    return value


def _cap(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of 0 or more, got {text[:40]!r}")
    return value


def _grid(text: str) -> tuple[str, tuple[str | int | float, ...]]:
    try:
        return parse_grid(text)
    except TunableError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``burstd tune``'s options to ``parser``."""
    parser.description = (
        "Evaluate the policy's tunable parameters on a demand history and show the cost-vs-unserved "
        "fronts of burstd and of a Cluster-Autoscaler-like baseline with spare capacity; with an "
        "objective, find the cheapest parameters that meet it on the earlier part of the history, check "
        "them on the held-out later part and write the tuned policy. See docs/simulation.md."
    )
    parser.add_argument(
        "--policy", metavar="FILE", help="BurstPolicy YAML (default: the bundled example policy)"
    )
    parser.add_argument(
        "--fleet",
        metavar="FILE",
        help="SimulatedFleet YAML (default: the bundled fleet: peak 400 replicas, base p70, "
        "provisioning delay 3m)",
    )
    parser.add_argument("--peak-replicas", metavar="N", type=peak_replicas, help="as for burstd simulate")
    parser.add_argument("--base-replicas", metavar="M", type=base_replicas, help="as for burstd simulate")
    parser.add_argument("--provision-delay", metavar="DURATION", type=duration, help="as for burstd simulate")
    parser.add_argument("--seed", metavar="S", type=int, default=0, help="as for burstd simulate (default 0)")
    objective = parser.add_mutually_exclusive_group()
    objective.add_argument(
        "--max-unserved",
        metavar="LIMIT",
        type=_objective("max_unserved"),
        help="find the cheapest parameters whose unserved demand is at most Kx the reactive baseline's "
        "(e.g. 0.5x), or N%% of the demand above the base (e.g. 2%%)",
    )
    objective.add_argument(
        "--max-cost",
        metavar="LIMIT",
        type=_objective("max_cost"),
        help="find the best-served parameters whose cost is at most Kx the oracle's (e.g. 1.5x)",
    )
    parser.add_argument(
        "--max-moves-per-burst",
        metavar="N",
        type=_cap,
        help="only parameters whose replica moves per burst are at most N",
    )
    parser.add_argument(
        "--max-weight-writes-per-burst",
        metavar="N",
        type=_cap,
        help="only parameters whose weight writes (SetWeights) per burst are at most N",
    )
    parser.add_argument(
        "--holdout",
        metavar="SHARE",
        type=_holdout,
        help=f"with an objective: the share of the history, at its end, kept out of the search and used "
        f"to check the choice (default {DEFAULT_HOLDOUT * 100:g}%%; 0 searches the whole history)",
    )
    parser.add_argument(
        "--tune",
        metavar="PATH=V1,V2,...",
        type=_grid,
        action="append",
        help="tune this parameter over these values instead of the default set (repeatable), e.g. "
        "spec.burst.headroom=0%%,5%%,10%% or spec.triggers.scaleOut.any[0].above=0.9,0.95",
    )
    parser.add_argument(
        "--budget",
        metavar="N",
        type=whole_number,
        default=DEFAULT_BUDGET,
        help=f"the most burstd simulations per search (default {DEFAULT_BUDGET})",
    )
    parser.add_argument(
        "--jobs",
        metavar="N",
        type=whole_number,
        help="simulations run in parallel (default: the number of CPUs)",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="with an objective: write the tuned policy here (the input file with only the tuned values "
        "changed, its comments and layout kept)",
    )
    parser.add_argument(
        "--report", choices=("table", "json"), default="table", help="table (default) or one JSON object"
    )
    parser.add_argument("--plot", metavar="FILE.png", help="write the fronts as a figure")
    add_demand_arguments(parser)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``burstd tune`` with parsed arguments. Returns the exit code."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    check_demand_arguments(args)
    objective: Objective | None = args.max_unserved or args.max_cost
    if objective is None:
        for flag, value in (("--output", args.output), ("--holdout", args.holdout)):
            if value is not None:
                print(f"burstd tune: {flag} needs an objective (--max-unserved or --max-cost)", file=err)
                return EXIT_USAGE
    caps = Caps(args.max_moves_per_burst, args.max_weight_writes_per_burst)
    try:
        policy = load_policy(args.policy)
        text = _policy_text(args.policy)
        scenario = scenario_of(args, policy)
    except InputError as exc:
        print(str(exc), file=err)
        return EXIT_INPUT
    notes: list[str] = []
    try:
        if args.tune:
            tunables = custom_tunables(policy, args.tune)
        else:
            tunables, notes = default_tunables(policy)
    except TunableError as exc:
        print(f"burstd tune: argument --tune: {exc}", file=err)
        return EXIT_USAGE
    if not tunables:
        print("burstd tune: nothing to tune", file=err)
        return EXIT_USAGE
    holdout = args.holdout if args.holdout is not None else DEFAULT_HOLDOUT
    try:
        result = tune(
            scenario,
            tunables,
            objective=objective,
            caps=caps,
            holdout=holdout,
            budget=args.budget,
            jobs=args.jobs,
            notes=notes,
        )
    except EngineFailed as exc:
        print(f"burstd tune: {exc}", file=err)
        return EXIT_ENGINE
    except SplitError as exc:
        print(f"burstd tune: --holdout: {exc}", file=err)
        return EXIT_INPUT

    from burstd.sim.tune_report import to_json, to_table

    if args.plot:
        from burstd.sim.plot_front import plot_front

        try:
            plot_front(result, args.plot)
        except (OSError, ValueError) as exc:
            print(f"{args.plot}: cannot write the plot: {exc}", file=err)
            return EXIT_INPUT
    if args.output and result.chosen is not None:
        code = _write(result, text, args.policy or f"<bundled {BUNDLED_POLICY}>", args.output, err)
        if code:
            return code
    print(to_json(result) if args.report == "json" else to_table(result), file=out)
    if objective is not None and result.chosen is None:
        return EXIT_NOT_MET
    return 0


def _policy_text(path: str | None) -> str:
    if path is None:
        return data_dir().joinpath(BUNDLED_POLICY).read_text(encoding="utf-8")
    # newline="": CRLF line endings come back as they were written
    with open(path, encoding="utf-8", newline="") as file:  # load_policy has read it already: it exists
        return file.read()


def _write(result: TuneResult, text: str, source: str, output: str, err: TextIO) -> int:
    from burstd.policy.loader import PolicyFileError
    from burstd.policy.rewrite import rewrite_policy
    from burstd.sim.plot_data import trace_label

    assert result.chosen is not None
    assert result.objective is not None
    diff = changes(result.chosen, result.search.policy)
    own = dict(result.search.policy.params)
    what = ", ".join(f"{k} {own[k]} -> {v}" for k, v in diff) if diff else "kept as written"
    header = (
        f"Tuned by burstd tune on {trace_label(result.scenario.trace.name)} for "
        f"{result.objective.describe()}: {what}"
    )
    try:
        new = rewrite_policy(text, dict(diff), source=source, header_comment=header, create_parents=True)
    except PolicyFileError as exc:
        print(str(exc), file=err)
        return EXIT_INPUT
    try:
        tmp = f"{output}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8", newline="") as file:
            file.write(new)
        os.replace(tmp, output)
    except OSError as exc:
        print(f"{output}: cannot write: {exc.strerror or exc}", file=err)
        return EXIT_INPUT
    try:
        load_policy(output)
    except (InputError, PolicyInvalid) as exc:  # pragma: no cover - rewrite_policy checks the result
        print(str(exc), file=err)
        return EXIT_INPUT
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="burstd tune")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
