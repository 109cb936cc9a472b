"""The end-to-end harness: a fleet on two real API servers with Karmada and Cluster API played by
``KarmadaSim`` and ``CapiSim``, and a ``Recorder`` of what changes, all running as asyncio tasks.

    async with run_harness(karmada_plane, management_plane, Fleet.unique(), ready_delay=2.0) as h:
        await h.karmada.set_demand(60)
        await h.wait_for("3 cloud nodes Ready", lambda: h.recorder.md_ready.last == 3)

The Karmada objects (Clusters, PropagationPolicy, ResourceBinding, FederatedHPA, the workload's namespace)
live on ``karmada_plane``; the Cluster API objects (MachineDeployment, Machines, their namespace) and
burstd's namespace on ``management_plane``. Passing the same plane twice puts everything on one server.

burstd itself (``burstd run --config FILE``) runs beside it as a separate process (``BurstdProcess``),
with one kubeconfig per API server and ``policy_yaml(fleet)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from integration.controlplane import ControlPlane

from burstd.kube.client import KubeClient

from .capi_sim import CapiSim
from .fleet import Fleet, create_karmada_side, create_management_side
from .karmada_sim import KarmadaSim
from .recorder import Recorder

Predicate = Callable[[], bool | Awaitable[bool]]


class Planes(NamedTuple):
    """The two API servers burstd talks to (the same plane twice for a single-server setup)."""

    karmada: ControlPlane
    """Plays karmada-apiserver."""
    management: ControlPlane
    """Plays the Cluster API management cluster."""


class HarnessError(AssertionError):
    """A simulated controller died, or something waited for did not happen in time."""


@dataclass
class Harness:
    karmada_plane: ControlPlane
    management_plane: ControlPlane
    karmada_kube: KubeClient
    """Admin client of the Karmada API server."""
    management_kube: KubeClient
    """Admin client of the management cluster's API server."""
    fleet: Fleet
    karmada: KarmadaSim
    capi: CapiSim
    recorder: Recorder
    interval: float = 0.2
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        """Run the simulators and the recorder in the background, every ``interval`` seconds."""
        if self.tasks:
            raise RuntimeError("the harness is already running")
        self.tasks = [
            asyncio.create_task(self.capi.run(self.interval), name="capi-sim"),
            asyncio.create_task(self.karmada.run(self.interval), name="karmada-sim"),
            asyncio.create_task(self.recorder.run(self.interval), name="recorder"),
        ]

    async def stop(self) -> None:
        """Cancel the background tasks; raise if one of them had failed."""
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise HarnessError(f"{task.get_name()} failed: {result!r}") from result

    def check(self) -> None:
        """Raise if a background task has stopped (they only stop by failing)."""
        for task in self.tasks:
            if task.done():
                exc = None if task.cancelled() else task.exception()
                raise HarnessError(f"{task.get_name()} stopped: {exc!r}") from exc

    async def step(self) -> None:
        """One pass of Cluster API, then Karmada, then the recorder (for tests that drive time by hand)."""
        await self.capi.step()
        await self.karmada.step()
        await self.recorder.poll()

    async def wait_for(
        self, what: str, predicate: Predicate, timeout: float = 30.0, poll: float = 0.05
    ) -> float:
        """Poll ``predicate`` (sync or async) until it is true; return the seconds waited.

        Fails with ``what`` after ``timeout`` seconds, or at once if a background task died.
        """
        start = time.monotonic()
        while True:
            self.check()
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise HarnessError(f"timed out after {timeout:g}s waiting for: {what}")
            await asyncio.sleep(poll)


@contextlib.asynccontextmanager
async def run_harness(
    karmada_plane: ControlPlane,
    management_plane: ControlPlane,
    fleet: Fleet | None = None,
    *,
    ready_delay: float = 2.0,
    interval: float = 0.2,
    start: bool = True,
) -> AsyncIterator[Harness]:
    """Create ``fleet`` (default ``Fleet.unique()``) on the two planes, set the demand to its initial
    replicas, bring every status up to date once, then (with ``start``) run the simulators and the recorder
    in the background until the block ends. A simulator that failed makes the block fail."""
    fleet = fleet or Fleet.unique()
    async with contextlib.AsyncExitStack() as stack:
        karmada = await stack.enter_async_context(
            await KubeClient.from_kubeconfig(str(karmada_plane.kubeconfig))
        )
        management = await stack.enter_async_context(
            await KubeClient.from_kubeconfig(str(management_plane.kubeconfig))
        )
        await create_karmada_side(karmada, karmada_plane, fleet)
        await create_management_side(management, management_plane, fleet)
        harness = Harness(
            karmada_plane=karmada_plane,
            management_plane=management_plane,
            karmada_kube=karmada,
            management_kube=management,
            fleet=fleet,
            karmada=KarmadaSim(karmada, management, fleet),
            capi=CapiSim(management, fleet, ready_delay=ready_delay),
            recorder=Recorder(karmada, management, management_plane, fleet),
            interval=interval,
        )
        await harness.karmada.set_demand(fleet.initial_replicas)
        await harness.step()
        if start:
            harness.start()
        try:
            yield harness
            harness.check()
        finally:
            await harness.stop()
