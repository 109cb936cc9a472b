"""SIGKILL at every write boundary of a whole burst, found by the proxy rather than listed by hand.

While the burst runs, every write burstd sends (but Lease renewals) is a kill point, taken alternately on
its two sides: *before* it (the proxy drops the request, so the write never lands, and kills burstd) and
*after* it (the proxy forwards it, the apiserver applies it, and burstd is killed before it hears the
answer). A supervisor restarts burstd at once under the same identity, as the kubelet restarts a
container. The burst must still run to its end: 0 duplicate scale-ups, 0 nodes left when demand is back
at base, and at every moment observed no cluster assigned more replicas than its Ready nodes hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

from e2e.bed import Bed
from e2e.fleet import policy_yaml
from e2e.test_daemon import burst_demand

from . import figures
from .faultproxy import Seen, WriteVerdict
from .rig import ChaosDaemon, Rig, chaos_rig, is_action, is_lease


class KillSweep:
    """Arms the proxies of ``daemon``: each write is a kill point, before and after in turn."""

    def __init__(self, rig: Rig, daemon: ChaosDaemon) -> None:
        self.rig = rig
        self.daemon = daemon
        self.armed = False
        self.kills: list[tuple[str, str, str]] = []  # (side, resource, phase)
        self.killed_at = 0.0
        self.restart = asyncio.Event()
        for proxy in rig.proxies[daemon.identity]:
            proxy.on_write = self.on_write
            proxy.after_write = self.after_write

    def _counts(self, seen: Seen) -> bool:
        # a request the killed process had already sent is not the new process's write
        return self.armed and not is_lease(seen) and seen.started > self.killed_at

    async def _kill(self, side: str, seen: Seen) -> None:
        self.kills.append((side, f"{seen.method} {seen.resource}", self.rig.phase() or "?"))
        self.killed_at = time.monotonic()
        # shielded: the proxy's handler is cancelled as soon as the dying process drops its connection
        await asyncio.shield(asyncio.ensure_future(self._kill_and_restart()))

    async def _kill_and_restart(self) -> None:
        await asyncio.to_thread(self.daemon.kill)
        self.restart.set()

    async def on_write(self, seen: Seen) -> WriteVerdict:
        if not self._counts(seen):
            return WriteVerdict.FORWARD
        if len(self.kills) % 2 == 0:
            await self._kill("before", seen)
            return WriteVerdict.DROP
        return WriteVerdict.FORWARD_THEN

    async def after_write(self, seen: Seen) -> None:
        if self._counts(seen):
            await self._kill("after", seen)

    async def supervise(self) -> None:
        """Restart the daemon whenever it was killed (a container restart: same identity)."""
        while True:
            await self.restart.wait()
            self.restart.clear()
            self.daemon.start()


def test_sigkill_at_every_write_boundary_converges(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()

    async def main() -> None:
        async with chaos_rig(bed, fleet, tmp_path) as rig:
            daemon = (await rig.daemon("burstd-a", policy_yaml(fleet))).start()
            await rig.until("burstd evaluated the idle fleet", lambda: rig.phase() == "Idle")
            sweep = KillSweep(rig, daemon)
            supervisor = asyncio.create_task(sweep.supervise())
            try:
                sweep.armed = True
                await rig.h.karmada.set_demand(burst_demand(fleet))
                await rig.until("phase Bursting", lambda: rig.phase() == "Bursting", 240)
                await rig.h.karmada.set_demand(fleet.initial_replicas)
                await rig.until("back at base with no cloud node", rig.back_at_base, 300)
                sweep.armed = False
            finally:
                supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await supervisor
            machines = await rig.h.machines()
            scale_writes = [
                s for s in rig.journal.writes(landed_only=True) if s.resource == "machinedeployments/scale"
            ]
            asked = [int((s.json_body() or {}).get("spec", {}).get("replicas", 0)) for s in scale_writes]
            ups = sum(1 for n in asked if n > 0)
            # every Machine the real MachineSet made, seen by the recorder or the watch, against the most
            # the MachineDeployment was ever asked for (seen by the watch, or a scale write that landed)
            created = len(rig.watch.machines_seen | rig.h.recorder.machine_ledger.seen.keys())
            peak = max(rig.watch.peak_md_replicas, *asked, 0)
            duplicates = created - peak
            points = Counter(side + " " + what for side, what, _ in sweep.kills)
            figures.add(
                kill_points=len(sweep.kills),
                kill_point_kinds=len(points),
                writes_observed=len([s for s in rig.journal.writes() if not is_lease(s)]),
                actions_observed=len([s for s in rig.journal.writes() if is_action(s)]),
                nodes_leaked=len(machines),
                duplicate_scale_ups=max(0, duplicates),
                capacity_observations=rig.watch.observations,
                capacity_violations=len(rig.watch.violations),
            )
            assert len(sweep.kills) >= 20, sweep.kills
            assert {"before", "after"} <= {side for side, _, _ in sweep.kills}
            assert machines == [], [m["metadata"]["name"] for m in machines]
            assert duplicates == 0, (created, peak, asked)
            assert ups >= 1
            # a Machine the real MachineSet removed while others stayed was one burstd had marked first
            ledger = rig.h.recorder.machine_ledger
            removed = ledger.removed_while_others_stayed()
            assert all(m in ledger.marked and ledger.marked[m] <= ledger.gone[m] for m in removed), ledger
            rig.assert_invariants()
            assert (rig.h.recorder.binding_clusters.last or {}).keys() == {fleet.base_cluster}
            print(f"kill points: {len(sweep.kills)}; kinds: {dict(points)}")

    asyncio.run(main())


def test_killed_after_a_scale_up_while_demand_falls_leaves_no_node(bed: Bed, tmp_path: Path) -> None:
    """The crash the issue found: SIGKILL right after a scale-up landed (before the state save), demand back
    at base before the restart. The restarted burstd must release what the pool observably has, not what
    its saved state says it asked for."""
    fleet = bed.fleet()

    async def main() -> None:
        async with chaos_rig(bed, fleet, tmp_path) as rig:
            daemon = (await rig.daemon("burstd-a", policy_yaml(fleet))).start()
            await rig.until("burstd evaluated the idle fleet", lambda: rig.phase() == "Idle")
            killed = asyncio.Event()

            async def on_write(seen: Seen) -> WriteVerdict:
                body = seen.json_body() or {}
                up = (
                    seen.resource == "machinedeployments/scale"
                    and body.get("spec", {}).get("replicas", 0) > 0
                )
                return WriteVerdict.FORWARD_THEN if up and not killed.is_set() else WriteVerdict.FORWARD

            async def after_write(seen: Seen) -> None:
                if not killed.is_set():
                    killed.set()
                    await asyncio.shield(asyncio.ensure_future(asyncio.to_thread(daemon.kill)))

            for proxy in rig.proxies[daemon.identity]:
                proxy.on_write, proxy.after_write = on_write, after_write
            await rig.h.karmada.set_demand(burst_demand(fleet))
            await rig.until("burstd killed right after its scale-up landed", killed.is_set)
            await rig.until("the kill is over", lambda: not daemon.running)
            await rig.until("cloud nodes Ready", lambda: (rig.h.recorder.md_ready.last or 0) > 0)
            saved = rig.h.recorder.phase_history()[-1]
            await rig.h.karmada.set_demand(fleet.initial_replicas)
            daemon.start()
            await rig.until("back at base with no cloud node", rig.back_at_base, 120)
            machines = await rig.h.machines()
            figures.add(kill_points=1, nodes_leaked=len(machines))
            assert machines == [], [m["metadata"]["name"] for m in machines]
            rig.assert_invariants()
            assert saved == "Idle"  # the state save never happened: the saved state knew of no burst

    asyncio.run(main())
