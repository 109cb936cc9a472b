"""Static checks of the Dockerfile and .dockerignore, so the image definition cannot drift unseen (no
container engine runs in CI; tests/packaging/test_wheel.py installs the wheel the way the image does)."""

from __future__ import annotations

import fnmatch
import re

import imagebuild
from imagebuild import REPO, Stage

PINNED_BASE = re.compile(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?")
VENV = "/opt/burstd"


def _builder_and_runtime() -> tuple[Stage, Stage]:
    _, stages = imagebuild.dockerfile()
    assert len(stages) == 2, "expected a builder stage and a runtime stage"
    return stages[0], stages[1]


def test_both_stages_use_one_slim_base_pinned_to_a_full_version() -> None:
    builder, runtime = _builder_and_runtime()
    assert PINNED_BASE.fullmatch(builder.base), builder.base
    assert runtime.base == builder.base  # the virtualenv links to the base image's interpreter
    assert builder.name == "builder"


def test_builder_installs_the_wheel_with_constraints_and_every_provider_extra() -> None:
    builder, _ = _builder_and_runtime()
    install = imagebuild.pip_install(builder)
    assert install.constraints == ["constraints.txt"]
    assert sorted(install.extras) == imagebuild.provider_extras()
    assert install.target == f"{VENV}/bin/python"
    copied = [i.args.split() for i in builder.all("COPY")]
    assert any("constraints.txt" in words for words in copied)


def test_runtime_stage_copies_only_the_virtualenv_and_runs_no_command() -> None:
    _, runtime = _builder_and_runtime()
    assert [i.args for i in runtime.all("COPY")] == [f"--from=builder {VENV} {VENV}"]
    assert runtime.all("RUN") == []
    assert runtime.all("ADD") == []


def test_runtime_user_is_numeric_and_not_root() -> None:
    _, runtime = _builder_and_runtime()
    user = runtime.last("USER").args
    match = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    assert match, f"USER {user!r} is not numeric: Kubernetes' runAsNonRoot cannot verify a name"
    assert int(match.group(1)) == 65532
    assert match.group(2) is None or int(match.group(2)) != 0


def test_entrypoint_is_burstd_and_cmd_runs_the_daemon() -> None:
    _, runtime = _builder_and_runtime()
    assert imagebuild.exec_form(runtime.last("ENTRYPOINT")) == ["burstd"]
    assert imagebuild.exec_form(runtime.last("CMD")) == ["run", "--config", "/etc/burstd/config.yaml"]
    assert "burstd" in imagebuild.pyproject()["project"]["scripts"]
    assert runtime.last("EXPOSE").args.split() == ["8080"]


def test_runtime_environment_writes_nothing_outside_tmp() -> None:
    _, runtime = _builder_and_runtime()
    env = runtime.pairs("ENV")
    assert env["PATH"].split(":")[0] == f"{VENV}/bin"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    for key in ("MPLCONFIGDIR", "HOME", "TMPDIR"):
        assert env[key] == "/tmp" or env[key].startswith("/tmp/"), f"{key}={env[key]} is outside /tmp"
    assert runtime.last("WORKDIR").args == "/tmp"


def test_oci_labels_name_the_project_version() -> None:
    _, runtime = _builder_and_runtime()
    labels = runtime.pairs("LABEL")
    assert all(key.startswith("org.opencontainers.image.") for key in labels)
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert runtime.pairs("ARG")["VERSION"] == imagebuild.project_version()
    assert labels["org.opencontainers.image.licenses"] == imagebuild.pyproject()["project"]["license"]
    for key in ("title", "description", "revision", "created", "source", "base.name"):
        assert f"org.opencontainers.image.{key}" in labels


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether ``path`` (relative, '/'-separated) or a folder above it is excluded by .dockerignore (the
    subset of its syntax this repository uses: globs, ``**/`` prefixes, no ``!`` exceptions)."""
    assert not any(p.startswith("!") for p in patterns), "exceptions are not understood by this check"
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in (p.strip("/") for p in patterns):
        if pattern.startswith("**/"):
            tail = pattern.removeprefix("**/")
            if any(fnmatch.fnmatchcase(part, tail) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_dockerignore_keeps_out_the_tree_but_not_what_the_build_copies() -> None:
    builder, _ = _builder_and_runtime()
    patterns = imagebuild.dockerignore()
    for excluded in (".git", ".venv", "tests/unit/test_cli.py", "dist", "build", "docs/metrics.md"):
        assert _ignored(excluded, patterns), f"{excluded} is sent to the build context"
    assert _ignored("burstd/__pycache__/cli.cpython-311.pyc", patterns)
    sources = [word for i in builder.all("COPY") for word in i.args.split()[:-1]]
    assert sources, "the builder copies nothing"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        files = [REPO / source] if (REPO / source).is_file() else (REPO / source).rglob("*")
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            if file.is_file() and "__pycache__" not in relative:
                assert not _ignored(relative, patterns), f"{relative} is excluded but the build needs it"
