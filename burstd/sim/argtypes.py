"""argparse types shared by ``burstd simulate`` and ``burstd tune``: each turns an option's text into its
value or raises ``argparse.ArgumentTypeError`` with what was wrong (argparse names the option)."""

from __future__ import annotations

import argparse

from burstd.model.quantities import parse_duration
from burstd.sim.fleet import MAX_PEAK_REPLICAS
from burstd.sim.trace import parse_base_replicas


def whole_number(text: str, maximum: int | None = None) -> int:
    """A whole number of at least 1 (and at most ``maximum``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
    return value


def peak_replicas(text: str) -> int:
    """``--peak-replicas``: a whole number from 1 to MAX_PEAK_REPLICAS."""
    return whole_number(text, MAX_PEAK_REPLICAS)


def base_replicas(text: str) -> str:
    """``--base-replicas``: a number of replicas or ``pNN`` (checked here, resolved on the trace)."""
    try:
        parse_base_replicas(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def duration(text: str) -> float:
    """A duration such as ``3m`` or ``90s``, in seconds."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
