"""The few core-API calls the harness needs (namespaces, ConfigMaps), made as raw admin requests.

``KubeClient`` serves custom resources only, so these go through ``ControlPlane.request`` in a thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from integration.controlplane import ControlPlane


class CoreApiError(RuntimeError):
    """An unexpected answer from the core API."""


async def ensure_namespace(plane: ControlPlane, name: str) -> None:
    """Create namespace ``name``; one that already exists is fine."""
    status, body = await asyncio.to_thread(
        plane.request, "POST", "/api/v1/namespaces", {"metadata": {"name": name}}
    )
    if status not in (201, 409):
        raise CoreApiError(f"creating namespace {name}: HTTP {status}: {body}")


async def list_config_maps(plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    """Every ConfigMap in ``namespace`` (an unknown namespace gives an empty list)."""
    status, body = await asyncio.to_thread(plane.request, "GET", f"/api/v1/namespaces/{namespace}/configmaps")
    if status != 200:
        raise CoreApiError(f"listing ConfigMaps in {namespace}: HTTP {status}: {body}")
    items = body.get("items") if isinstance(body, dict) else None
    return [item for item in items or [] if isinstance(item, dict)]
