"""The chaos rig: the end-to-end test bed (real API servers, the real Karmada and Cluster API controllers,
``e2e.bed.run_bed``) with every ``burstd run`` process behind its own pair of ``FaultProxy``s, a
``CapacityWatch`` that checks "weights never above Ready capacity" at every moment it observes, and a
``Journal`` of every request each daemon made.

Each daemon (one identity) has its own proxies, so every request in the journal names its sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sysconfig
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.bed import Bed, BedHarness, create_workload, run_bed, scheduled
from e2e.burstd_process import BurstdProcess, grant_deploy_rbac
from e2e.fleet import DEPLOYMENT_NAME_LABEL, Fleet, machine_labels
from e2e.invariants import CapacityCheck
from e2e.planes import Planes
from testbed.capi import create_objects, worker_pool_objects

from burstd.kube.client import MACHINE_DEPLOYMENTS, MACHINES, RESOURCE_BINDINGS

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
class CapacityWatch:
    """Every ``interval``: reads the Machines of the fleet's pools (``h.clusters.machine_deployments``),
    then every workload's ResourceBinding in the fleet's namespace, then the Machines again, and records a
    violation whenever the real scheduler assigned the cloud cluster more replicas (over all workloads)
    than the Ready Machines (the Machines' own Ready condition, not the MachineDeployments' lagging
    ``readyReplicas``) hold, at both ends of the read (``e2e.invariants.CapacityCheck``). It also keeps
    every Machine name it saw and the peak ``spec.replicas`` of the fleet's first MachineDeployment."""

    h: BedHarness
    interval: float = 0.1
    check: CapacityCheck = field(init=False)
    machines_seen: set[str] = field(default_factory=set)
    peak_md_replicas: int = 0

    def __post_init__(self) -> None:
        self.check = CapacityCheck(self.h.fleet.cloud_cluster, self.h.fleet.replicas_per_node)

    @property
    def violations(self) -> list[str]:
        return self.check.violations

    @property
    def observations(self) -> int:
        return self.check.samples

    async def _machines(self) -> list[dict[str, Any]]:
        fleet = self.h.fleet
        pools = ",".join(self.h.clusters.machine_deployments)
        listed = await self.h.management_kube.list(
            MACHINES, fleet.capi_namespace, label_selector=f"{DEPLOYMENT_NAME_LABEL} in ({pools})"
        )
        return list(listed.items)

    async def observe(self) -> None:
        fleet = self.h.fleet
        before = await self._machines()
        rbs = (await self.h.karmada_kube.list(RESOURCE_BINDINGS, fleet.namespace)).items
        after = await self._machines()
        md = await self.h.management_kube.get(
            MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace
        )
        cloud = sum(
            int(c.get("replicas") or 0)
            for rb in rbs
            for c in rb["spec"].get("clusters") or []
            if c.get("name") == fleet.cloud_cluster
        )
        self.machines_seen.update(str(m["metadata"]["name"]) for m in (*before, *after))
        self.peak_md_replicas = max(self.peak_md_replicas, int(md["spec"].get("replicas") or 0))
        phases = self.h.recorder.phase_history()
        context = f"{len(rbs)} bindings, phase {phases[-1] if phases else '?'}"
        self.check.observe(cloud, before, after, time.monotonic(), context)

    async def run(self) -> None:
        while True:
            await self.observe()
            await asyncio.sleep(self.interval)


@dataclass
class Rig:
    bed: Bed
    fleet: Fleet
    h: BedHarness
    workdir: Path
    journal: Journal
    watch: CapacityWatch
    proxies: dict[str, tuple[FaultProxy, FaultProxy]] = field(default_factory=dict)
    daemons: dict[str, ChaosDaemon] = field(default_factory=dict)

    @property
    def planes(self) -> Planes:
        return self.bed.planes

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

    async def add_pool(self, pool: Fleet, *, startup_s: float = 1.0) -> None:
        """A second real MachineDeployment (``pool.machine_deployment``, 0 replicas) of the bed's Cluster:
        its Machines count as the cloud cluster's nodes, for the cluster's status and the capacity watch."""
        objects = worker_pool_objects(
            self.bed.cluster,
            pool.machine_deployment,
            replicas=0,
            startup_s=startup_s,
            labels=machine_labels(pool),
        )
        await asyncio.to_thread(create_objects, self.bed.capi, objects)
        self.h.clusters.machine_deployments.append(pool.machine_deployment)

    async def until(self, what: str, predicate: Callable[[], Any], timeout: float = 60) -> float:
        """``BedHarness.wait_for`` that shows the daemons' logs when it times out."""
        try:
            return await self.h.wait_for(what, predicate, timeout=timeout)
        except AssertionError as exc:
            logs = "\n".join(f"--- {name} (tail) ---\n{d.log()[-4000:]}" for name, d in self.daemons.items())
            raise AssertionError(f"{exc}\n{logs}") from None

    def phase(self) -> str | None:
        phases = self.h.recorder.phase_history()
        return phases[-1] if phases else None

    async def back_at_base(self) -> bool:
        """Idle, no MachineDeployment replicas, and no Machine left in any of the fleet's pools (not even
        one still being deleted: the real MachineSet has finished its drain)."""
        r = self.h.recorder
        return (
            self.phase() == "Idle"
            and r.md_replicas.last == 0
            and r.md_ready.last == 0
            and await self.h.clusters.machines() == []
        )

    def assert_invariants(self) -> None:
        """Weights never led Ready capacity (the watch, over every workload and pool, and the bed's own
        per-sample check of the fleet's binding), and every settled division of the fleet's binding was the
        one burstd's model predicts."""
        assert self.watch.observations > 0
        assert self.watch.violations == [], "\n".join(self.watch.violations[:10])
        self.h.assert_capacity_never_led()
        division = self.h.recorder.division_check
        assert division.mismatches == [], "\n".join(division.mismatches[:10])


@contextlib.asynccontextmanager
async def chaos_rig(
    bed: Bed, fleet: Fleet, workdir: Path, *, startup_s: float = 1.0, workloads: Sequence[Fleet] = ()
) -> AsyncIterator[Rig]:
    """``fleet`` (made by ``bed.fleet()``) on the real controllers, its Machines provisioned in about
    ``startup_s``, with deploy/'s RBAC granted, a capacity watch running, and every daemon and proxy
    stopped at the end. ``workloads``: more workloads of the fleet (``dataclasses.replace(fleet,
    workload=...)``), made and placed on the base by the real scheduler before the watch starts."""
    async with run_bed(bed, fleet, startup_s=startup_s) as h:
        for other in workloads:
            await create_workload(h.karmada_kube, other)
            await h.wait_for(
                f"the real scheduler placed workload {other.workload}",
                functools.partial(scheduled, h.karmada_kube, other, weighted=True),
                60,
            )
            h.karmada.add_workload(other)
            h.clusters.add_workload(other)
        await asyncio.to_thread(grant_deploy_rbac, bed.planes, fleet.burstd_namespace)
        rig = Rig(bed, fleet, h, workdir, Journal(), CapacityWatch(h))
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
