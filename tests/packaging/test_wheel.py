"""The Python package as the container image ships it: the wheel built from this tree holds burstd, the
three provider plugins and the data burstd reads at run time (nothing from tests/), and installed into a
clean virtualenv the way the Dockerfile installs it (``pip --python``, ``-c constraints.txt``, the provider
extras; PyPI, through pip's cache) it runs ``burstd version``, ``burstd policy check``, ``burstd simulate``
and loads every provider plugin. Prints the wheel's and the virtualenv's size and build/install times.
"""

from __future__ import annotations

import configparser
import json
import os
import platform
import subprocess
import sys
import time
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import imagebuild
import pytest
from imagebuild import REPO

PACKAGES = {
    "burstd": REPO / "burstd",
    "burstd_provider_fake": REPO / "providers" / "burstd_provider_fake",
    "burstd_provider_tencentcloud": REPO / "providers" / "burstd_provider_tencentcloud",
    "burstd_provider_alibabacloud": REPO / "providers" / "burstd_provider_alibabacloud",
}
#: a wheel above this has picked up something it should not (it is about 0.6 MiB: code and two traces)
MAX_WHEEL_BYTES = 2 * 2**20
#: burstd with the provider SDKs is about 320 MiB (numpy, matplotlib, kubernetes_asyncio); the
#: all-in-one cloud SDKs pyproject avoids would add some 400 MiB
MAX_VENV_BYTES = 450 * 2**20
TIMEOUT = 540


