"""``--plot FILE.png``: the three runs on the whole trace, each with its shortfall strip, and the worst burst
zoomed in, the runs side by side on the same window.

Long traces are drawn per pixel column: each line keeps, in every column, its first, last, lowest and highest
change point (a min/max envelope), which rasterises like the full line. Unserved demand is never widened: the
strip draws, per column, a bar as wide as the time the run left demand unserved in that column (so the bars'
total width is the true unserved time) and as high as the most replicas short; a stretch of shortfall
narrower than one column gets a hollow marker as well, so a short moment stays visible without looking
longer. The zoomed panels draw every change point.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from burstd.sim import plot_style as st
from burstd.sim.metrics import RunResult
from burstd.sim.plot_data import (
    Burst,
    Floats,
    PlotSpec,
    Shortfall,
    cumulative,
    envelope,
    run_arrays,
    shortfall,
    slice_steps,
    spec_of,
    trace_label,
    worst_burst,
    zoom_window,
)
from burstd.sim.simulate import Comparison

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: figure geometry: the full-trace panels span the figure between these margins (fractions of its width)
_LEFT = 0.055
_RIGHT = 0.945


def plot(comparison: Comparison, path: str) -> None:
    """Write the figure to ``path`` (PNG). Raises OSError/ValueError if it cannot be written."""
    build_figure(spec_of(comparison)).savefig(path, dpi=st.DPI, format="png")


def build_figure(spec: PlotSpec, width: float = 14.0, dpi: float = st.DPI) -> Figure:
    """The figure (not yet saved; no pyplot, no GUI backend). Artists carry gids naming what they draw, e.g.
    ``unserved:burstd``."""
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec

    runs = spec.runs
    n = len(runs)
    height = width * (0.26 * n + 0.32)
    fig = Figure(figsize=(width, height), dpi=dpi)
    outer = GridSpec(
        n + 2,
        1,
        figure=fig,
        height_ratios=[*([3.4] * n), 0.35, 3.2],
        left=_LEFT,
        right=_RIGHT,
        top=1 - 1.0 / height,
        bottom=0.5 / height,
        hspace=0.18,
    )
    columns = max(1, round(width * dpi * (_RIGHT - _LEFT)))
    edges = np.linspace(0.0, spec.end, columns + 1)
    column_seconds = spec.end / columns
    unit, div = ("days", 86400.0) if spec.end > 2 * 86400 else ("hours", 3600.0)
    burst = worst_burst(spec)
    w0, w1 = zoom_window(spec, burst)

    data = [run_arrays(r, spec.end) for r in runs]
    shorts = [shortfall(t, d, s, edges) for t, d, s, _, _ in data]
    top = max(max(float(d.max(initial=0)), float(c.max(initial=0))) for _, d, _, c, _ in data)
    top_nodes = max(float(nd.max(initial=0)) for *_, nd in data)
    top_short = max(float(sf.most.max(initial=0)) for sf in shorts)
    handles: dict[str, Any] = {}

    first_main: Axes | None = None
    strip: Axes | None = None
    for k, (r, arrays, sf) in enumerate(zip(runs, data, shorts, strict=True)):
        inner = outer[k].subgridspec(2, 1, height_ratios=[2.6, 0.8], hspace=0.0)
        ax = fig.add_subplot(inner[0], sharex=first_main)
        first_main = first_main or ax
        strip = fig.add_subplot(inner[1], sharex=first_main)
        _draw_run(ax, r, arrays, edges, div, spec.base_replicas, (top, top_nodes), handles)
        _draw_shortfall(strip, sf, div, r.name, handles)
        strip.set_ylim(0, top_short * 1.25 + 1)
        strip.tick_params(labelbottom=k == n - 1)
        strip.text(
            0.995,
            0.93,
            _shortfall_summary(sf, spec.end),
            transform=strip.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5},
            zorder=5,
        )
        for axes in (ax, strip):
            handles["zoom"] = axes.axvspan(w0 / div, w1 / div, color=st.ZOOM_BAND, alpha=0.35, lw=0)
    assert first_main is not None
    assert strip is not None
    first_main.set_xlim(0, spec.end / div)
    origin = datetime.fromtimestamp(spec.epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    strip.set_xlabel(f"{unit} since the trace start ({origin})", fontsize=st.LABEL_SIZE)

    _draw_zoom(
        fig,
        outer[n + 1].subgridspec(1, n, wspace=0.1),
        spec,
        data,
        (w0, w1),
        burst,
        max(1, columns // n),
        handles,
    )

    name = trace_label(spec.trace_name)
    fig.suptitle(
        f"burstd simulate: {name} — {spec.settings}", fontsize=st.TITLE_SIZE + 1, y=1 - 0.12 / height
    )
    order = [
        (handles.get("demand"), "demand"),
        (handles.get("capacity"), "Ready capacity (base + Ready cloud nodes)"),
        (handles.get("base"), "base capacity"),
        (handles.get("nodes"), "cloud nodes, billed (right axis)"),
        (handles.get("served"), "served (zoom)"),
        (handles.get("unserved-zoom"), "unserved (zoom)"),
        (handles.get("unserved"), "unserved: bar width = time unserved, height = most replicas at once"),
        (
            handles.get("thin"),
            f"unserved for less than a pixel column ({_duration(column_seconds)}; zoomed: "
            f"{_duration((w1 - w0) / max(1, columns // n))}): a marker, not to scale",
        ),
        (handles.get("zoom"), "zoomed window"),
    ]
    shown = [(h, label) for h, label in order if h is not None]
    fig.legend(
        [h for h, _ in shown],
        [label for _, label in shown],
        loc="upper center",
        ncol=5,
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, 1 - 0.32 / height),
    )
    return fig


def _draw_run(
    ax: Axes,
    r: RunResult,
    arrays: tuple[Floats, Floats, Floats, Floats, Floats],
    edges: Floats,
    div: float,
    base: int,
    tops: tuple[float, float],
    handles: dict[str, Any],
) -> None:
    """A run on the whole trace: demand, Ready capacity, base capacity; cloud nodes on a right axis."""
    t, demand, _, capacity, nodes = arrays
    twin = ax.twinx()
    ax.set_zorder(twin.get_zorder() + 1)  # the replicas above the nodes
    ax.patch.set_visible(False)
    c, ls, lw = st.CLOUD_NODES
    x, y = envelope(t, nodes, edges)
    (handles["nodes"],) = twin.step(
        x / div, y, where="post", color=c, ls=ls, lw=lw * 0.7, gid=f"nodes:{r.name}"
    )
    c, ls, lw = st.DEMAND
    x, y = envelope(t, demand, edges)
    (handles["demand"],) = ax.step(
        x / div, y, where="post", color=c, ls=ls, lw=lw * 0.5, gid=f"demand:{r.name}"
    )
    c, ls, lw = st.READY_CAPACITY
    x, y = envelope(t, capacity, edges)
    (handles["capacity"],) = ax.step(
        x / div, y, where="post", color=c, ls=ls, lw=lw * 0.7, gid=f"capacity:{r.name}"
    )
    c, ls, lw = st.BASE_CAPACITY
    handles["base"] = ax.axhline(base, color=c, ls=ls, lw=lw)
    twin.set_ylim(0, tops[1] * 1.1 + 1)
    twin.set_ylabel("cloud nodes", color=st.ORANGE, fontsize=st.LABEL_SIZE)
    twin.tick_params(axis="y", labelsize=8)
    ax.set_ylim(0, tops[0] * 1.1 + 1)
    ax.set_ylabel("replicas", fontsize=st.LABEL_SIZE)
    ax.tick_params(labelbottom=False, labelsize=8)
    ax.grid(alpha=0.25)
    ratio = r.unserved_ratio
    share = "" if ratio is None else f" ({ratio * 100:.2f}% of demand above base)"
    ax.set_title(
        f"{r.name}: cost {r.cost:,.2f} {r.currency}, {r.node_hours:,.0f} node-hours, unserved "
        f"{r.unserved_replica_seconds:,.0f} replica-s{share}, {r.actions:,} actions, peak "
        f"{r.peak_cloud_nodes} nodes",
        loc="left",
        fontsize=st.LABEL_SIZE + 0.5,
        pad=3,
    )


def _shortfall_summary(sf: Shortfall, end: float) -> str:
    hours = sf.total_seconds / 3600
    text = f"unserved {_hours(hours)} in total ({sf.total_seconds / end * 100:.2f}% of the time)"
    return text + (f", at most {int(sf.most.max())} replicas at once" if hours > 0 else "")


def _draw_shortfall(strip: Axes, sf: Shortfall, div: float, run: str, handles: dict[str, Any]) -> None:
    """One rectangle per column with shortfall, in one collection (thousands of patches draw slowly)."""
    from matplotlib.collections import PolyCollection

    strip.set_ylabel("replicas\nunserved", fontsize=8)
    strip.tick_params(labelsize=7)
    strip.grid(alpha=0.25)
    has = sf.seconds > 0
    if not has.any():
        return
    x0 = sf.start[has] / div
    x1 = x0 + sf.seconds[has] / div
    h = sf.most[has]
    zero = np.zeros_like(h)
    corners = np.stack(
        [np.stack([x0, zero], 1), np.stack([x0, h], 1), np.stack([x1, h], 1), np.stack([x1, zero], 1)], 1
    )
    bars = PolyCollection(list(corners), facecolors=st.UNSERVED_COLOUR, linewidths=0, gid=f"unserved:{run}")
    strip.add_collection(bars, autolim=False)
    handles["unserved"] = bars
    thin = sf.thin()
    if thin.any():
        (handles["thin"],) = strip.plot(
            (sf.start[thin] + sf.seconds[thin] / 2) / div,
            sf.most[thin],
            ls="none",
            marker="v",
            ms=3.5,
            mfc="none",
            mec=st.UNSERVED_COLOUR,
            mew=0.7,
            gid=f"unserved-thin:{run}",
        )


def _draw_zoom(
    fig: Figure,
    gs: Any,
    spec: PlotSpec,
    data: list[tuple[Floats, Floats, Floats, Floats, Floats]],
    window: tuple[float, float],
    burst: Burst | None,
    columns: int,
    handles: dict[str, Any],
) -> None:
    """The runs side by side on one window, on shared scales fitted to the window."""
    w0, w1 = window
    sliced = [slice_steps(t, [d, s, c, nd], w0, w1) for t, d, s, c, nd in data]
    top = max(max(float(v.max(initial=0)) for v in values[:3]) for _, values in sliced)
    top_nodes = max(float(values[3].max(initial=0)) for _, values in sliced)
    when = datetime.fromtimestamp(spec.epoch + w0, UTC).strftime("%Y-%m-%d %H:%M UTC")
    n = len(spec.runs)
    first: Axes | None = None
    for k, (r, (tt, values)) in enumerate(zip(spec.runs, sliced, strict=True)):
        ax = fig.add_subplot(gs[0, k], sharex=first, sharey=first)
        first = first or ax
        twin = _draw_zoom_panel(ax, r, tt, values, columns, spec.base_replicas, handles)
        twin.set_ylim(0, top_nodes * 1.1 + 1)
        twin.tick_params(axis="y", labelsize=8, labelright=k == n - 1)
        if k == n - 1:
            twin.set_ylabel("cloud nodes", color=st.ORANGE, fontsize=st.LABEL_SIZE)
        ax.set_xlim(w0 / 3600.0, w1 / 3600.0)
        ax.set_ylim(0, top * 1.1 + 1)
        ax.tick_params(labelsize=8, labelleft=k == 0)
        if k == 0:
            ax.set_ylabel("replicas", fontsize=st.LABEL_SIZE)
        ax.set_xlabel(f"hours since the trace start (window from {when})", fontsize=8)
    if first is not None:
        if burst is None:
            what = "no demand above the base: the demand's peak"
        elif burst.unserved_replica_seconds > 0:
            what = f"worst burst for {spec.runs[0].name} (most unserved replica-seconds)"
        else:
            what = f"largest burst for {spec.runs[0].name} by cloud node-hours (nothing unserved)"
        first.text(
            0.0,
            1.16,
            f"Zoom: {what}, {_hours_span(w0, w1)}",
            transform=first.transAxes,
            fontsize=st.LABEL_SIZE + 0.5,
            fontweight="bold",
        )


def _draw_zoom_panel(
    ax: Axes, r: RunResult, tt: Floats, values: list[Floats], columns: int, base: int, handles: dict[str, Any]
) -> Axes:
    """One run on the zoomed window, drawn exactly (served, unserved, demand, capacity); returns the nodes'
    axis."""
    d, s, c, nd = values
    x = tt / 3600.0
    dd, ss, cc, nn = (np.append(v, v[-1]) for v in (d, s, c, nd))
    handles["served"] = ax.fill_between(
        x, ss, step="post", color=st.SERVED_COLOUR, alpha=st.SERVED_ALPHA, lw=0
    )
    handles["unserved-zoom"] = ax.fill_between(
        x,
        ss,
        dd,
        step="post",
        facecolor=st.UNSERVED_COLOUR,
        lw=0,
        zorder=3,
        gid=f"zoom-unserved:{r.name}",
    )
    sf = shortfall(tt, d, s, np.linspace(tt[0], tt[-1], columns + 1))
    thin = sf.thin()
    if thin.any():
        ax.plot(
            (sf.start[thin] + sf.seconds[thin] / 2) / 3600.0,
            sf.top[thin],
            ls="none",
            marker="v",
            ms=4,
            mfc="none",
            mec=st.UNSERVED_COLOUR,
            mew=0.8,
            zorder=4,
            gid=f"zoom-unserved-thin:{r.name}",
        )
    colour, ls, lw = st.DEMAND
    ax.step(x, dd, where="post", color=colour, ls=ls, lw=lw * 0.7, gid=f"zoom-demand:{r.name}")
    colour, ls, lw = st.READY_CAPACITY
    ax.step(x, cc, where="post", color=colour, ls=ls, lw=lw, gid=f"zoom-capacity:{r.name}")
    colour, ls, lw = st.BASE_CAPACITY
    ax.axhline(base, color=colour, ls=ls, lw=lw)
    ax.grid(alpha=0.25)
    twin = ax.twinx()  # drawn over the served area, so the nodes keep their colour
    colour, ls, lw = st.CLOUD_NODES
    twin.step(x, nn, where="post", color=colour, ls=ls, lw=lw, gid=f"zoom-nodes:{r.name}")
    short = cumulative(tt, np.maximum(d - s, 0.0))[-1]
    billed = cumulative(tt, nd)[-1] / 3600
    ax.set_title(
        f"{r.name}: {short:,.0f} replica-s unserved, {billed:,.1f} node-h in this window",
        loc="left",
        fontsize=8.5,
        pad=3,
    )
    return twin


def _hours(h: float) -> str:
    return f"{h:,.1f} h" if h >= 1 or h == 0 else f"{h * 60:,.1f} min"


def _hours_span(w0: float, w1: float) -> str:
    return f"hours {w0 / 3600:,.2f} to {w1 / 3600:,.2f} since the trace start ({_hours((w1 - w0) / 3600)})"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.1f} min"
