"""Find cloud providers installed as plugins (entry-point group ``burstd.providers``) and create them."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from burstd.cloud.provider import CloudProvider, redact

__all__ = [
    "ENTRY_POINT_GROUP",
    "ProviderLoadError",
    "UnknownProvider",
    "available",
    "get_provider",
    "load_class",
]

ENTRY_POINT_GROUP = "burstd.providers"


class UnknownProvider(LookupError):
    """No installed plugin has this name."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = available
        installed = ", ".join(available) if available else "none"
        super().__init__(
            f"unknown cloud provider {name!r}; installed providers: {installed} "
            f"(plugins register under the entry-point group {ENTRY_POINT_GROUP!r})"
        )


class ProviderLoadError(RuntimeError):
    """A plugin is installed but cannot be imported, is not a CloudProvider, or rejects its config."""


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)  # the first one wins, as importlib orders sys.path
    return found


def available() -> list[str]:
    """Names of the installed providers, sorted."""
    return sorted(_entry_points())


def load_class(name: str) -> type[CloudProvider]:
    """The provider class registered as ``name``. Raises UnknownProvider or ProviderLoadError."""
    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:
        raise UnknownProvider(name, sorted(eps))
    try:
        obj = ep.load()
    except Exception as exc:  # a broken plugin must not take the caller down with an obscure traceback
        raise ProviderLoadError(
            f"cloud provider {name!r} ({ep.value}) failed to import: {type(exc).__name__}: {redact(str(exc))}"
        ) from exc
    missing = [attr for attr in ("name", "quote", "instances", "classify") if not hasattr(obj, attr)]
    if not isinstance(obj, type) or missing:
        what = f"lacks {', '.join(missing)}" if missing else "is not a class"
        raise ProviderLoadError(f"cloud provider {name!r} ({ep.value}) is not a CloudProvider: it {what}")
    declared = getattr(obj, "name", None)
    if declared != name:
        raise ProviderLoadError(
            f"cloud provider registered as {name!r} ({ep.value}) calls itself {declared!r}; "
            "the entry-point name and the class's `name` must match"
        )
    provider_class: type[CloudProvider] = obj
    return provider_class


def get_provider(name: str, **config: Any) -> CloudProvider:
    """Create the provider registered as ``name`` with its configuration as keyword arguments."""
    provider_class = load_class(name)
    try:
        return provider_class(**config)
    except (TypeError, ValueError) as exc:
        raise ProviderLoadError(
            f"cloud provider {name!r} rejected its configuration: {redact(str(exc))}"
        ) from exc
