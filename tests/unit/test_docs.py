"""The README's policy reference names every field of the policy language."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from burstd.policy.spec import BurstPolicy, FleetLimits

README = Path(__file__).resolve().parents[2] / "README.md"


def _models(annotation: object) -> Iterator[tuple[type[BaseModel], bool]]:
    """(model, through a list) for each pydantic model inside an annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _models(arg)
    elif origin is list:
        for model, _ in _models(typing.get_args(annotation)[0]):
            yield model, True
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False


def field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, bool]]:
    """Every field path as written in YAML (``spec.burst.pools[].nodes.max``) and whether it is a model."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        inner = list(_models(info.annotation))
        yield path, bool(inner)
        for sub, listed in inner:
            yield from field_paths(sub, f"{path}{'[]' if listed else ''}.")


def _documented(path: str, text: str) -> bool:
    path = re.sub(r"^spec\.triggers\.(scaleOut|scaleIn)\.(any|all)\[\]\.", "spec.triggers.*.", path)
    parts = path.split(".")
    # A field is documented when it, or an enclosing object documented as a whole, is named in backticks.
    return any(f"`{'.'.join(parts[:n])}`" in text for n in range(len(parts), 0, -1))


@pytest.mark.parametrize("model", [BurstPolicy, FleetLimits])
def test_every_field_is_in_the_readme_reference(model: type[BaseModel]) -> None:
    text = README.read_text(encoding="utf-8")
    missing = [path for path, is_model in field_paths(model) if not is_model and not _documented(path, text)]
    assert not missing, f"README.md's policy reference lacks: {', '.join(missing)}"


def test_the_walker_sees_nested_fields() -> None:
    paths = dict(field_paths(BurstPolicy))
    assert "spec.burst.pools[].allocatable.cpu" in paths
    assert "spec.triggers.scaleOut.any[].for" in paths
    assert "spec.drain.stabilizationWindow" in paths
    assert not _documented("spec.noSuchField", "`spec.burst`")
    assert _documented("spec.burst.pools[].ref.name", "`spec.burst.pools[].ref`")
