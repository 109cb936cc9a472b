"""The numbers behind ``--plot``: what the figure of a comparison shows, computed without drawing.

From the runs of a :class:`~burstd.sim.simulate.Comparison` it computes the figure's :class:`PlotSpec`; each
run's step functions reduced per pixel column to a min/max envelope (:func:`envelope`) and its unserved
demand per column (:func:`shortfall`: the exact time unserved, where it starts and the most replicas
short); the bursts of demand above the base as a run lived them (:func:`bursts`), the worst of them
(:func:`worst_burst`) and the window the zoomed panels show (:func:`zoom_window`); and the trace's name as
the title shows it (:func:`trace_label`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

import numpy as np
import numpy.typing as npt

from burstd.model.quantities import format_duration
from burstd.sim.metrics import RunResult
from burstd.sim.simulate import RUNS, Comparison

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PlotSpec:
    """Everything the figure shows: the runs and the scenario's few numbers, so tests can draw synthetic runs."""

    trace_name: str  # a trace name or a file path; the title shows only its name
    end: float  # seconds since the trace start
    epoch: float  # Unix time of the trace start (the fleet's startTime)
    base_replicas: int
    settings: str  # "peak 400 replicas, base 227 replicas (p70), provisioning delay 3m, seed 0"
    runs: tuple[RunResult, ...]
    #: bursts of demand above the base closer than this are one burst (seconds)
    merge_gap: float = 600.0
    #: margin around the zoomed burst (seconds), at least
    zoom_margin: float = 360.0


@dataclass(frozen=True, slots=True)
class Burst:
    """One burst (demand above the base, gaps shorter than the merge gap bridged) as one run lived it."""

    start: float
    end: float
    unserved_replica_seconds: float
    node_seconds: float  # cloud instances billed from the burst's start to the next burst's start


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A run's unserved demand per pixel column (columns between ``edges``)."""

    edges: Floats
    seconds: Floats  # time with unserved demand in each column
    start: Floats  # first moment of unserved demand in each column (nan when none)
    most: Floats  # the most replicas unserved at once in each column (0 when none)
    top: Floats  # the highest demand while demand was unserved, in each column (0 when none)
    #: time unserved in the column's stretch of shortfall: its own, plus its neighbours' while a shortfall
    #: runs on across the column's edges
    joined: Floats

    def thin(self) -> npt.NDArray[np.bool_]:
        """Columns whose stretch of shortfall is narrower than one column: drawn to scale it hides."""
        width = self.edges[1:] - self.edges[:-1]
        return (self.seconds > 0) & (self.joined < width)

    @property
    def total_seconds(self) -> float:
        return float(self.seconds.sum())


def spec_of(comparison: Comparison) -> PlotSpec:
    s = comparison.scenario
    delays = sorted({p.provision_delay for p in s.pools})
    relaunch = max((p.provision_delay + p.deletion_delay for p in s.pools), default=0.0)
    base = f"{s.base_replicas} replicas" + (f" ({s.base_spec})" if isinstance(s.base_spec, str) else "")
    settings = (
        f"peak {s.peak_replicas} replicas, base {base}, provisioning delay "
        f"{'/'.join(format_duration(d) for d in delays)}, seed {s.seed}"
    )
    return PlotSpec(
        trace_name=s.trace.name,
        end=s.end,
        epoch=s.epoch,
        base_replicas=s.base_replicas,
        settings=settings,
        runs=tuple(comparison.runs[name] for name in RUNS),
        merge_gap=max(600.0, relaunch),
        zoom_margin=max(360.0, 2 * max(delays, default=0.0)),
    )


def trace_label(name: str) -> str:
    """The trace's name without its directory: ``/x/demand.csv`` -> ``demand``, and the directory's name
    for the shared layout ``<name>/demand.csv`` (``traces/nasa-http-1995/demand.csv`` -> ``nasa-http-1995``)."""
    if name.startswith("prometheus:"):  # a PromQL query (burstd.sim.history): its slashes are not a path
        return name
    if "/" not in name and "\\" not in name and not name.lower().endswith(".csv"):
        return name
    path = PureWindowsPath(name) if "\\" in name else PurePosixPath(name)
    stem = path.stem if path.suffix.lower() == ".csv" else path.name
    parent = path.parent.name
    if stem == "demand" and parent:
        return parent
    return stem or name


def run_arrays(r: RunResult, end: float) -> tuple[Floats, Floats, Floats, Floats, Floats]:
    """Times with ``end`` appended, and demand, served, Ready capacity, nodes (one value per interval)."""
    s = r.series
    t = np.append(np.asarray(s.t, dtype=np.float64), end)
    return t, _floats(s.demand), _floats(s.served), _floats(s.capacity), _floats(s.nodes)


def _floats(values: list[int]) -> Floats:
    return np.asarray(values, dtype=np.float64)


def envelope(t: Floats, v: Floats, edges: Floats) -> tuple[Floats, Floats]:
    """A step function (value ``v[i]`` on ``[t[i], t[i+1])``) reduced to at most four change points per column
    between ``edges``: the first, the lowest, the highest and the last, in time order. Drawn as a post-step
    line it covers the same pixels as the full line. The last point is repeated at ``t[-1]``."""
    n = len(v)
    if n == 0:
        return np.asarray([], dtype=np.float64), np.asarray([], dtype=np.float64)
    starts = t[:-1]
    col = np.clip(np.searchsorted(edges, starts, side="right") - 1, 0, len(edges) - 2)
    first_of = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    groups = np.repeat(np.arange(len(first_of)), np.diff(np.r_[first_of, n]))
    lo = np.minimum.reduceat(v, first_of)[groups]
    hi = np.maximum.reduceat(v, first_of)[groups]
    keep = np.zeros(n, dtype=bool)
    keep[first_of] = True
    keep[np.r_[first_of[1:] - 1, n - 1]] = True
    for mask in (v == lo, v == hi):
        idx = np.flatnonzero(mask)
        _, first = np.unique(groups[idx], return_index=True)
        keep[idx[first]] = True
    x = np.append(starts[keep], t[-1])
    y = np.append(v[keep], v[-1])
    return x, y


