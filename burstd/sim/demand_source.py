"""Where ``burstd simulate`` and ``burstd tune`` take demand from: a trace CSV (or a bundled trace), or the
user's own Prometheus history pulled with range queries.

``add_demand_arguments`` adds the options (``--trace``, ``--fill-gaps``, ``--prometheus``, ``--query``,
``--since``, ``--until``, ``--step`` and the Prometheus credentials); ``load_demand`` reads the demand they
name. Bad input raises ``InputError`` (exit 1); options that do not go together are usage errors (exit 2,
reported by the command's parser like any other usage error).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time

from burstd.model.quantities import parse_duration
from burstd.sim.files import InputError, bundled_traces, load_trace
from burstd.sim.trace import Trace

#: the default length of history pulled from Prometheus
DEFAULT_SINCE = "7d"
#: the default resolution of the history (one sample per step)
DEFAULT_STEP = "1m"
#: the default bound on one range query (sent to Prometheus as its evaluation timeout)
DEFAULT_TIMEOUT = "30s"

#: options that only mean something with --prometheus (dest -> flag)
_PROMETHEUS_ONLY = {
    "query": "--query",
    "since": "--since",
    "until": "--until",
    "step": "--step",
    "prometheus_bearer_token_file": "--prometheus-bearer-token-file",
    "prometheus_ca_file": "--prometheus-ca-file",
    "prometheus_timeout": "--prometheus-timeout",
}
_PARSER = "_demand_parser"


class DemandUsageError(InputError):
    """Options that do not go together (raised only when the namespace was not made by the parser)."""


def _duration(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0s, got {text!r}")
    return value


def _time(text: str) -> float:
    """An RFC 3339 time (``2026-11-01T00:00:00Z``) or a Unix timestamp in seconds, like Prometheus's API."""
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an RFC 3339 time (e.g. 2026-11-01T00:00:00Z) or a Unix timestamp, got {text[:40]!r}"
            ) from None
        if parsed.tzinfo is None:
            raise argparse.ArgumentTypeError(
                f"{text[:40]!r} has no time zone; add Z (UTC) or an offset such as +02:00"
            ) from None
        return parsed.timestamp()
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a Unix timestamp of 0 or more, got {text[:40]!r}")
    return value


def add_demand_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demand options to ``parser``: ``--trace`` or ``--prometheus`` (and what goes with it)."""
    group = parser.add_argument_group(
        "demand",
        "a trace CSV (--trace, default: the bundled alibaba-2018 trace) or your own Prometheus history "
        "(--prometheus with --query, pulled with range queries)",
    )
    source = group.add_mutually_exclusive_group()
    source.add_argument(
        "--trace",
        metavar="CSV",
        help="demand trace, a CSV with header 'timestamp_s,demand', or "
        f"the name of a bundled trace ({', '.join(bundled_traces())}; default alibaba-2018)",
    )
    source.add_argument(
        "--prometheus",
        metavar="URL",
        help="take the demand from this Prometheus (e.g. http://prometheus:9090) with --query",
    )
    group.add_argument(
        "--query",
        metavar="PROMQL",
        help="with --prometheus: the demand, a PromQL expression returning exactly one series "
        "(e.g. the desired replicas of the workload, or a demand signal)",
    )
    group.add_argument(
        "--since",
        metavar="DURATION",
        type=_duration,
        help=f"with --prometheus: how much history to pull, e.g. 30d (default {DEFAULT_SINCE})",
    )
    group.add_argument(
        "--until",
        metavar="TIME",
        type=_time,
        help="with --prometheus: the end of the history, an RFC 3339 time or a Unix timestamp "
        "(default: now); fix it to get the same trace on every run",
    )
    group.add_argument(
        "--step",
        metavar="DURATION",
        type=_duration,
        help=f"with --prometheus: the resolution, one sample per step (default {DEFAULT_STEP}, at least 1s)",
    )
    group.add_argument(
        "--prometheus-bearer-token-file",
        metavar="FILE",
        help="with --prometheus: a file holding the bearer token sent to Prometheus (as the daemon's "
        "prometheus.bearerTokenFile)",
    )
    group.add_argument(
        "--prometheus-ca-file",
        metavar="FILE",
        help="with --prometheus: CA bundle (PEM) that signs Prometheus's TLS certificate (as "
        "prometheus.caFile)",
    )
    group.add_argument(
        "--prometheus-timeout",
        metavar="DURATION",
        type=_duration,
        help="with --prometheus: bound on each range query, also sent to Prometheus as its evaluation "
        f"timeout (default {DEFAULT_TIMEOUT})",
    )
    group.add_argument(
        "--fill-gaps",
        choices=("hold", "zero"),
        help="fill gaps in the trace (steps longer than the typical step; with --prometheus: missing or "
        "NaN samples) with the last value (hold) or with 0 (zero); without it a gap is an error",
    )
    parser.set_defaults(**{_PARSER: parser})


def _usage(args: argparse.Namespace, message: str) -> None:
    parser = getattr(args, _PARSER, None)
    if isinstance(parser, argparse.ArgumentParser):
        parser.error(message)  # exits 2 with the usage line, like any other usage error
    raise DemandUsageError(message)


def check_demand_arguments(args: argparse.Namespace) -> None:
    """Usage errors among the demand options (exit 2 through the parser)."""
    given = [flag for dest, flag in _PROMETHEUS_ONLY.items() if getattr(args, dest, None) is not None]
    if getattr(args, "prometheus", None) is None:
        if given:
            _usage(args, f"{', '.join(given)} only go{'es' if len(given) == 1 else ''} with --prometheus URL")
        return
    if not getattr(args, "query", None):
        _usage(args, "--prometheus needs --query PROMQL, the demand to pull")


def load_demand(args: argparse.Namespace, now: float | None = None) -> Trace:
    """The demand the options name. ``now`` (seconds since the epoch) is the clock for ``--since``.

    Raises InputError with a one-line message naming the option (or ``FILE:LINE:COL`` for a CSV).
    """
    check_demand_arguments(args)
    fill_gaps = getattr(args, "fill_gaps", None)
    if getattr(args, "prometheus", None) is None:
        return load_trace(getattr(args, "trace", None), fill_gaps or "error")
    from burstd.sim.history import HistoryRequest, load_history

    request = HistoryRequest(
        url=args.prometheus,
        query=args.query,
        since=args.since if args.since is not None else parse_duration(DEFAULT_SINCE),
        until=args.until if args.until is not None else (time.time() if now is None else now),
        step=args.step if args.step is not None else parse_duration(DEFAULT_STEP),
        bearer_token_file=args.prometheus_bearer_token_file,
        ca_file=args.prometheus_ca_file,
        timeout=(
            args.prometheus_timeout
            if args.prometheus_timeout is not None
            else parse_duration(DEFAULT_TIMEOUT)
        ),
        fill_gaps=fill_gaps,
    )
    return load_history(request)
