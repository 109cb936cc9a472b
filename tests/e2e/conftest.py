"""Markers of the end-to-end tests. Their fixtures (the test bed of real controllers: Karmada's on one
kube-apiserver, Cluster API's on another, as burstd sees them in production) are in tests/conftest.py,
shared with the chaos suite.

Every test under tests/e2e/ is marked ``e2e`` and ``integration``. As for the integration tests, a missing
binary makes the tests ERROR (never skip), with the command that provides them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

_HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: burstd end to end against the real Karmada and Cluster API controllers"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.integration)
