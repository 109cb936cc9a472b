"""The cost report: cost per burst, per pool and per policy from the persisted ledgers (burst states).

Pure: the states and the time in, the report out (``build_report``), rendered as JSON or a table.

Amounts are the ledger's unrounded float sums (see burstd.engine.ledger); the report rounds each amount it
prints to the cent (half up) once, at the end: a row's cost is its own sum rounded, so rounded rows may
add up to a cent more or less than the rounded total of their column.

Without a window, the pool rows are the ledger's running per-pool totals and the policy rows its running
totals (equal to ``burstd_cloud_cost_total`` and ``burstd_cloud_node_seconds_total``; they also hold what
a state saved before per-pool costs accounted, which no pool row shows, and nodes billed while Idle, which
no burst shows). With a window (``--since``), only bursts that overlap it are listed, each counted whole
(a burst that straddles the window's start is counted with its whole cost, as the ledger keeps a burst's
total, not its cost over time), and the pool and policy rows are the sums of those bursts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from burstd.engine.ledger import cost_by_currency
from burstd.model.quantities import format_duration
from burstd.model.state import BurstRecord, BurstState, PoolCost

__all__ = ["build_report", "cents", "render_json", "render_table", "timestamp"]

CENT = Decimal("0.01")
#: the currency shown for costs with none recorded (accounted by a state saved before per-pool costs)
NO_CURRENCY = "-"


def cents(amount: float) -> Decimal:
    """``amount`` rounded to the cent, half up (from its shortest decimal form, so 0.125 gives 0.13)."""
    return Decimal(repr(amount)).quantize(CENT, rounding=ROUND_HALF_UP)


def timestamp(seconds: float) -> str:
    """RFC 3339 UTC, to the second (``2026-11-30T04:16:09Z``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(node_seconds: float) -> float:
    return round(node_seconds / 3600.0, 4)


def _money(amount: float) -> float:
    return float(cents(amount))


def _pool_rows(pools: Mapping[str, PoolCost]) -> list[dict[str, Any]]:
    return [
        {
            "pool": name,
            "currency": c.currency or NO_CURRENCY,
            "nodeSeconds": round(c.node_seconds, 3),
            "nodeHours": _hours(c.node_seconds),
            "cost": _money(c.cost),
            "unpricedNodeHours": _hours(c.unpriced_seconds),
        }
        for name, c in sorted(pools.items())
    ]


def _by_currency(costs: Iterable[PoolCost]) -> dict[str, tuple[float, float]]:
    """currency -> (node-seconds, cost)."""
    out: dict[str, tuple[float, float]] = {}
    for c in costs:
        secs, cost = out.get(c.currency or NO_CURRENCY, (0.0, 0.0))
        out[c.currency or NO_CURRENCY] = (secs + c.node_seconds, cost + c.cost)
    return out


def _burst_row(policy: str, burst: BurstRecord, accounted_until: float) -> dict[str, Any]:
    """A burst in progress is accounted (and lasts, here) until the last evaluation."""
    end = burst.end if burst.end is not None else max(burst.start, accounted_until)
    return {
        "policy": policy,
        "id": timestamp(burst.start),
        "start": timestamp(burst.start),
        "end": None if burst.end is None else timestamp(burst.end),
        "open": burst.end is None,
        "durationSeconds": round(end - burst.start, 3),
        "pools": _pool_rows(burst.pools),
        "totals": [
            {"currency": cur, "nodeHours": _hours(secs), "cost": _money(cost)}
            for cur, (secs, cost) in sorted(_by_currency(burst.pools.values()).items())
        ],
    }


def _sum_pools(bursts: Iterable[BurstRecord]) -> dict[str, PoolCost]:
    out: dict[str, PoolCost] = {}
    for burst in bursts:
        for name, c in burst.pools.items():
            t = out.get(name, PoolCost(currency=c.currency))
            out[name] = PoolCost(
                t.node_seconds + c.node_seconds,
                t.cost + c.cost,
                t.currency or c.currency,
                t.unpriced_seconds + c.unpriced_seconds,
            )
    return out


def build_report(states: Mapping[str, BurstState], now: float, since: float | None = None) -> dict[str, Any]:
    """The report (JSON-ready) of the policies' ``states`` at ``now``; ``since`` seconds: the window."""
    start = None if since is None else now - since
    bursts: list[dict[str, Any]] = []
    pools: list[dict[str, Any]] = []
    policies: list[dict[str, Any]] = []
    totals: dict[str, tuple[float, float]] = {}
    for policy, state in sorted(states.items()):
        ledger = state.ledger
        records = [*ledger.bursts, *([ledger.burst] if ledger.burst is not None else [])]
        if start is not None:
            records = [b for b in records if (b.end is None or b.end >= start) and b.start <= now]
        until = ledger.accounted_until if ledger.accounted_until is not None else now
        bursts += [_burst_row(policy, b, until) for b in records]
        if start is None:
            per_pool = dict(ledger.pools)
            currencies = {c.currency for c in per_pool.values() if c.currency}
            default = next(iter(currencies)) if len(currencies) == 1 else NO_CURRENCY
            costs = cost_by_currency(per_pool.values(), ledger.cost, default)
            secs_by = {cur: s for cur, (s, _) in _by_currency(per_pool.values()).items()}
            if len(costs) == 1:  # one currency: all node-seconds, also those from before per-pool costs
                secs_by = {next(iter(costs)): sum(ledger.node_seconds.values())}
            rows = {cur: (secs_by.get(cur, 0.0), cost) for cur, cost in costs.items()}
        else:
            per_pool = _sum_pools(records)
            rows = _by_currency(per_pool.values())
        pools += [{"policy": policy, **row} for row in _pool_rows(per_pool)]
        for cur, (secs, cost) in sorted(rows.items()):
            policies.append(
                {"policy": policy, "currency": cur, "nodeHours": _hours(secs), "cost": _money(cost)}
            )
            t_secs, t_cost = totals.get(cur, (0.0, 0.0))
            totals[cur] = (t_secs + secs, t_cost + cost)
    return {
        "generatedAt": timestamp(now),
        "since": None if since is None else format_duration(since),
        "windowStart": None if start is None else timestamp(start),
        "bursts": sorted(bursts, key=lambda b: (b["start"], b["policy"])),
        "pools": pools,
        "policies": policies,
        "totals": [
            {"currency": cur, "nodeHours": _hours(secs), "cost": _money(cost)}
            for cur, (secs, cost) in sorted(totals.items())
        ],
    }


def render_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2) + "\n"


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _amount(value: float) -> str:
    return f"{Decimal(repr(value)).quantize(CENT)}"


