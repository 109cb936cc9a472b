"""Karmada refreshes a Cluster's resource summary every ``statusRefresh`` (10 s), so right after burstd
writes weights the scheduler's placement has moved while the summary still counts the replicas where they
were. The daemon evaluates more often than that; here the simulator's burstd run is forced onto a 5 s tick
to see those rounds. In none of them may the burst grow for a demand that did not change (it did: 37 -> 82
cloud replicas on the bundled trace, when the engine read the old summary against the new placement)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from burstd.engine import decide
from burstd.model.decision import Decision
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy
from burstd.sim.files import load_fleet, load_policy, load_trace
from burstd.sim.runner import BurstdRun
from burstd.sim.scenario import build_scenario
from burstd.sim.trace import slice_trace

DAY = 86400.0


@dataclass
class LagWatch:
    """A decider that notes the rounds whose base summary is older than burstd's last move."""

    stale_rounds: int = 0
    grew: int = 0  # stale rounds in which the target grew at an unchanged demand
    blind_grew: int = 0  # the same rounds, decided without the placement the summaries count

    def __call__(self, world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
        decision = decide(world, policy, state, now)
        moved = state.last_shift_at
        base = [world.clusters[c] for c in policy.spec.base.clusters]
        changed = [c.changed_at for c in base]
        if moved is not None and all(t is not None and t < moved for t in changed):
            unchanged = world.workloads[0].desired_replicas == state.history.last
            if unchanged:
                self.stale_rounds += 1
                if decision.state.target_cloud_replicas > state.target_cloud_replicas:
                    self.grew += 1
                blind = decide(world, policy, replace(state, replicas_in_summaries={}), now)
                if blind.state.target_cloud_replicas > state.target_cloud_replicas:
                    self.blind_grew += 1
        return decision


def test_no_growth_on_a_summary_that_predates_burstds_own_weight_write() -> None:
    scenario = build_scenario(load_policy(None), load_fleet(None), slice_trace(load_trace(None), 2 * DAY))
    watch = LagWatch()
    result = BurstdRun(scenario, watch, tick=5.0).run()
    assert result.weight_writes > 10
    assert watch.stale_rounds > 10, watch
    assert watch.grew == 0, watch
    assert watch.blind_grew > 0, watch  # the control: the defect shows in these very rounds
