"""``burstd version``: burstd's version, Python's, and the installed provider plugins, as text or JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path

import pytest

from burstd import __version__, cli
from burstd.cloud.registry import ENTRY_POINT_GROUP

ROOT = Path(__file__).resolve().parents[2]
PYTHON = f"{platform.python_implementation()} {platform.python_version()}"


def burstd(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "burstd", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def installed_providers() -> set[str]:
    return {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}


def test_version_as_json_names_burstd_python_and_every_provider_plugin() -> None:
    run = burstd("version", "--output", "json")
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["version"] == version("burstd") == __version__
    assert info["python"] == PYTHON
    assert set(info["providers"]) == installed_providers() >= {"fake", "tencentcloud", "alibabacloud"}
    for name, provider in info["providers"].items():
        assert provider["distribution"] == "burstd", name
        assert provider["version"] == __version__
        assert provider["module"].startswith("burstd_provider_")


def test_version_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["version"]) == cli.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"burstd {__version__}", f"python {PYTHON}"]
    assert sorted(line.split()[1] for line in out[2:]) == sorted(installed_providers())
    assert all(line.startswith("provider ") and f" {__version__} (burstd)" in line for line in out[2:])
