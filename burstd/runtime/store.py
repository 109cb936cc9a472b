"""Burst state per policy, persisted in a ConfigMap ``burstd-state-<policy>`` (key ``state.json``).

Every write carries the resourceVersion burstd last read or wrote as a precondition, so two writers can
never silently overwrite each other: the second gets ``StateConflict``. A ConfigMap that does not hold a
valid state is reported as ``CorruptState`` and left untouched.

The daemon gives the store a client fenced by the leader's write window (``KubeClient.fenced``): a save
attempted, or retried, after leadership lapsed is not sent (``burstd.kube.fence.Fenced``, not a conflict).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from burstd.kube.errors import Conflict, NotFound
from burstd.model.state import BurstState

__all__ = [
    "PREFIX",
    "STATE_KEY",
    "CorruptState",
    "StateClient",
    "StateConflict",
    "StateStore",
    "Stored",
    "configmap_name",
]

log = logging.getLogger("burstd.store")

PREFIX = "burstd-state-"
STATE_KEY = "state.json"
PHASE_KEY = "phase"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class StateClient(Protocol):
    """The part of ``burstd.kube.client.KubeClient`` the store uses."""

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any]: ...

    async def create_configmap(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def replace_configmap(
        self, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]: ...


class CorruptState(Exception):
    """The state ConfigMap exists but does not hold a valid burst state. It is never overwritten."""


class StateConflict(Exception):
    """The state changed (or appeared, or vanished) since ``expected_version``: re-load, then decide again."""

    def __init__(self, message: str, *, policy: str, expected_version: str | None) -> None:
        super().__init__(message)
        self.policy = policy
        self.expected_version = expected_version


@dataclass(frozen=True, slots=True)
class Stored:
    """A loaded state and the resourceVersion to save it against (None: no ConfigMap yet)."""

    state: BurstState
    version: str | None


def configmap_name(policy: str) -> str:
    """``burstd-state-<policy>``; ValueError when that is not a valid ConfigMap name."""
    name = PREFIX + policy
    if not policy or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise ValueError(
            f"policy name {policy!r} gives ConfigMap name {name!r}, which is not a DNS subdomain "
            "(lowercase alphanumerics, '-' and '.', at most 253 characters)"
        )
    return name


class StateStore:
    """Loads and saves each policy's ``BurstState`` in ``namespace``. With ``dry_run``, ``save`` writes nothing."""

    def __init__(self, client: StateClient, namespace: str, *, dry_run: bool = False) -> None:
        self._client = client
        self._namespace = namespace
        self._dry_run = dry_run

    def _where(self, policy: str) -> str:
        return f"ConfigMap {self._namespace}/{configmap_name(policy)}"

    async def load(self, policy: str) -> Stored:
        """The saved state, or an IDLE state and version None when there is none. Raises ``CorruptState``."""
        name = configmap_name(policy)
        try:
            cm = await self._client.get_configmap(self._namespace, name)
        except NotFound:
            return Stored(BurstState(), None)
        where = self._where(policy)
        version = (cm.get("metadata") or {}).get("resourceVersion")
        data = cm.get("data") or {}
        raw = data.get(STATE_KEY) if isinstance(data, dict) else None
        if not isinstance(raw, str):
            raise CorruptState(f"{where} has no key {STATE_KEY!r}: not a burstd state (left untouched)")
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            raise CorruptState(
                f"{where} key {STATE_KEY!r} is not valid JSON ({exc}); left untouched: fix or delete it"
            ) from None
        except RecursionError:
            raise CorruptState(
                f"{where} key {STATE_KEY!r} is JSON nested too deeply to be a burst state; left untouched: "
                "fix or delete it"
            ) from None
        try:
            state = BurstState.from_dict(parsed)
        except ValueError as exc:
            raise CorruptState(
                f"{where} key {STATE_KEY!r} is not a valid burst state: {exc}; left untouched: fix or delete it"
            ) from None
        return Stored(state, str(version) if version else None)

    def _body(self, policy: str, state: BurstState, version: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": configmap_name(policy),
            "namespace": self._namespace,
            "labels": {
                "app.kubernetes.io/name": "burstd",
                "app.kubernetes.io/managed-by": "burstd",
                "burstd.io/policy": policy,
            },
        }
        if version is not None:
            metadata["resourceVersion"] = version
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": {
                STATE_KEY: json.dumps(state.to_dict(), sort_keys=True),
                PHASE_KEY: state.phase.value,
            },
        }

    async def save(self, policy: str, state: BurstState, expected_version: str | None) -> str:
        """Create (``expected_version`` None) or replace the state; the new resourceVersion.

        Raises ``StateConflict`` when the ConfigMap is not at ``expected_version`` (changed, deleted, or
        already there on create).
        """
        body = self._body(policy, state, expected_version)
        where = self._where(policy)
        if self._dry_run:
            log.info("dry run: would save %s (phase %s)", where, state.phase.value)
            return expected_version or "dry-run"
        try:
            if expected_version is None:
                saved = await self._client.create_configmap(self._namespace, body)
            else:
                try:
                    saved = await self._client.replace_configmap(
                        self._namespace, body["metadata"]["name"], body
                    )
                except NotFound as exc:  # deleted since it was read (a missing namespace fails the create)
                    raise Conflict(exc.message, status=409, target=exc.target) from exc
        except Conflict as exc:
            expected = "none (create)" if expected_version is None else expected_version
            raise StateConflict(
                f"state of policy {policy} changed under burstd: {where} is no longer at the expected "
                f"resourceVersion {expected}; re-load it ({exc.message})",
                policy=policy,
                expected_version=expected_version,
            ) from exc
        return str(saved["metadata"]["resourceVersion"])
