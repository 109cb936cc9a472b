"""Pool health: stock-outs, failed launches and provisioning timeouts put a pool in backoff, and the
launches a pool in backoff still waits for are cancelled."""

from __future__ import annotations

from dataclasses import dataclass

from burstd.engine.plan import Plan
from burstd.engine.stages.guards import Observed
from burstd.model.world import World


@dataclass(frozen=True, slots=True)
class Health:
    previous: dict[str, int]  # nodes each pool holds now (observed; launches in backoff cancelled)
    backoff: dict[str, float]  # the next state's backoff: pool -> until when it is skipped
    clocks: dict[str, float]  # provisioning clocks still running: pool -> since when it waits


def check_pools(world: World, seen: Observed, plan: Plan, now: float) -> Health:
    spec = seen.policy.spec
    pools = spec.burst.pools
    state = seen.state
    # What each pool holds now is what it is observed to hold (spec.replicas), never what the state last
    # recorded: a crash between an action and the state save, or a state from an older save, must not
    # make burstd forget nodes (or ask for them twice).
    previous = {p.name: world.pools[p.name].desired for p in pools}
    backoff = {k: v for k, v in state.backoff_until.items() if v > now}
    waiting = [p.name for p in pools if previous[p.name] > world.pools[p.name].ready]
    # A provisioning clock times the request the state recorded while the pool waits for it; a pool that
    # waits for nothing, or now asks for another count (a request the state never saw: a crash before the
    # save, a state from an older save), starts anew.
    clocks = {
        p: since
        for p, since in state.provisioning_since.items()
        if p in waiting and state.pool_targets.get(p) == world.pools[p].desired
    }
    for name in waiting:
        pool = world.pools[name]
        why = None
        if pool.stock_out:
            why = "out of stock"
        elif pool.failed > 0:
            why = f"{pool.failed} node launch(es) failed"
        elif name in clocks and now - clocks[name] >= spec.burst.provision_timeout:
            why = f"nodes not Ready within provisionTimeout ({spec.burst.provision_timeout:g}s)"
        if why and name not in backoff:
            backoff[name] = now + spec.safety.stockout_backoff
            plan.reasons.append(f"pool {name}: {why}; skipped for {spec.safety.stockout_backoff:g}s")
    for p in pools:
        if world.pools[p.name].stock_out and p.name not in backoff:
            backoff[p.name] = now + spec.safety.stockout_backoff
    for p in pools:
        if p.name in backoff:
            # Cancel launches that will not come; keep what is Ready.
            previous[p.name] = max(p.nodes.min, min(previous[p.name], world.pools[p.name].ready))
            plan.wake(backoff[p.name], now)
    return Health(previous, backoff, clocks)
