"""Two daemons whose wall clocks disagree by a minute (one +30 s, one -30 s, faked with libfaketime; their
monotonic clocks are left alone), and a leader paused with SIGSTOP past its Lease while one of its writes
is in flight. At no moment may writes from two identities land in the same lease term: every write that
landed is checked against the Lease's holder at that moment, as the proxies saw the Lease change.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from e2e.bed import Bed
from e2e.test_daemon import burst_demand

from . import figures
from .faultproxy import Journal, Seen
from .rig import chaos_rig, is_action, is_lease
from .test_faults import SETTINGS, chaos_policy, no_traceback


def identity(seen: Seen) -> str:
    return seen.proxy.split("/", 1)[0]


@dataclass(frozen=True)
class Term:
    at: float  # when the Lease write that began it was answered (time.monotonic())
    transitions: int
    holder: str | None


def terms(journal: Journal) -> list[Term]:
    """Every Lease state the proxies saw written, in order."""
    out: list[Term] = []
    for s in journal.seen:
        if is_lease(s) and s.landed and s.ended is not None:
            spec = (s.json_response() or {}).get("spec") or {}
            out.append(
                Term(s.ended, int(spec.get("leaseTransitions") or 0), spec.get("holderIdentity") or None)
            )
    return sorted(out, key=lambda t: t.at)


def split_brain(journal: Journal) -> list[str]:
    """Writes that landed while another identity (or nobody) held the Lease."""
    timeline = terms(journal)
    bad = []
    for s in journal.seen:
        if not s.landed or is_lease(s) or s.ended is None:
            continue
        current = [t for t in timeline if t.at <= s.ended]
        holder = current[-1].holder if current else None
        if holder != identity(s):
            bad.append(f"{identity(s)} {s.method} {s.path} landed in the term of {holder}")
    return bad


def leader_acquisitions(journal: Journal, who: str) -> int:
    """Lease terms ``who`` held."""
    return len({t.transitions for t in terms(journal) if t.holder == who})


def test_skewed_clocks_and_a_paused_leader_never_split_the_brain(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()

    async def main() -> None:
        async with chaos_rig(bed, fleet, tmp_path) as rig:
            policy = chaos_policy(fleet)
            behind = await rig.daemon("burstd-behind", policy, clock_offset=-30, settings=SETTINGS)
            ahead = await rig.daemon("burstd-ahead", policy, clock_offset=+30, settings=SETTINGS)
            behind.start()
            await rig.until("the first daemon leads", lambda: behind.metric("burstd_leader") == 1.0, 30)
            await rig.until("it evaluated the idle fleet", lambda: rig.phase() == "Idle")
            ahead.start()
            await rig.until("the second daemon is up", lambda: ahead.metric("burstd_leader") == 0.0, 30)
            # the one whose clock runs 60 s ahead sees a renewTime a minute old: it must not take over a
            # healthy leader. Wait on the leader's own round counter: 10 rounds > 2 lease durations.
            rounds = behind.rounds()
            await rig.until("ten more rounds of the leader", lambda: behind.rounds() >= rounds + 10, 60)
            assert leader_acquisitions(rig.journal, ahead.identity) == 0, terms(rig.journal)
            assert ahead.metric("burstd_leader") == 0.0

            await rig.h.karmada.set_demand(burst_demand(fleet))
            await rig.until("phase Bursting", lambda: rig.phase() == "Bursting", 90)

            # demand falls; the leader's first drain write is held in its proxy and the leader is paused
            held: list[Seen] = []
            arrived = asyncio.Event()

            def hold(seen: Seen) -> bool:
                if is_action(seen) and identity(seen) == behind.identity and not held:
                    held.append(seen)
                    arrived.set()
                    return True
                return False

            for proxy in rig.proxies[behind.identity]:
                proxy.hold = hold
            await rig.h.karmada.set_demand(fleet.initial_replicas)
            await rig.until("the leader sent its first drain write", arrived.is_set, 90)
            assert behind.proc is not None
            os.kill(behind.proc.pid, signal.SIGSTOP)
            try:
                await rig.until(
                    "the other daemon took over", lambda: ahead.metric("burstd_leader") == 1.0, 30
                )
                await rig.until(
                    "the new leader wrote",
                    lambda: any(
                        s.landed and is_action(s) and identity(s) == ahead.identity for s in rig.journal.seen
                    ),
                    60,
                )
                for proxy in rig.proxies[behind.identity]:
                    proxy.hold = None
                    proxy.release()  # the paused leader's write reaches the apiserver late
                await rig.until("the late write was answered", lambda: held[0].status is not None, 10)
            finally:
                os.kill(behind.proc.pid, signal.SIGCONT)
            late = held[0]
            await rig.until("the old leader knows it lost", lambda: behind.metric("burstd_leader") == 0.0, 30)
            await rig.until("back at base with no cloud node", rig.back_at_base, 120)
            bad = split_brain(rig.journal)
            figures.add(
                faults_injected=2,
                lease_terms_observed=len({t.transitions for t in terms(rig.journal)}),
                writes_checked_against_lease=sum(1 for s in rig.journal.seen if s.landed and not is_lease(s)),
                split_brain_writes=len(bad),
                late_writes_refused=0 if late.landed else 1,
            )
            assert bad == [], bad
            assert not late.landed, (late.method, late.path, late.status)
            assert late.status == 409, late.status
            assert await rig.h.machines() == []
            rig.assert_invariants()
            for d in (behind, ahead):
                no_traceback(d)

    asyncio.run(main())
