"""Printing a comparison: an aligned table for people, one JSON object for programs."""

from __future__ import annotations

import json

from burstd.model.quantities import format_duration
from burstd.sim.simulate import RUNS, Comparison

_COLUMNS = (
    ("run", "<"),
    ("cost", ">"),
    ("node-h", ">"),
    ("unserved r·s", ">"),
    ("unserved", ">"),
    ("actions", ">"),
    ("moves", ">"),
    ("moves/burst", ">"),
    ("weight writes/burst", ">"),
    ("peak nodes", ">"),
    ("bursts", ">"),
)


def to_json(comparison: Comparison) -> str:
    return json.dumps(comparison.as_dict(), sort_keys=False, allow_nan=False)


def to_table(comparison: Comparison) -> str:
    s = comparison.scenario
    trace = s.trace
    filled = f", {trace.filled} filled" if trace.filled else ""
    lines = [
        f"burstd simulate: {comparison.headline()}",
        f"{trace.rows} samples every {format_duration(trace.step)}{filled}, {trace.duration / 86400:.2f} days; "
        f"policy {s.policy.name} ({s.mode}); demand above base "
        f"{comparison.runs['oracle'].demand_above_base_replica_seconds:,.0f} replica-seconds; cost in {s.currency}",
        "",
    ]
    rows = [[h for h, _ in _COLUMNS]]
    for name in RUNS:
        r = comparison.runs[name]
        ratio = r.unserved_ratio
        rows.append(
            [
                name,
                f"{r.cost:,.2f}",
                f"{r.node_hours:,.1f}",
                f"{r.unserved_replica_seconds:,.0f}",
                "-" if ratio is None else f"{ratio * 100:.2f}%",
                str(r.actions),
                str(r.replica_moves),
                f"{r.replica_moves_per_burst:,.1f}",
                f"{r.weight_writes_per_burst:,.1f}",
                str(r.peak_cloud_nodes),
                str(r.bursts),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    for row in rows:
        cells = [
            cell.ljust(w) if align == "<" else cell.rjust(w)
            for cell, w, (_, align) in zip(row, widths, _COLUMNS, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    ratios = comparison.as_dict()["ratios"]
    unserved, cost = ratios["unserved_burstd_vs_reactive"], ratios["cost_burstd_vs_oracle"]
    lines.append("")
    lines.append(
        "burstd vs reactive, unserved: "
        + ("-" if unserved is None else f"{unserved:.2f}x")
        + "; burstd vs oracle, cost: "
        + ("-" if cost is None else f"{cost:.2f}x")
    )
    return "\n".join(lines)
