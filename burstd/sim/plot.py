"""``--plot FILE.png``: one panel per run, on the same scales: served and unserved demand (stacked, so their
top is the demand), base capacity, Ready capacity, and the cloud nodes (billed instances) on a second axis."""

from __future__ import annotations

from typing import Any

from burstd.sim.simulate import RUNS, Comparison

_UNSERVED = "#d62728"
_CAPACITY = "#1f77b4"
_SERVED = "#a8d5a2"
_NODES = "#ff7f0e"


def plot(comparison: Comparison, path: str) -> None:
    """Write the figure to ``path`` (PNG). Raises OSError/ValueError if it cannot be written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = comparison.scenario
    unit, div = ("days", 86400.0) if s.end > 2 * 86400 else ("hours", 3600.0)
    runs = [comparison.runs[name] for name in RUNS]
    top = max(max(max(r.series.capacity, default=0), max(r.series.demand, default=0)) for r in runs)
    top_nodes = max(max(r.series.nodes, default=0) for r in runs)
    fig, axes = plt.subplots(len(runs), 1, figsize=(14, 3.3 * len(runs)), sharex=True, squeeze=False)
    handles: list[Any] = []
    for ax, r in zip(axes[:, 0], runs, strict=True):
        t = [x / div for x in r.series.t] + [s.end / div]
        demand = [*r.series.demand, r.series.demand[-1]]
        served = [*r.series.served, r.series.served[-1]]
        capacity = [*r.series.capacity, r.series.capacity[-1]]
        nodes = [*r.series.nodes, r.series.nodes[-1]]
        h_served = ax.fill_between(t, served, step="post", color=_SERVED, lw=0, label="served")
        h_unserved = ax.fill_between(t, served, demand, step="post", color=_UNSERVED, lw=0, label="unserved")
        # a strip along the bottom marks every shortfall, however short, at the scale of days
        spans = _shortfalls(t, demand, served, min_width=t[-1] / 600)
        ax.broken_barh(spans, (0, 0.035), transform=ax.get_xaxis_transform(), color=_UNSERVED, lw=0)
        (h_capacity,) = ax.step(t, capacity, where="post", color=_CAPACITY, lw=0.9, label="Ready capacity")
        h_base = ax.axhline(s.base_replicas, color="#444444", ls="--", lw=0.9, label="base capacity")
        ax.set_ylim(0, top * 1.08 + 1)
        ax.set_ylabel("replicas")
        ax.grid(alpha=0.25)
        ratio = r.unserved_ratio
        share = "" if ratio is None else f" ({ratio * 100:.2f}% of demand above base)"
        ax.set_title(
            f"{r.name}: cost {r.cost:,.2f} {r.currency}, {r.node_hours:,.0f} node-hours, unserved "
            f"{r.unserved_replica_seconds:,.0f} replica-s{share}, {r.actions} actions, peak {r.peak_cloud_nodes} "
            "nodes",
            loc="left",
            fontsize=10,
        )
        twin = ax.twinx()
        (h_nodes,) = twin.step(t, nodes, where="post", color=_NODES, lw=0.8, label="cloud nodes (billed)")
        twin.set_ylim(0, top_nodes * 1.08 + 1)
        twin.set_ylabel("cloud nodes", color=_NODES)
        twin.tick_params(axis="y", colors=_NODES)
        handles = [h_served, h_unserved, h_capacity, h_base, h_nodes]
    axes[-1, 0].set_xlabel(f"{unit} since the trace start")
    axes[-1, 0].set_xlim(0, s.end / div)
    fig.suptitle(f"burstd simulate: {comparison.headline()}", fontsize=11, y=0.995)
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=len(handles),
        fontsize=9,
        frameon=False,
        bbox_to_anchor=(0.5, 0.975),
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _shortfalls(
    t: list[float], demand: list[int], served: list[int], min_width: float
) -> list[tuple[float, float]]:
    """(start, width) of each interval where demand exceeds served, widened to at least ``min_width``."""
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for i in range(len(t) - 1):
        short = demand[i] > served[i]
        if short and start is None:
            start = t[i]
        elif not short and start is not None:
            spans.append((start, max(t[i] - start, min_width)))
            start = None
    if start is not None:
        spans.append((start, max(t[-1] - start, min_width)))
    return spans
