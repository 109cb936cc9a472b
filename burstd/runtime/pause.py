"""Holding policies on purpose: a per-policy pause and the global kill switch.

A policy is paused by ``spec.paused: true`` or by the annotation ``burstd.io/paused: "true"`` in its
metadata. The kill switch is a ConfigMap in burstd's namespace on the management cluster (setting
``killSwitch.configMap``, default ``burstd-control``) whose ``data.paused`` is ``"true"``; the leader reads it
once per round. Either way the daemon holds the policy before the engine decides: no action, no alert, the
saved state left as it is, so resuming continues from where the policy stood.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from burstd.kube.errors import KubeError, NotFound
from burstd.policy.spec import BurstPolicy

__all__ = ["KILL_SWITCH", "PAUSED", "PAUSED_ANNOTATION", "KillSwitch", "pause_reasons", "paused_by_policy"]

log = logging.getLogger("burstd.runtime")

#: the annotation that pauses one policy (value ``"true"``), as ``spec.paused`` does
PAUSED_ANNOTATION = "burstd.io/paused"
#: the ``reason`` of ``burstd_policy_held`` for a paused policy and for the kill switch
PAUSED = "Paused"
KILL_SWITCH = "KillSwitch"
#: the ConfigMap key of the kill switch
PAUSED_KEY = "paused"


def _true(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() == "true"


def paused_by_policy(policy: BurstPolicy) -> bool:
    """Whether the policy pauses itself (``spec.paused`` or the ``burstd.io/paused`` annotation)."""
    return policy.spec.paused or _true(policy.metadata.annotations.get(PAUSED_ANNOTATION))


def pause_reasons(policy: BurstPolicy, kill_switch: bool) -> dict[str, str]:
    """Why ``policy`` is held on purpose (reason -> message); empty when it runs."""
    reasons: dict[str, str] = {}
    if kill_switch:
        reasons[KILL_SWITCH] = "the kill switch is on: every policy is held"
    if paused_by_policy(policy):
        reasons[PAUSED] = f"paused (spec.paused or the annotation {PAUSED_ANNOTATION})"
    return reasons


class ConfigMapReader(Protocol):
    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any]: ...


class KillSwitch:
    """The kill switch's last answer, refreshed by ``read``: a missing ConfigMap (404) means not paused; an
    API error keeps the previous answer and is logged once (again only when it changes)."""

    def __init__(self, client: ConfigMapReader, namespace: str, name: str) -> None:
        self._client = client
        self.namespace = namespace
        self.name = name
        self.paused = False
        self._error: str | None = None

    @property
    def where(self) -> str:
        return f"ConfigMap {self.namespace}/{self.name}"

    async def read(self) -> bool:
        """Read the ConfigMap; whether every policy is held."""
        try:
            cm = await self._client.get_configmap(self.namespace, self.name)
        except NotFound:
            paused = False
        except Exception as exc:  # an API error (or a bug): the round goes on with the last answer
            text = f"{type(exc).__name__}: {exc}"
            if self._error != text:
                expected = isinstance(exc, KubeError | OSError | TimeoutError)
                log.error(
                    "cannot read the kill switch (%s): %s; keeping the last answer (paused: %s)",
                    self.where,
                    text,
                    str(self.paused).lower(),
                    exc_info=None if expected else exc,
                )
            self._error = text
            return self.paused
        else:
            data = cm.get("data") or {}
            paused = isinstance(data, dict) and _true(data.get(PAUSED_KEY))
        if self._error is not None:
            log.info("the kill switch (%s) can be read again", self.where)
            self._error = None
        if paused != self.paused:
            if paused:
                log.warning("kill switch on (%s data.paused: true): every policy is held", self.where)
            else:
                log.info("kill switch off (%s): the policies run again", self.where)
        self.paused = paused
        return paused
