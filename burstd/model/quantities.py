"""Parsing of the units SREs write in policies: durations, Kubernetes quantities, percentages."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

# Kubernetes resource.Quantity suffixes (binary SI, decimal SI).
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+]?\d+(?:\.\d+)?|[+]?\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


def parse_duration(text: str) -> float:
    """Parse a Go-style duration ("90s", "2m", "1h30m", "500ms") into seconds.

    Raises ValueError with a message that says what was expected.
    """
    s = text.strip()
    if not s:
        raise ValueError("empty duration; expected e.g. '90s', '2m', '1h30m'")
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s) or pos == 0:
        raise ValueError(
            f"invalid duration {text!r}; expected a number with a unit (ms, s, m, h, d), "
            "e.g. '90s', '2m', '1h30m'"
        )
    return total


def format_duration(seconds: float) -> str:
    """Render seconds the way they are written in policies ("2m", "1h30m", "45s")."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts) or "0s"


def parse_quantity(text: str | int | float) -> float:
    """Parse a Kubernetes quantity ("500m", "2", "4Gi", "1.5G") into a float in base units."""
    if isinstance(text, bool):
        raise ValueError("expected a Kubernetes quantity such as '500m', '2', '4Gi', got a boolean")
    if isinstance(text, (int, float)):
        if text < 0 or not math.isfinite(text):
            raise ValueError(f"quantity must be a non-negative number, got {text!r}")
        return float(text)
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"invalid quantity {text!r}; expected e.g. '500m', '2', '4Gi', '512Mi'")
    number, suffix = match.group(1), match.group(2)
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"invalid quantity {text!r}") from exc
    if suffix in _BINARY:
        return float(value * _BINARY[suffix])
    return float(value * _DECIMAL[suffix])


def parse_percent(text: str) -> float:
    """Parse "20%" into 0.2. Only the explicit percent form is accepted, so 20 and 0.2 are never confused."""
    match = _PERCENT.match(text.strip())
    if not match:
        raise ValueError(f"invalid percentage {text!r}; expected e.g. '10%' or '2.5%'")
    value = float(match.group(1)) / 100.0
    if value > 1.0:
        raise ValueError(f"percentage {text!r} is above 100%")
    return value