def shortfall(t: Floats, demand: Floats, served: Floats, edges: Floats) -> Shortfall:
    """Unserved demand per column: its exact duration, where it starts and the most replicas short."""
    short = np.maximum(demand - served, 0.0)
    ncol = len(edges) - 1
    seconds = np.zeros(ncol)
    start = np.full(ncol, np.nan)
    most = np.zeros(ncol)
    top = np.zeros(ncol)
    idx = np.flatnonzero(short > 0)
    if len(idx) == 0:
        return Shortfall(edges, seconds, start, most, top, seconds.copy())
    a, b, h, d = t[idx], t[idx + 1], short[idx], demand[idx]
    first = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, ncol - 1)
    last = np.clip(np.searchsorted(edges, b, side="left") - 1, first, ncol - 1)
    span = last - first + 1
    cols = np.repeat(first, span) + (np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span))
    lo = np.maximum(np.repeat(a, span), edges[cols])
    hi = np.minimum(np.repeat(b, span), edges[cols + 1])
    ok = hi > lo
    cols, lo, hi = cols[ok], lo[ok], hi[ok]
    np.add.at(seconds, cols, hi - lo)
    np.fmin.at(start, cols, lo)
    np.maximum.at(most, cols, np.repeat(h, span)[ok])
    np.maximum.at(top, cols, np.repeat(d, span)[ok])
    # a column whose left edge an unbroken shortfall runs across continues its left neighbour's stretch
    breaks = np.flatnonzero(np.diff(idx) != 1)
    s0, s1 = t[idx[np.r_[0, breaks + 1]]], t[idx[np.r_[breaks, len(idx) - 1]] + 1]
    count = np.zeros(len(edges) + 1)  # edges[j] with s0 < edges[j] < s1, counted by a difference array
    np.add.at(count, np.searchsorted(edges, s0, side="right"), 1)
    np.add.at(count, np.searchsorted(edges, s1, side="left"), -1)
    across = np.cumsum(count)[: len(edges) - 1] > 0  # per column: is its left edge inside a stretch
    stretch = np.cumsum(~across) - 1
    joined = np.bincount(stretch, weights=seconds)[stretch]
    return Shortfall(edges, seconds, start, most, top, joined)


def cumulative(t: Floats, v: Floats) -> Floats:
    """The integral of the step function from ``t[0]`` to each ``t[i]``."""
    out: Floats = np.concatenate(([0.0], np.cumsum(v * np.diff(t))))
    return out


def bursts(spec: PlotSpec, run: RunResult) -> list[Burst]:
    """The bursts of the trace (demand above the base; gaps shorter than ``merge_gap`` bridged) as ``run``
    lived them."""
    t, demand, served, _, nodes = run_arrays(run, spec.end)
    if len(demand) == 0:
        return []
    above = demand > spec.base_replicas
    edges = np.diff(np.r_[0, above.astype(np.int8), 0])
    starts, ends = t[np.flatnonzero(edges == 1)], t[np.flatnonzero(edges == -1)]
    spans: list[list[float]] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if spans and a - spans[-1][1] < spec.merge_gap:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    if not spans:
        return []
    unserved = cumulative(t, np.maximum(demand - served, 0.0))
    billed = cumulative(t, nodes)
    out = []
    for i, (a, b) in enumerate(spans):
        until = spans[i + 1][0] if i + 1 < len(spans) else spec.end
        u = float(np.interp(b, t, unserved) - np.interp(a, t, unserved))
        n = float(np.interp(until, t, billed) - np.interp(a, t, billed))
        out.append(Burst(a, b, u, n))
    return out


def worst_burst(spec: PlotSpec) -> Burst | None:
    """The first run's burst with the most unserved replica-seconds; when it left nothing unserved, its burst
    with the most cloud node-hours. None when the demand never rises above the base."""
    found = bursts(spec, spec.runs[0])
    if not found:
        return None
    if any(b.unserved_replica_seconds > 0 for b in found):
        return max(found, key=lambda b: b.unserved_replica_seconds)
    return max(found, key=lambda b: b.node_seconds)


def zoom_window(spec: PlotSpec, burst: Burst | None) -> tuple[float, float]:
    """The window of the zoomed panels: the burst with a margin, or the demand's peak when there is none."""
    if burst is None:
        t, demand, *_ = run_arrays(spec.runs[0], spec.end)
        i = int(np.argmax(demand)) if len(demand) else 0
        a, b = float(t[i]), float(t[i + 1]) if len(t) > 1 else spec.end
    else:
        a, b = burst.start, burst.end
    margin = max(spec.zoom_margin, 0.15 * (b - a))
    return max(0.0, a - margin), min(spec.end, b + margin)


def slice_steps(t: Floats, values: list[Floats], w0: float, w1: float) -> tuple[Floats, list[Floats]]:
    """The step functions restricted to ``[w0, w1]``, starting with the value that holds at ``w0``."""
    i0 = max(0, int(np.searchsorted(t, w0, side="right")) - 1)
    i1 = max(i0 + 1, int(np.searchsorted(t, w1, side="left")))
    i1 = min(i1, len(t) - 1)
    tt = np.r_[w0, t[i0 + 1 : i1], w1]
    return tt, [v[i0:i1] for v in values]
