"""The chaos suite's figures: each test adds what it injected and observed; the totals are printed at the
end of the pytest run (``burstd chaos: ...``) and are what docs/reliability.md reports."""

from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()


def add(**counts: int) -> None:
    FIGURES.update(counts)


def summary() -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(FIGURES.items()))