def render_table(report: Mapping[str, Any]) -> str:
    """Four tables: bursts, pools, policies, totals (amounts to the cent, node-hours to 0.01)."""
    window = f" since {report['windowStart']} ({report['since']})" if report["since"] else ""
    out = [f"burstd cost report at {report['generatedAt']}{window}", ""]
    burst_rows = [
        [
            b["policy"],
            b["id"],
            b["end"] or "(in progress)",
            format_duration(round(b["durationSeconds"])),
            ",".join(p["pool"] for p in b["pools"]) or "-",
            f"{t['nodeHours']:.2f}",
            _amount(t["cost"]),
            t["currency"],
        ]
        for b in report["bursts"]
        for t in (b["totals"] or [{"nodeHours": 0.0, "cost": 0.0, "currency": NO_CURRENCY}])
    ]
    out += ["BURSTS"]
    out += _table(
        ["POLICY", "BURST (START)", "END", "DURATION", "POOLS", "NODE-HOURS", "COST", "CURRENCY"],
        burst_rows,
        {5, 6},
    )
    pool_rows = [
        [
            p["policy"],
            p["pool"],
            f"{p['nodeHours']:.2f}",
            _amount(p["cost"]),
            p["currency"],
            f"{p['unpricedNodeHours']:.2f}",
        ]
        for p in report["pools"]
    ]
    out += ["", "POOLS"]
    out += _table(
        ["POLICY", "POOL", "NODE-HOURS", "COST", "CURRENCY", "UNPRICED-NODE-HOURS"], pool_rows, {2, 3, 5}
    )
    policy_rows = [
        [p["policy"], f"{p['nodeHours']:.2f}", _amount(p["cost"]), p["currency"]] for p in report["policies"]
    ]
    out += ["", "POLICIES"]
    out += _table(["POLICY", "NODE-HOURS", "COST", "CURRENCY"], policy_rows, {1, 2})
    total_rows = [[t["currency"], f"{t['nodeHours']:.2f}", _amount(t["cost"])] for t in report["totals"]]
    out += ["", "TOTAL"]
    out += _table(["CURRENCY", "NODE-HOURS", "COST"], total_rows, {1, 2})
    if any(p["unpricedNodeHours"] > 0 for p in report["pools"]):
        out += [
            "",
            "warning: some node-hours had no price (a provider pool with no quote): they are in no cost",
        ]
    return "\n".join(out) + "\n"