def _report(config: pytest.Config, line: str) -> None:
    """A figure on the terminal, printed as it is measured (outside pytest's output capture)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"packaging: {line}")


def _size(path: Path) -> int:
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() or f.is_symlink())


@dataclass(frozen=True)
class Installed:
    root: Path
    python: Path
    burstd: Path
    env: dict[str, str]
    workdir: Path  # outside the repository, so nothing is imported from the source tree

    def run(self, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    return {**env, "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=_clean_env(),
    )
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout}\n{built.stderr}"
    wheels = list(out.glob("burstd-*.whl"))
    assert len(wheels) == 1, wheels
    _report(
        request.config,
        f"wheel {wheels[0].name}: {wheels[0].stat().st_size / 2**20:.2f} MiB, "
        f"built in {time.monotonic() - started:.1f} s (pip wheel --no-deps)",
    )
    return wheels[0]


@pytest.fixture(scope="module")
def installed(
    wheel: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Installed:
    """A clean virtualenv (no pip, no system site-packages) with the wheel installed as the Dockerfile does."""
    root = tmp_path_factory.mktemp("venv") / "burstd"
    _, stages = imagebuild.dockerfile()
    install = imagebuild.pip_install(stages[0])
    started = time.monotonic()
    venv.EnvBuilder(with_pip=False, system_site_packages=False, symlinks=True).create(root)
    python = root / "bin" / "python"
    constraints = [arg for c in install.constraints for arg in ("-c", str(REPO / c))]
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-warn-script-location"]
    done = subprocess.run(
        [*command, *constraints, f"{wheel}[{','.join(install.extras)}]"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=_clean_env(),
    )
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    size = _size(root)
    _report(
        request.config,
        f"clean virtualenv with [{','.join(install.extras)}]: {size / 2**20:.0f} MiB, "
        f"created and installed in {time.monotonic() - started:.1f} s",
    )
    assert size < MAX_VENV_BYTES, f"the installed virtualenv is {size / 2**20:.0f} MiB"
    workdir = tmp_path_factory.mktemp("work")
    return Installed(root, python, root / "bin" / "burstd", _clean_env(), workdir)


# ------------------------------------------------------------------------------------------- the wheel


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _source_files(package: Path) -> set[str]:
    return {
        f"{package.name}/{f.relative_to(package).as_posix()}"
        for f in package.rglob("*")
        if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"
    }


def test_wheel_holds_the_packages_and_their_data_and_nothing_else(wheel: Path) -> None:
    names = _names(wheel)
    dist_info = f"burstd-{imagebuild.project_version()}.dist-info"
    assert {n.split("/")[0] for n in names} == {*PACKAGES, dist_info}
    shipped = {n for n in names if not n.startswith(dist_info)}
    expected = set().union(*(_source_files(path) for path in PACKAGES.values()))
    assert shipped == expected
    # the data 'burstd simulate' reads through importlib.resources, and the plugins' type markers
    for name in (
        "policy.yaml",
        "fleet.yaml",
        "traces/alibaba-2018/demand.csv",
        "traces/nasa-http-1995/demand.csv",
    ):
        assert f"burstd/sim/data/{name}" in shipped
    for plugin in PACKAGES:
        if plugin != "burstd":
            assert f"{plugin}/py.typed" in shipped
    assert not [n for n in names if n.startswith("tests/") or "conftest" in n or "/test_" in n]
    assert wheel.stat().st_size < MAX_WHEEL_BYTES


def test_wheel_metadata_names_the_version_the_command_and_the_plugins(wheel: Path) -> None:
    version = imagebuild.project_version()
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"burstd-{version}.dist-info/METADATA").decode()
        entry_points = archive.read(f"burstd-{version}.dist-info/entry_points.txt").decode()
    assert "Name: burstd\n" in metadata
    assert f"Version: {version}\n" in metadata
    parsed = configparser.ConfigParser()
    parsed.optionxform = str  # type: ignore[assignment,method-assign]
    parsed.read_string(entry_points)
    assert dict(parsed["console_scripts"]) == {"burstd": "burstd.cli:main"}
    assert (
        dict(parsed["burstd.providers"])
        == imagebuild.pyproject()["project"]["entry-points"]["burstd.providers"]
    )


# ----------------------------------------------------------------------------- the clean virtualenv


def test_installed_dependencies_are_consistent(installed: Installed) -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(installed.python), "check"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=installed.env,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = installed.run(installed.python, "-c", "import importlib.metadata as m; print(m.version('pip'))")
    assert listed.returncode != 0  # no pip inside, as in the image
    assert "PackageNotFoundError" in listed.stderr


def test_installed_burstd_version_names_the_project_version_and_the_plugins(installed: Installed) -> None:
    version = imagebuild.project_version()
    shown = installed.run(installed.burstd, "version", "--output", "json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["version"] == version
    assert info["python"] == f"{platform.python_implementation()} {platform.python_version()}"
    plugins = imagebuild.pyproject()["project"]["entry-points"]["burstd.providers"]
    assert set(info["providers"]) == set(plugins)
    for name, plugin in info["providers"].items():
        assert plugin == {"module": plugins[name].split(":")[0], "distribution": "burstd", "version": version}
    text = installed.run(installed.burstd, "version")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == f"burstd {version}"


def test_installed_burstd_checks_the_repository_policies(installed: Installed) -> None:
    policies = REPO / "policies"
    checked = installed.run(installed.burstd, "policy", "check", policies)
    assert checked.returncode == 0, checked.stderr
    files = sorted(str(p) for p in policies.glob("*.yaml"))
    assert files
    assert sorted(line.split(": ok")[0] for line in checked.stdout.splitlines()) == files


PROBE = """
import importlib.metadata, json, sys, burstd
plugins, files = {}, [burstd.__file__]
for entry in importlib.metadata.entry_points(group="burstd.providers"):
    loaded = entry.load()
    assert isinstance(loaded, type) and loaded.__name__ == entry.attr, loaded
    plugins[entry.name] = entry.value
    files.append(sys.modules[entry.module].__file__)
print(json.dumps({"files": files, "plugins": plugins}))
"""


def test_installed_provider_plugins_load_from_the_virtualenv(installed: Installed) -> None:
    probed = installed.run(installed.python, "-c", PROBE)
    assert probed.returncode == 0, probed.stderr
    found = json.loads(probed.stdout)
    assert all(Path(file).is_relative_to(installed.root) for file in found["files"]), found["files"]
    assert found["plugins"] == imagebuild.pyproject()["project"]["entry-points"]["burstd.providers"]


def test_installed_burstd_simulates_on_its_bundled_data_and_plots(installed: Installed) -> None:
    figure = installed.workdir / "simulation.png"
    mpl = installed.workdir / "matplotlib"  # the image points MPLCONFIGDIR into /tmp the same way
    simulated = installed.run(
        installed.burstd, "simulate", "--report", "json", "--plot", figure, env={"MPLCONFIGDIR": str(mpl)}
    )
    assert simulated.returncode == 0, simulated.stderr
    assert isinstance(json.loads(simulated.stdout), dict)
    assert figure.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
