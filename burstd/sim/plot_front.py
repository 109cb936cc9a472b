"""``burstd tune --plot``: the cost-vs-unserved fronts of both families, with the oracle, the given policy
and the chosen point marked.

x: cost over the oracle's; y: unserved demand over the plain reactive baseline's (both on the searched
span). Each front is drawn as a step line (what the family can reach: at a given cost, the least unserved
demand of any front point at most as costly); every evaluated point is shown faintly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from burstd.sim import plot_style as style
from burstd.sim.front import Baselines, Point, pareto
from burstd.sim.plot_data import trace_label
from burstd.sim.tune import TuneResult


def _xy(points: Sequence[Point], base: Baselines) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for p in points:
        c, u = base.cost_ratio(p.figures), base.unserved_ratio(p.figures)
        if c is not None and u is not None:
            xs.append(c)
            ys.append(u)
    return xs, ys


def plot_front(result: TuneResult, path: str) -> None:
    """Write the figure to ``path`` (PNG). Raises OSError/ValueError if it cannot be written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = build_front_figure(result)
    try:
        fig.savefig(path, dpi=style.DPI)
    finally:
        plt.close(fig)


def build_front_figure(result: TuneResult) -> Any:
    """The figure (a matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    span = result.search
    base = span.baselines
    fig, ax = plt.subplots(figsize=(9, 6))
    families = (
        ("burstd", span.burstd, result.capped_front() or pareto(span.burstd)),
        ("reactive", span.reactive, span.reactive_front),
    )
    for name, points, front in families:
        colour = style.RUN_COLOURS[name]
        marker = style.RUN_MARKERS[name]
        xs, ys = _xy(points, base)
        ax.scatter(xs, ys, s=14, color=colour, alpha=0.25, marker=marker, lw=0)
        fx, fy = _xy(front, base)
        if fx:
            label = (
                "burstd front (policy parameters)" if name == "burstd" else "reactive + spare capacity front"
            )
            ax.step(fx, fy, where="post", color=colour, lw=1.6, label=label)
            ax.scatter(fx, fy, s=30, color=colour, marker=marker, zorder=3)
    ax.scatter(
        [1.0],
        [0.0],
        s=90,
        color=style.RUN_COLOURS["oracle"],
        marker=style.RUN_MARKERS["oracle"],
        zorder=4,
        label="oracle (cost 1x, nothing unserved)",
    )
    px, py = _xy([span.policy], base)
    ax.scatter(
        px, py, s=160, facecolors="none", edgecolors=style.BLACK, lw=1.6, zorder=5, label="the given policy"
    )
    if result.chosen is not None:
        cx, cy = _xy([result.chosen], base)
        ax.scatter(
            cx,
            cy,
            s=220,
            marker="*",
            color=style.ORANGE,
            edgecolors=style.BLACK,
            lw=0.8,
            zorder=6,
            label="chosen",
        )
    if result.objective is not None and result.objective.unit == "x":
        limit = result.objective.value
        if result.objective.kind == "max_unserved":
            ax.axhline(limit, color=style.GREY, ls=":", lw=1.0, label=f"objective: unserved ≤ {limit:g}x")
        else:
            ax.axvline(limit, color=style.GREY, ls=":", lw=1.0, label=f"objective: cost ≤ {limit:g}x")
    ax.set_xlabel("cost / oracle's cost", fontsize=style.LABEL_SIZE + 1)
    ax.set_ylabel("unserved demand / reactive baseline's", fontsize=style.LABEL_SIZE + 1)
    # the fronts, the policy and the choice set the scale; points far beyond them are left out of view
    shown = [*families[0][2], *families[1][2], span.policy, *([result.chosen] if result.chosen else [])]
    xs, ys = _xy(shown, base)
    if result.objective is not None and result.objective.kind == "max_cost":
        xs.append(result.objective.value)
    ax.set_xlim(0, max([1.0, *xs]) * 1.08)
    ax.set_ylim(0, max([1.0, *ys]) * 1.08)
    ax.grid(alpha=0.3)
    days = span.scenario.end / 86400
    where = "whole history" if span.name == "all" else f"first {days:.1f} days (searched)"
    ax.set_title(
        f"{trace_label(result.scenario.trace.name)}: cost vs unserved demand, {where}; "
        f"policy {result.scenario.policy.name}",
        fontsize=style.TITLE_SIZE,
    )
    ax.legend(fontsize=style.LABEL_SIZE, loc="upper right", frameon=False)
    fig.tight_layout()
    return fig
