"""API servers that misbehave in front of a running burst: stalls, partitions, watches that stay open but
silent, 410 storms, bursts of 5xx and 429. burstd must never act on stale data (no scale-in while blind),
keep its LIST rate bounded, survive every fault, and finish the burst once the fault is over.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

from e2e.bed import Bed
from e2e.fleet import Fleet, policy_doc
from e2e.test_daemon import burst_demand
from ruamel.yaml import YAML

from . import figures
from .faultproxy import Fault, FaultProxy, Seen
from .rig import ChaosDaemon, Rig, chaos_rig, is_action, is_lease

#: the chaos policy's ``safety.signalMaxAge``: above the watches' silence bound (watchTimeout 2s + 10s)
SIGNAL_MAX_AGE = 15.0
SETTINGS: dict[str, Any] = {"watchTimeout": "2s", "requestTimeout": "5s", "roundTimeout": "20s"}


def chaos_policy(fleet: Fleet) -> str:
    doc = policy_doc(fleet)
    doc["spec"]["safety"]["signalMaxAge"] = f"{SIGNAL_MAX_AGE:g}s"
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(doc, out)
    return out.getvalue()


def held(d: ChaosDaemon, reason: str = "NotObserved") -> bool:
    return d.metric("burstd_policy_held", policy=d.fleet.policy_name, reason=reason) == 1.0


def no_traceback(d: ChaosDaemon) -> None:
    log = d.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]


async def bursting(rig: Rig) -> ChaosDaemon:
    d = (await rig.daemon("burstd-a", chaos_policy(rig.fleet), settings=SETTINGS)).start()
    await rig.until("burstd evaluated the idle fleet", lambda: rig.phase() == "Idle")
    await rig.h.karmada.set_demand(burst_demand(rig.fleet))
    await rig.until("phase Bursting", lambda: rig.phase() == "Bursting", 90)
    await settled(rig, d)
    return d


async def settled(rig: Rig, d: ChaosDaemon) -> None:
    """The burst has settled: Bursting with every requested node Ready, and the daemon's own evaluation
    counter moved on by 3 with no action in between. A fault injected now finds nothing in flight, so any
    action while blind would be one taken on stale data."""
    r = rig.h.recorder
    mark = {"evaluations": -1.0, "actions": -1.0}

    def quiet() -> bool:
        actions = float(sum(1 for s in rig.journal.seen if is_action(s)))
        steady = rig.phase() == "Bursting" and r.md_replicas.last == r.md_ready.last
        if not steady or actions != mark["actions"]:
            mark.update(evaluations=d.rounds(), actions=actions)
            return False
        return d.rounds() >= mark["evaluations"] + 3

    await rig.until("the burst settled: every node Ready, 3 evaluations without an action", quiet, 120)


def actions_between(rig: Rig, start: float, end: float) -> list[Seen]:
    return [s for s in rig.journal.seen if is_action(s) and start <= s.started <= end]


async def blind(rig: Rig, d: ChaosDaemon, proxy: FaultProxy, fault: Fault) -> tuple[float, float]:
    """Inject ``fault`` until the policy holds on stale data, then lift it and wait for the hold to end.
    Returns when the fault started and ended."""
    start = time.monotonic()
    proxy.set_fault(fault)
    await rig.until(f"{fault.value} on {proxy.name}: the policy holds", lambda: held(d), SIGNAL_MAX_AGE + 20)
    waited = time.monotonic() - start
    # it held no sooner than its data could have gone stale (a fault is not mistaken for staleness)...
    assert waited >= SIGNAL_MAX_AGE - 1.0 or fault is Fault.PARTITION, waited
    end = time.monotonic()
    proxy.set_fault(Fault.NONE)
    await rig.until(f"{fault.value} on {proxy.name} over: the hold ends", lambda: not held(d), 30)
    return start, end


def test_blind_burstd_holds_and_recovers(bed: Bed, tmp_path: Path) -> None:
    """Stall (accepts, never answers), partition (connections cut) and silent watches on karmada-apiserver
    mid-burst: each time, the policy holds once its data is older than signalMaxAge, nothing is changed
    while blind, and it resumes when the server is back. Demand falls during the last (silent) fault: the
    scale-in waits for fresh data. A stalled management cluster costs the leader its Lease."""
    fleet = bed.fleet()

    async def main() -> None:
        async with chaos_rig(bed, fleet, tmp_path) as rig:
            d = await bursting(rig)
            karmada, management = rig.proxies[d.identity]
            blind_windows: list[tuple[float, float]] = []
            for fault in (Fault.STALL, Fault.PARTITION, Fault.SILENT_WATCH):
                start, end = await blind(rig, d, karmada, fault)
                assert actions_between(rig, start, end) == []
                blind_windows.append((start, end))
            # demand falls while every watch is silent: burstd cannot see it and must not act on old data
            start = time.monotonic()
            karmada.set_fault(Fault.SILENT_WATCH)
            await rig.h.karmada.set_demand(fleet.initial_replicas)
            await rig.until("silent watches: the policy holds", lambda: held(d), SIGNAL_MAX_AGE + 20)
            assert rig.phase() == "Bursting"
            assert (rig.h.recorder.md_replicas.last or 0) > 0
            end = time.monotonic()
            karmada.set_fault(Fault.NONE)
            assert actions_between(rig, start, end) == []
            blind_windows.append((start, end))
            # the management cluster stalls: no Lease renewal, so the leader stops before anyone could lead,
            # and sends no action until it leads again
            management.set_fault(Fault.STALL)
            await rig.until("the leader stepped down", lambda: d.metric("burstd_leader") == 0.0, 30)
            stepped_down = time.monotonic()
            management.set_fault(Fault.NONE)
            await rig.until("leading again", lambda: d.metric("burstd_leader") == 1.0, 30)
            led_again = min(
                s.started for s in rig.journal.seen if is_lease(s) and s.landed and s.started > stepped_down
            )
            assert actions_between(rig, stepped_down, led_again) == []
            blind_windows.append((stepped_down, led_again))
            await rig.until("back at base with no cloud node", rig.back_at_base, 120)
            machines = await rig.h.machines()
            assert machines == []
            rig.assert_invariants()
            assert d.running
            no_traceback(d)
            stale_actions = sum(len(actions_between(rig, a, b)) for a, b in blind_windows)
            figures.add(
                faults_injected=len(blind_windows),
                actions_on_stale_data=stale_actions,
                nodes_leaked=len(machines),
            )

    asyncio.run(main())


def lists(rig: Rig, start: float, end: float) -> int:
    return sum(1 for s in rig.journal.seen if s.method == "GET" and not s.watch and start <= s.started <= end
               and s.path.rsplit("/", 1)[-1] in LISTED)  # fmt: skip


LISTED = frozenset(
    {"clusters", "federatedhpas", "resourcebindings", "propagationpolicies", "machinedeployments", "machines"}
)


def test_410_storm_and_error_bursts(bed: Bed, tmp_path: Path) -> None:
    """Every watch answered 410 for 10 s (before: 3,206 LISTs in 5 s), then every request 503, then 429
    with Retry-After: the LIST rate stays bounded, the process survives without a traceback, and the
    burst ends at base afterwards."""
    fleet = bed.fleet()

    async def main() -> None:
        async with chaos_rig(bed, fleet, tmp_path) as rig:
            d = await bursting(rig)
            karmada, management = rig.proxies[d.identity]
            storm = 10.0
            start = time.monotonic()
            for p in (karmada, management):
                p.set_fault(Fault.GONE)
            await asyncio.sleep(storm)  # the fault's duration, not a wait for something not to happen
            for p in (karmada, management):
                p.set_fault(Fault.NONE)
            listed = lists(rig, start, time.monotonic())
            gone = sum(1 for s in rig.journal.seen if s.fault == Fault.GONE.value and s.watch)
            # 6 watched resources, each re-listing with backoff from 0.5 s doubling: a handful each
            assert listed <= 6 * 8, listed
            assert gone >= 6
            for status in (503, 429):
                for p in (karmada, management):
                    p.set_fault(Fault.ERRORS, status=status)
                await asyncio.sleep(5.0)  # the burst of errors lasts this long
                for p in (karmada, management):
                    p.set_fault(Fault.NONE)
                await rig.until("leading again", lambda: d.metric("burstd_leader") == 1.0, 30)
            assert d.running
            await rig.h.karmada.set_demand(fleet.initial_replicas)
            await rig.until("back at base with no cloud node", rig.back_at_base, 120)
            assert await rig.h.machines() == []
            rig.assert_invariants()
            no_traceback(d)
            errors = sum(1 for s in rig.journal.seen if s.fault == Fault.ERRORS.value)
            figures.add(faults_injected=3, lists_during_410_storm=listed, error_answers_injected=errors)

    asyncio.run(main())
