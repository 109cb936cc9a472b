"""The daemon's policies: read them, notice when their files change, and decide what a reload may replace.

A bad policy never replaces a good one: a reload with any problem keeps every running policy as it is. A
policy removed from the files while its burst is in progress keeps running until it is back to Idle, so
no cloud node is forgotten (lower its ``limits.maxCloudNodes`` to 0 to end the burst first).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from burstd.model.state import Phase
from burstd.policy.loader import expand_paths, load_paths
from burstd.policy.spec import BurstPolicy, FleetLimits

__all__ = ["PolicySet", "digest_of", "merge", "read_policies"]


@dataclass(frozen=True, slots=True)
class PolicySet:
    policies: tuple[BurstPolicy, ...]
    fleet_limits: FleetLimits | None
    digest: str


def digest_of(paths: Sequence[Path]) -> str:
    """A fingerprint of the policy files' names and contents (changes when a file is edited, added or
    removed, including a Kubernetes ConfigMap volume swapping its files)."""
    files, problems = expand_paths(paths)
    h = hashlib.sha256()
    for display, path in files:
        h.update(display.encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError as exc:
            h.update(f"<unreadable: {exc.strerror}>".encode())
        h.update(b"\0")
    for problem in problems:
        h.update(str(problem).encode())
    return h.hexdigest()


def read_policies(
    paths: Sequence[Path], *, prometheus_configured: bool
) -> tuple[PolicySet | None, list[str]]:
    """The policies in ``paths``, or None and every problem (``FILE:LINE:COL: path: message`` lines)."""
    digest = digest_of(paths)
    loaded = load_paths(paths)
    if not loaded.ok:
        return None, loaded.errors
    policies = tuple(policy for _, policy in loaded.policies)
    if not policies:
        return None, [f"no BurstPolicy found in {', '.join(str(p) for p in paths)}"]
    if not prometheus_configured:
        for policy in policies:
            triggers = policy.spec.triggers
            if any(c.promql for g in (triggers.scale_out, triggers.scale_in) for c in g.conditions):
                return None, [
                    f"policy {policy.metadata.name} uses a promql condition but prometheus.url is not set"
                ]
    return PolicySet(policies, loaded.fleet_limits, digest), []


def merge(
    running: Sequence[BurstPolicy], phases: Mapping[str, Phase], new: Sequence[BurstPolicy]
) -> tuple[list[BurstPolicy], list[str]]:
    """The policies to run after a reload and why some removed ones are kept.

    Every policy in ``new`` runs (replacing the running one of the same name, whose state carries over);
    a running policy missing from ``new`` stops only if it is Idle.
    """
    names = {p.metadata.name for p in new}
    out = list(new)
    kept: list[str] = []
    for policy in running:
        name = policy.metadata.name
        phase = phases.get(name, Phase.IDLE)
        if name not in names and phase is not Phase.IDLE:
            out.append(policy)
            kept.append(
                f"policy {name} was removed from the files but is in phase {phase.value}: it keeps running "
                "until its burst is over (set its limits.maxCloudNodes to 0 to end the burst now)"
            )
    return out, kept
