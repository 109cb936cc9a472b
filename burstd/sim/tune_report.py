"""Printing ``burstd tune``'s result: an aligned table for people, one JSON object for programs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from burstd.model.quantities import format_duration
from burstd.sim.front import Baselines, Caps, Figures, Point, pareto, point_json
from burstd.sim.tunables import Value
from burstd.sim.tune import SpanResult, TuneResult, changes


def _span_json(span: SpanResult, caps: Caps, full: bool) -> dict[str, Any]:
    s = span.scenario
    b = span.baselines
    out: dict[str, Any] = {
        "name": span.name,
        "start_s": span.start_s,
        "duration_s": s.end,
        "oracle": _figures_json(b.oracle),
        "reactive": _figures_json(b.reactive),
        "policy": point_json(span.policy, b, caps),
    }
    if span.chosen is not None:
        out["chosen"] = point_json(span.chosen, b, caps)
    if full:
        bf, rf = span.burstd_front, span.reactive_front
        capped = [p for p in span.burstd if caps.met(p.figures)]
        cf = pareto(capped)
        out["fronts"] = {
            "burstd": [point_json(p, b, caps) for p in bf],
            "burstd_within_caps": [point_json(p, b, caps) for p in cf],
            "reactive": [point_json(p, b, caps) for p in rf],
        }
        out["points"] = {
            "burstd": [point_json(p, b, caps, bf) for p in sorted(span.burstd, key=lambda p: p.key)],
            "reactive": [point_json(p, b, caps, rf) for p in span.reactive],
        }
    return out


def _figures_json(f: Figures) -> dict[str, Any]:
    share = f.unserved_share
    return {
        "cost": round(f.cost, 2),
        "unserved_replica_seconds": round(f.unserved, 1),
        "unserved_ratio": None if share is None else round(share, 6),
        "demand_above_base_replica_seconds": round(f.above_base, 1),
        "replica_moves_per_burst": round(f.moves_per_burst, 3),
        "weight_writes_per_burst": round(f.weight_writes_per_burst, 3),
        "bursts": f.bursts,
    }


def _ratios(p: Point, b: Baselines) -> tuple[float | None, float | None]:
    return b.cost_ratio(p.figures), b.unserved_ratio(p.figures)


def out_of_sample(result: TuneResult) -> dict[str, Any] | None:
    """In-sample and out-of-sample ratios of the chosen point, and out minus in."""
    out = result.out_of_sample
    if out is None or out.chosen is None or result.chosen is None:
        return None
    c_in, u_in = _ratios(result.chosen, result.search.baselines)
    c_out, u_out = _ratios(out.chosen, out.baselines)

    def entry(a: float | None, b: float | None) -> dict[str, float | None]:
        delta = None if a is None or b is None else round(b - a, 4)
        return {
            "in_sample": None if a is None else round(a, 4),
            "out_of_sample": None if b is None else round(b, 4),
            "delta": delta,
        }

    met = result.objective.met(out.chosen.figures, out.baselines) if result.objective else None
    return {
        "cost_vs_oracle": entry(c_in, c_out),
        "unserved_vs_reactive": entry(u_in, u_out),
        "objective_met_out_of_sample": met,
        "within_caps_out_of_sample": result.caps.met(out.chosen.figures),
    }


def to_dict(result: TuneResult) -> dict[str, Any]:
    s = result.scenario
    trace = s.trace
    objective = result.objective
    caps = result.caps
    return {
        "trace": {
            "name": trace.name,
            "rows": trace.rows,
            "step_s": trace.step,
            "duration_s": trace.duration,
        },
        "settings": {
            "policy": s.policy.name,
            "peak_replicas": s.peak_replicas,
            "base_replicas": s.base_replicas,
            "provision_delay_s": {p.name: p.provision_delay for p in s.pools},
            "seed": s.seed,
            "objective": None
            if objective is None
            else {"kind": objective.kind, "value": objective.value, "unit": objective.unit},
            "caps": {
                "replica_moves_per_burst": caps.moves_per_burst,
                "weight_writes_per_burst": caps.weight_writes_per_burst,
            },
            "holdout": result.holdout,
        },
        "tunables": [
            {"path": t.path, "label": t.label, "values": list(t.values), "policy_value": v}
            for t, (_, v) in zip(result.tunables, result.search.policy.params, strict=True)
        ],
        "notes": result.notes,
        "evaluations": result.evaluations,
        "skipped_invalid": result.skipped,
        "search": _span_json(result.search, caps, full=True),
        "met": result.met,
        "chosen": None
        if result.chosen is None
        else {
            **point_json(result.chosen, result.search.baselines, caps),
            "changes": dict(changes(result.chosen, result.search.policy)),
        },
        "closest": [point_json(p, result.search.baselines, caps) for p in result.closest],
        "holdout": None
        if result.out_of_sample is None
        else _span_json(result.out_of_sample, caps, full=False),
        "out_of_sample": out_of_sample(result),
    }


def to_json(result: TuneResult) -> str:
    return json.dumps(to_dict(result), allow_nan=False)


# ------------------------------------------------------------------------------------------ table


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _labels(result: TuneResult) -> dict[str, str]:
    return {t.path: t.label for t in result.tunables}


def _params_text(p: Point, result: TuneResult) -> str:
    if p.family == "reactive":
        spare = int(dict(p.params).get("spare_replicas", 0))
        per_node = min(q.replicas_per_node for q in result.scenario.pools)
        nodes = spare // per_node
        return f"spare {spare} replicas ({nodes} node{'' if nodes == 1 else 's'})"
    diff = changes(p, result.search.policy)
    if not diff:
        return "(the policy as written)"
    labels = _labels(result)
    return ", ".join(f"{labels.get(k, k)} {_value(v)}" for k, v in diff)


def _value(v: Value) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _rows(
    points: Sequence[Point], base: Baselines, result: TuneResult, marks: dict[int, str] | None = None
) -> list[list[str]]:
    rows = []
    for p in points:
        c, u = _ratios(p, base)
        mark = (marks or {}).get(id(p), "")
        rows.append(
            [
                mark,
                _x(c),
                _x(u),
                f"{p.figures.moves_per_burst:,.1f}",
                f"{p.figures.weight_writes_per_burst:,.1f}",
                _params_text(p, result),
            ]
        )
    return rows


_HEAD = ["", "cost/oracle", "unserved/reactive", "moves/burst", "writes/burst", "parameters"]


def _table(rows: list[list[str]]) -> list[str]:
    rows = [_HEAD, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(r[1:5], widths[1:5], strict=True)]
        cells.append(r[5])
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _dedupe(front: Sequence[Point], policy: Point) -> list[Point]:
    """One point per (cost, unserved): the one with the fewest changes from the policy."""
    best: dict[tuple[float, float], Point] = {}
    for p in front:
        q = best.get(p.key)
        if q is None or len(changes(p, policy)) < len(changes(q, policy)):
            best[p.key] = p
    return sorted(best.values(), key=lambda p: p.key)


def to_table(result: TuneResult) -> str:
    s = result.scenario
    span = result.search
    base = span.baselines
    delays = sorted({p.provision_delay for p in s.pools})
    spec = f" ({s.base_spec})" if isinstance(s.base_spec, str) else ""
    lines = [
        f"burstd tune: trace {s.trace.name}, peak {s.peak_replicas} replicas, base {s.base_replicas} "
        f"replicas{spec}, provisioning delay {'/'.join(format_duration(d) for d in delays)}, seed {s.seed}",
    ]
    objective = result.objective
    caps = []
    if result.caps.moves_per_burst is not None:
        caps.append(f"at most {result.caps.moves_per_burst:g} replica moves per burst")
    if result.caps.weight_writes_per_burst is not None:
        caps.append(f"at most {result.caps.weight_writes_per_burst:g} weight writes per burst")
    lines.append(
        f"policy {s.policy.name}; objective: {objective.describe() if objective else 'none (fronts only)'}"
        + (f"; caps: {', '.join(caps)}" if caps else "")
    )
    days = span.scenario.end / 86400
    if span.name == "tune" and result.out_of_sample is not None:
        later = result.out_of_sample.scenario.end / 86400
        lines.append(
            f"searched on the first {days:.2f} days, checked on the last {later:.2f} days "
            f"({result.holdout * 100:g}% held out)"
        )
    else:
        lines.append(f"searched on the whole history, {days:.2f} days")
    lines.append(
        f"{result.evaluations} simulations; {result.skipped} variants skipped (invalid policies); ratios "
        "against the oracle's cost and the reactive baseline's unserved demand on the same days"
    )
    for note in result.notes:
        lines.append(f"note: {note}")
    lines.append("")
    lines.append("tunables (the policy's value in brackets):")
    policy_values = dict(span.policy.params)
    for t in result.tunables:
        values = ", ".join(
            f"[{_value(v)}]" if v == policy_values.get(t.path) else _value(v) for v in t.values
        )
        lines.append(f"  {t.label:<12} {t.path}: {values}")
    marks = {id(span.policy): "policy"}
    if result.chosen is not None:
        marks[id(result.chosen)] = "chosen" if result.chosen is not span.policy else "policy, chosen"
    capped = result.capped_front()
    front = _dedupe(capped, span.policy)
    for p in (span.policy, result.chosen):
        if p is not None and p not in front:
            front = sorted([*front, p], key=lambda q: q.key)
    lines.append("")
    title = "burstd front" + (" within the caps" if caps else "")
    lines.append(
        f"{title}: {len(capped)} of the {len(span.burstd)} points (equal points shown once; the policy and "
        "the choice always shown):"
    )
    lines.extend(_table(_rows(front, base, result, marks)))
    lines.append("")
    lines.append("reactive family front (Cluster-Autoscaler-like baseline with overprovisioning pause pods):")
    lines.extend(_table(_rows(span.reactive_front, base, result)))
    if objective is not None and result.chosen is None:
        lines.append("")
        lines.append(f"no point meets the objective ({objective.describe()}) within the caps; the closest:")
        lines.extend(_table(_rows(result.closest, base, result)))
    oos = out_of_sample(result)
    if oos is not None and result.out_of_sample is not None and result.chosen is not None:
        out = result.out_of_sample
        lines.append("")
        lines.append("out of sample (the held-out days):")
        rows = _rows([result.chosen], base, result, {id(result.chosen): "chosen, searched days"})
        rows += _rows(
            [out.chosen] if out.chosen else [],
            out.baselines,
            result,
            {id(out.chosen): "chosen, held-out days"},
        )
        rows += _rows([out.policy], out.baselines, result, {id(out.policy): "policy, held-out days"})
        lines.extend(_table(rows))
        cost, unserved = oos["cost_vs_oracle"]["delta"], oos["unserved_vs_reactive"]["delta"]
        met = oos["objective_met_out_of_sample"]
        lines.append(
            "  out of sample minus in sample: cost/oracle "
            + ("-" if cost is None else f"{cost:+.2f}")
            + ", unserved/reactive "
            + ("-" if unserved is None else f"{unserved:+.2f}")
            + f"; objective {'met' if met else 'NOT met'} on the held-out days"
        )
    return "\n".join(lines)
