"""The repository's Dockerfile and pyproject.toml as the packaging tests read them: the Dockerfile's
instructions (line continuations joined, comments dropped) grouped by stage, with the base image resolved
from the ``ARG`` defaults, and the ``pip install`` the image runs, so the wheel test installs exactly that.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PYPROJECT = REPO / "pyproject.toml"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    args: str
    line: int  # where it starts, 1-based


@dataclass
class Stage:
    base: str  # the image reference, ARG defaults substituted
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]

    def pairs(self, keyword: str) -> dict[str, str]:
        """KEY=VALUE words of every ENV, LABEL or ARG (without a value: empty) of this stage."""
        result: dict[str, str] = {}
        for instruction in self.all(keyword):
            for word in shlex.split(instruction.args):
                key, _, value = word.partition("=")
                result[key] = value
        return result


@dataclass(frozen=True)
class PipInstall:
    """The ``pip install`` of the project's wheel into the image's virtualenv."""

    constraints: list[str]
    extras: list[str]
    target: str  # the --python interpreter
    command: str


def instructions(text: str) -> list[Instruction]:
    result: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#") or (not parts and not line):
            continue  # comments (and parser directives) are dropped, also inside a continuation
        if not parts:
            start = number
        continued = line.endswith("\\")
        parts.append(line.removesuffix("\\").strip())
        if continued:
            continue
        keyword, _, args = " ".join(p for p in parts if p).partition(" ")
        result.append(Instruction(keyword.upper(), args.strip(), start))
        parts = []
    assert not parts, "the Dockerfile ends inside a line continuation"
    return result


def _substitute(word: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], word)


def stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(the global ARG defaults, the stages in order)."""
    global_args: dict[str, str] = {}
    result: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(_substitute(words[0], global_args), name))
        elif result:
            result[-1].instructions.append(instruction)
        else:
            assert instruction.keyword == "ARG", f"line {instruction.line}: only ARG may precede FROM"
            key, _, value = instruction.args.partition("=")
            global_args[key] = value
    return global_args, result


def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return stages(DOCKERFILE.read_text(encoding="utf-8"))


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of an ENTRYPOINT or CMD; the shell form (a plain string) fails."""
    value: Any = json.loads(instruction.args)
    assert isinstance(value, list), f"line {instruction.line}: {instruction.keyword} is not in exec form"
    assert all(isinstance(v, str) for v in value)
    return [str(v) for v in value]


def pip_install(stage: Stage) -> PipInstall:
    """The one ``pip --python ... install`` in ``stage`` that installs the project's wheel."""
    found: list[PipInstall] = []
    for run in stage.all("RUN"):
        for command in run.args.split("&&"):
            words = shlex.split(command)
            if "pip" not in words or "install" not in words:
                continue
            constraints = [words[i + 1] for i, w in enumerate(words) if w in {"-c", "--constraint"}]
            targets = [words[i + 1] for i, w in enumerate(words) if w == "--python"]
            wheels = [m for w in words if (m := re.fullmatch(r"\S*\[([\w,-]+)\]", w))]
            assert len(wheels) == 1, f"line {run.line}: no wheel[extras] in: {command}"
            assert len(targets) == 1, f"line {run.line}: no --python in: {command}"
            found.append(PipInstall(constraints, wheels[0].group(1).split(","), targets[0], command.strip()))
    assert len(found) == 1, f"expected one pip install of the burstd wheel, found {len(found)}"
    return found[0]


def pyproject() -> dict[str, Any]:
    with PYPROJECT.open("rb") as file:
        return tomllib.load(file)


def project_version() -> str:
    return str(pyproject()["project"]["version"])


def provider_extras() -> list[str]:
    """The optional-dependency groups that install cloud provider SDKs (every group but ``dev``)."""
    return sorted(set(pyproject()["project"]["optional-dependencies"]) - {"dev"})


def dockerignore() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
