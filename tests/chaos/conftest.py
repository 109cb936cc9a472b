"""The chaos suite's markers and figures. Its fixture is the end-to-end tests' bed (``bed``, in
tests/conftest.py: the real Karmada controllers on one API server, the real Cluster API controllers with
the in-memory provider on the management cluster), each API server reached by burstd only through a
``FaultProxy``. Every test here is marked ``chaos`` and ``integration``; a missing binary makes them ERROR,
never skip."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: burstd under injected faults (tests/chaos/)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.chaos)
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from .figures import FIGURES, summary

    if FIGURES:
        terminalreporter.write_line(f"burstd chaos: {summary()}")
