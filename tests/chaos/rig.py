"""The chaos rig: the end-to-end harness (real API servers, Karmada and Cluster API played by the
harness) with every ``burstd run`` process behind its own pair of ``FaultProxy``s, a ``CapacityWatch``
that checks "weights never above Ready capacity" at every moment it observes, and a ``Journal`` of every
request each daemon made.

Each daemon (one identity) has its own proxies, so every request in the journal names its sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import sysconfig
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.burstd_process import BurstdProcess, grant_deploy_rbac
from e2e.fleet import Fleet
from e2e.harness import Harness, Planes, run_harness

from burstd.kube.client import MACHINE_DEPLOYMENTS, RESOURCE_BINDINGS

from .faultproxy import FaultProxy, Journal, Seen, proxy_kubeconfig

LIBFAKETIME = Path("/usr/lib", sysconfig.get_config_var("MULTIARCH") or "", "faketime", "libfaketime.so.1")

#: writes that are burst actions (not state saves, Leases or Events): what "an action" means in the figures
ACTION_RESOURCES = frozenset(
    {
        "machinedeployments/scale",
        "machinepools/scale",
        "machines",
        "propagationpolicies",
        "workloadrebalancers",
    }
)


def is_action(seen: Seen) -> bool:
    return seen.mutating and seen.resource in ACTION_RESOURCES


def is_lease(seen: Seen) -> bool:
    return seen.resource == "leases"


class ChaosDaemon(BurstdProcess):
    """A ``burstd run`` process whose API servers are reached through ``karmada_proxy`` and
    ``management_proxy``; ``clock_offset`` (seconds) runs its wall clock ahead (+) or behind (-) with
    libfaketime, its monotonic clock untouched."""

    def __init__(
        self,
        planes: Planes,
        fleet: Fleet,
        workdir: Path,
        policy_yaml: str,
        karmada_proxy: FaultProxy,
        management_proxy: FaultProxy,
        *,
        identity: str,
        clock_offset: float = 0.0,
        settings: dict[str, Any] | None = None,
    ) -> None:
        base = workdir / identity
        base.mkdir(parents=True, exist_ok=True)
        karmada = proxy_kubeconfig(
            base / "karmada-proxy.kubeconfig", karmada_proxy, planes.karmada.unprivileged_token
        )
        management = proxy_kubeconfig(
            base / "management-proxy.kubeconfig", management_proxy, planes.management.unprivileged_token
        )
        merged = {
            "karmada": {"kubeconfig": str(karmada)},
            "management": {"kubeconfig": str(management)},
            **(settings or {}),
        }
        super().__init__(planes, fleet, workdir, policy_yaml, identity=identity, settings=merged)
        self.clock_offset = clock_offset
        self.starts = 0

    def start(self, *extra: str) -> ChaosDaemon:
        if self.clock_offset:
            if not LIBFAKETIME.exists():
                raise AssertionError(f"{LIBFAKETIME} is missing: run scripts/testenv/install-faketime.sh")
            self.extra_env = {
                "LD_PRELOAD": str(LIBFAKETIME),
                "FAKETIME": f"{self.clock_offset:+g}s",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            }
        super().start(*extra)
        self.starts += 1
        return self

    def rounds(self) -> float:
        """The daemon's own evaluation counter for the fleet's policy (0 when not up)."""
        return self.metric("burstd_evaluations_total", policy=self.fleet.policy_name) or 0.0


@dataclass
class Violation:
    at: float
    cloud_replicas: int
    ready_nodes: int


@dataclass
class CapacityWatch:
    """Reads the ResourceBindings (every workload's), then the MachineDeployments (all of the cloud
    cluster's), every ``interval`` and records every moment the cloud cluster was assigned more replicas than
    its Ready nodes hold."""

    h: Harness
    interval: float = 0.1
    violations: list[Violation] = field(default_factory=list)
    observations: int = 0
    peak_md_replicas: int = 0

    async def run(self) -> None:
        fleet = self.h.fleet
        while True:
            rbs = (await self.h.karmada_kube.list(RESOURCE_BINDINGS, fleet.namespace)).items
            mds = (await self.h.management_kube.list(MACHINE_DEPLOYMENTS, fleet.capi_namespace)).items
            cloud = sum(
                int(c.get("replicas") or 0)
                for rb in rbs
                for c in rb["spec"].get("clusters") or []
                if c.get("name") == fleet.cloud_cluster
            )
            ready = sum(int((md.get("status") or {}).get("readyReplicas") or 0) for md in mds)
            for md in mds:
                if md["metadata"]["name"] == fleet.machine_deployment:
                    replicas = int((md.get("spec") or {}).get("replicas") or 0)
                    self.peak_md_replicas = max(self.peak_md_replicas, replicas)
            if cloud > ready * fleet.replicas_per_node:
                self.violations.append(Violation(time.monotonic(), cloud, ready))
            self.observations += 1
            await asyncio.sleep(self.interval)


@dataclass
class Rig:
    planes: Planes
    fleet: Fleet
    h: Harness
    workdir: Path
    journal: Journal
    watch: CapacityWatch
    proxies: dict[str, tuple[FaultProxy, FaultProxy]] = field(default_factory=dict)
    daemons: dict[str, ChaosDaemon] = field(default_factory=dict)

    async def daemon(
        self,
        identity: str,
        policy_yaml: str,
        *,
        clock_offset: float = 0.0,
        settings: dict[str, Any] | None = None,
    ) -> ChaosDaemon:
        """A daemon (not started) behind a fresh pair of proxies named ``<identity>/karmada`` and
        ``<identity>/management``."""
        k = await FaultProxy(
            f"{identity}/karmada", self.planes.karmada.server, self.planes.karmada.ca_file, self.journal
        ).start()
        m = await FaultProxy(
            f"{identity}/management",
            self.planes.management.server,
            self.planes.management.ca_file,
            self.journal,
        ).start()
        self.proxies[identity] = (k, m)
        d = ChaosDaemon(
            self.planes, self.fleet, self.workdir, policy_yaml, k, m,
            identity=identity, clock_offset=clock_offset, settings=settings,
        )  # fmt: skip
        self.daemons[identity] = d
        return d

    async def until(self, what: str, predicate: Callable[[], Any], timeout: float = 60) -> float:
        """``Harness.wait_for`` that shows the daemons' logs when it times out."""
        try:
            return await self.h.wait_for(what, predicate, timeout=timeout)
        except AssertionError as exc:
            logs = "\n".join(f"--- {name} (tail) ---\n{d.log()[-4000:]}" for name, d in self.daemons.items())
            raise AssertionError(f"{exc}\n{logs}") from None

    def phase(self) -> str | None:
        phases = self.h.recorder.phase_history()
        return phases[-1] if phases else None

    def back_at_base(self) -> bool:
        """Idle, no MachineDeployment replicas and no Ready cloud node."""
        r = self.h.recorder
        return self.phase() == "Idle" and r.md_replicas.last == 0 and r.md_ready.last == 0


@contextlib.asynccontextmanager
async def chaos_rig(
    planes: Planes, fleet: Fleet, workdir: Path, *, ready_delay: float = 1.0
) -> AsyncIterator[Rig]:
    """The harness for ``fleet`` on ``planes`` with deploy/'s RBAC granted, a capacity watch running, and
    every daemon and proxy stopped at the end."""
    async with run_harness(*planes, fleet, ready_delay=ready_delay) as h:
        await asyncio.to_thread(grant_deploy_rbac, planes, fleet.burstd_namespace)
        rig = Rig(planes, fleet, h, workdir, Journal(), CapacityWatch(h))
        watch = asyncio.create_task(rig.watch.run(), name="capacity-watch")
        try:
            yield rig
            if watch.done():
                watch.result()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch
            for d in rig.daemons.values():
                d.close()
            for k, m in rig.proxies.values():
                await k.stop()
                await m.stop()
