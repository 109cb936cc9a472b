"""Kubernetes ``MicroTime`` values (Lease renew times, Event times) to and from seconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_micro_time", "parse_time"]


def format_micro_time(seconds: float) -> str:
    """``2024-05-01T12:00:00.123456Z``: RFC 3339 in UTC with exactly six fractional digits."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object) -> float | None:
    """Seconds since the epoch of an RFC 3339 time written by any client, or None when it is not one.

    Accepts ``Z`` or a numeric offset, zero to nine fractional digits (beyond six are dropped) and, leniently,
    no offset at all (read as UTC).
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
