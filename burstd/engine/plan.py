"""Scratch space for one evaluation: the actions, reasons, wake-up times and alerts it collects."""

from __future__ import annotations

from dataclasses import dataclass

from burstd.model.actions import Action, Alert, Severity


@dataclass(slots=True)
class Plan:
    """Scratch space for one evaluation."""

    actions: list[Action]
    reasons: list[str]
    wakes: list[float]
    alerts: set[str]
    raised: tuple[str, ...]

    def wake(self, at: float | None, now: float) -> None:
        if at is not None and at > now:
            self.wakes.append(at)

    def alert(self, code: str, severity: Severity, reason: str) -> None:
        """Raise an alert; the Alert action is emitted only when the code was not already raised."""
        self.alerts.add(code)
        if code not in self.raised:
            self.actions.append(Alert(severity, code, reason))
        self.reasons.append(reason)
