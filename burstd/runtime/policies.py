"""The daemon's policies: read them, notice when their files change, and decide what a reload may replace.

A bad policy never replaces a good one: a reload with any problem keeps every running policy as it is. A
policy removed from the files while its burst is in progress keeps running until it is back to Idle, so
no cloud node is forgotten (lower its ``limits.maxCloudNodes`` to 0 to end the burst first); a pool or
workload removed from a policy is retired the same way (``burstd.engine.retire``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from burstd.engine.retire import pool_target, retire
from burstd.kube.cache import silence_bound
from burstd.kube.client import SILENCE_MARGIN
from burstd.model.state import BurstState, Phase
from burstd.policy.loader import Source, expand_paths, load_paths
from burstd.policy.spec import BurstPolicy, FleetLimits

__all__ = ["Merged", "PolicySet", "digest_of", "merge", "read_policies", "signal_max_age_problems"]


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


def signal_max_age_problems(
    policies: Sequence[tuple[Source | str, BurstPolicy]], watch_timeout: float
) -> list[str]:
    """One line per policy whose ``safety.signalMaxAge`` is not above ``silence_bound(watch_timeout)``,
    naming where it is, the policy and both values. A quiet resource is heard from (a BOOKMARK, a watch
    ending at its timeout) about every ``watchTimeout``, and a silent watch is restarted only after the
    bound: such a policy would find its observations stale on a quiet, healthy fleet, and hold."""
    bound = silence_bound(watch_timeout)
    problems: list[str] = []
    for where, policy in policies:
        age = policy.spec.safety.signal_max_age
        if not age > bound:
            problems.append(
                f"{where}: spec.safety.signalMaxAge: policy {policy.metadata.name}: signalMaxAge ({age:g}s) "
                f"must be above {bound:g}s, how long a watch may go unheard before burstd restarts it (the "
                f"setting watchTimeout, {watch_timeout:g}s, + {SILENCE_MARGIN:g}s): on a quiet fleet its "
                "observations would go stale and it would hold; raise signalMaxAge or lower watchTimeout"
            )
    return problems


def read_policies(
    paths: Sequence[Path], *, prometheus_configured: bool, watch_timeout: float | None = None
) -> tuple[PolicySet | None, list[str]]:
    """The policies in ``paths``, or None and every problem (``FILE:LINE:COL: path: message`` lines).

    Policies naming a target an earlier one names are returned too, in the order read: the daemon holds
    the later one (``burstd.policy.claims.refusals``) instead of refusing every policy.
    """
    digest = digest_of(paths)
    loaded = load_paths(paths)
    if loaded.invalid:
        return None, [str(d) for d in loaded.invalid]
    policies = tuple(policy for _, policy in loaded.policies)
    if not policies:
        return None, [f"no BurstPolicy found in {', '.join(str(p) for p in paths)}"]
    if watch_timeout is not None:  # burstd run: the policies must stay fresh on a quiet fleet
        stale = signal_max_age_problems(loaded.policies, watch_timeout)
        if stale:
            return None, stale
    if not prometheus_configured:
        for policy in policies:
            triggers = policy.spec.triggers
            if any(c.promql for g in (triggers.scale_out, triggers.scale_in) for c in g.conditions):
                return None, [
                    f"policy {policy.metadata.name} uses a promql condition but prometheus.url is not set"
                ]
    return PolicySet(policies, loaded.fleet_limits, digest), []


@dataclass(frozen=True, slots=True)
class Merged:
    """What a reload runs: the policies (as the files have them, plus removed ones kept until Idle), the
    states the reload changed (pools and workloads starting or ending their retirement), and what a person
    should know about it (one sentence each)."""

    policies: list[BurstPolicy]
    states: dict[str, BurstState]
    notes: list[str]


def merge(
    running: Sequence[BurstPolicy], states: Mapping[str, BurstState], new: Sequence[BurstPolicy]
) -> Merged:
    """The policies to run after a reload, and the states it changes.

    Every policy in ``new`` runs (replacing the running one of the same name, whose state carries over);
    a running policy missing from ``new`` stops only once it is Idle with nothing left to retire. A pool or
    workload removed from a policy that keeps running is retired (``burstd.engine.retire``): drained and
    released like the end of a burst before it is forgotten; one that another policy now names is handed
    over to it instead.
    """
    names = {p.metadata.name for p in new}
    out = list(new)
    notes: list[str] = []
    for policy in running:
        name = policy.metadata.name
        state = states.get(name, BurstState())
        if name in names:
            continue
        if state.phase is not Phase.IDLE or state.retiring_pools or state.retiring_workloads:
            out.append(policy)
            notes.append(
                f"policy {name} was removed from the files but is in phase {state.phase.value}: it keeps "
                "running until its burst is over (set its limits.maxCloudNodes to 0 to end the burst now)"
            )
    pools = {p.metadata.name: {pool_target(pool) for pool in p.spec.burst.pools} for p in out}
    keys = {p.metadata.name: {w.propagation_policy.key for w in p.spec.workloads} for p in out}
    changed: dict[str, BurstState] = {}
    for old in running:
        name = old.metadata.name
        before = states.get(name)
        now = next((p for p in new if p.metadata.name == name), None)
        if before is None or now is None:
            continue
        others = [n for n in pools if n != name]
        after = retire(
            old,
            now,
            before,
            taken_pools=set().union(*(pools[n] for n in others)),
            taken_workloads=set().union(*(keys[n] for n in others)),
        )
        if after is before:
            continue
        changed[name] = after
        for pool in sorted(set(after.retiring_pools) - set(before.retiring_pools)):
            notes.append(
                f"policy {name}: pool {pool} was removed; its replicas move back to the base and its nodes "
                "are released (drain.maxStep per drain.interval) before burstd forgets it"
            )
        for key in sorted(set(after.retiring_workloads) - set(before.retiring_workloads)):
            notes.append(
                f"policy {name}: workload {key} was removed; its cloud replicas move back to the base "
                "(drain.maxStep per drain.interval) before burstd stops managing its weights"
            )
    return Merged(out, changed, notes)
