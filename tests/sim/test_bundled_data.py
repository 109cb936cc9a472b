"""The traces bundled with the simulator are byte-for-byte the project's shared public traces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "burstd" / "sim" / "data" / "traces"
SHARED = Path(os.environ.get("BURSTD_SHARED", REPO.parent / "shared")) / "traces"


@pytest.mark.parametrize("name", ["alibaba-2018", "nasa-http-1995"])
@pytest.mark.parametrize("file", ["demand.csv", "SOURCE.md", "stats.json"])
def test_bundled_trace_is_the_shared_one(name: str, file: str) -> None:
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED} is missing: CI runs with ../shared beside the clone")
        pytest.skip(f"{SHARED} is not here (outside CI)")
    assert (BUNDLED / name / file).read_bytes() == (SHARED / name / file).read_bytes()
