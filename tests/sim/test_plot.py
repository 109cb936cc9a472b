"""``--plot``: what the figure draws, read back from its artists (not from pixels).

Synthetic runs are fed through ``Timeline`` as the simulator does; figures are small (6 inches at 50 dpi:
267 pixel columns across the full-trace panels) so each test takes well under a second.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.artist import Artist
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from burstd.sim.metrics import RunResult, Timeline, result_from
from burstd.sim.plot import build_figure, plot
from burstd.sim.plot_data import PlotSpec, bursts, envelope, shortfall, trace_label
from burstd.sim.simulate import simulate

from .scenarios import follow_demand, scenario

DAY = 86400.0
HOUR = 3600.0
WIDTH, DPI = 6.0, 50.0
BASE = 10
EPOCH = 1_700_000_000.0  # the fleet's startTime

#: (time, demand, served, Ready capacity, cloud nodes) from that time on
Point = tuple[float, int, int, int, int]


def run(name: str, points: Sequence[Point], end: float) -> RunResult:
    timeline = Timeline(BASE)
    for point in points:
        timeline.update(*point)
    timeline.finish(end)
    return result_from(name, timeline, cost=1.0, node_seconds=0.0, currency="CNY", actions=0)


def spec(runs: Sequence[RunResult], end: float, trace_name: str = "synthetic") -> PlotSpec:
    return PlotSpec(
        trace_name=trace_name,
        end=end,
        epoch=EPOCH,
        base_replicas=BASE,
        settings="peak 100 replicas, base 10 replicas, provisioning delay 3m, seed 0",
        runs=tuple(runs),
    )


def figure(s: PlotSpec) -> Figure:
    return build_figure(s, width=WIDTH, dpi=DPI)


def drawn(fig: Figure, gid: str) -> list[Artist]:
    return list(fig.findobj(lambda a: a.get_gid() == gid))


def bars(fig: Figure, gid: str) -> list[tuple[float, float, float]]:
    """(x, width, height) of each rectangle of the collection ``gid`` (none when it is not drawn)."""
    found = drawn(fig, gid)
    if not found:
        return []
    (collection,) = found
    assert isinstance(collection, PolyCollection)
    out = []
    for path in collection.get_paths():
        x, y = np.asarray(path.vertices, dtype=float).T
        out.append((float(x.min()), float(x.max() - x.min()), float(y.max() - y.min())))
    return out


def line(fig: Figure, gid: str) -> Line2D:
    (found,) = drawn(fig, gid)
    assert isinstance(found, Line2D)
    return found


def xy(artist: Line2D) -> tuple[Any, Any]:
    return np.asarray(artist.get_xdata(), dtype=float), np.asarray(artist.get_ydata(), dtype=float)


def area(vertices: Any) -> float:
    """Shoelace area of a closed polygon."""
    x, y = np.asarray(vertices, dtype=float).T
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def columns_seconds(end: float) -> float:
    """One pixel column of the full-trace panels, in seconds (the figure's own arithmetic)."""
    return end / round(WIDTH * DPI * (0.945 - 0.055))


def test_a_one_minute_shortfall_in_30_days_is_drawn_one_minute_wide_and_marked() -> None:
    end = 30 * DAY
    at = 12 * DAY + 7 * HOUR
    burstd = run(
        "burstd", [(0, 100, 100, 100, 13), (at, 100, 70, 100, 13), (at + 60, 100, 100, 100, 13)], end
    )
    # a three-day shortfall spans many columns: drawn three days wide, no "too thin" marker
    reactive = run(
        "reactive", [(0, 100, 100, 100, 13), (5 * DAY, 100, 50, 60, 7), (8 * DAY, 100, 100, 100, 13)], end
    )
    oracle = run("oracle", [(0, 100, 100, 100, 13)], end)
    fig = figure(spec([burstd, reactive, oracle], end))
    column = columns_seconds(end)

    one_minute = bars(fig, "unserved:burstd")
    assert one_minute, "the shortfall is drawn"
    assert sum(w for _, w, _ in one_minute) * DAY == pytest.approx(60.0, abs=1e-6)
    assert all(abs(x * DAY - at) <= column for x, _, _ in one_minute)
    assert {h for _, _, h in one_minute} == {30.0}
    # narrower than a pixel column, so also marked, at its place and height, with no width of its own
    (marker,) = drawn(fig, "unserved-thin:burstd")
    assert isinstance(marker, Line2D)
    mx, my = xy(marker)
    assert mx * DAY == pytest.approx([at + 30], abs=1.0)
    assert list(my) == [30.0]

    three_days = bars(fig, "unserved:reactive")
    assert sum(w for _, w, _ in three_days) * DAY == pytest.approx(3 * DAY, rel=1e-9)
    assert min(x for x, _, _ in three_days) * DAY == pytest.approx(5 * DAY)
    assert max(x + w for x, w, _ in three_days) * DAY == pytest.approx(8 * DAY)
    assert drawn(fig, "unserved-thin:reactive") == []

    assert bars(fig, "unserved:oracle") == []
    assert drawn(fig, "unserved-thin:oracle") == []


def test_shortfall_per_column_is_exact_and_stretches_join_across_column_edges() -> None:
    edges = np.linspace(0.0, 1000.0, 11)  # columns of 100 s
    # short from 50 to 250 (two values, one stretch across two edges), from 420 to 430, from 500 to 510
    t = np.array([0.0, 50, 150, 250, 420, 430, 500, 510, 1000])
    demand = np.array([5.0, 9, 9, 5, 8, 5, 7, 5])
    served = np.array([5.0, 4, 1, 5, 5, 5, 5, 5])
    sf = shortfall(t, demand, served, edges)
    assert list(sf.seconds) == [50, 100, 50, 0, 10, 10, 0, 0, 0, 0]
    assert list(sf.most) == [5, 8, 8, 0, 3, 2, 0, 0, 0, 0]
    assert list(sf.joined[:3]) == [200, 200, 200]
    assert list(sf.thin()) == [False, False, False, False, True, True, False, False, False, False]
    assert sf.total_seconds == 220


def test_the_zoom_shows_the_burst_with_the_most_unserved_replica_seconds() -> None:
    end = 2 * DAY
    small = [(6 * HOUR, 50, 45, 50, 6), (6 * HOUR + 120, 50, 50, 50, 6), (8 * HOUR, 5, 5, 10, 0)]
    worst = [(30 * HOUR, 80, 40, 40, 5), (30 * HOUR + 600, 80, 80, 80, 10), (33 * HOUR, 5, 5, 10, 0)]
    served_all = [(6 * HOUR, 50, 50, 50, 6), (8 * HOUR, 5, 5, 10, 0), (30 * HOUR, 80, 80, 80, 10)]
    runs = [
        run("burstd", [(0, 5, 5, 10, 0), *small, *worst], end),
        run("reactive", [(0, 5, 5, 10, 0), *served_all, (33 * HOUR, 5, 5, 10, 0)], end),
        run("oracle", [(0, 5, 5, 10, 0), *served_all, (33 * HOUR, 5, 5, 10, 0)], end),
    ]
    fig = figure(spec(runs, end))
    windows = set()
    for name in ("burstd", "reactive", "oracle"):
        axes = line(fig, f"zoom-demand:{name}").axes
        assert axes is not None
        windows.add(axes.get_xlim())
    (window,) = windows  # the three runs side by side on one window
    lo, hi = window
    assert lo <= 30, "the worst burst (hours 30-33) is inside"
    assert hi >= 33, "the worst burst (hours 30-33) is inside"
    assert lo > 8, "the other burst is not"
    (zoomed,) = drawn(fig, "zoom-unserved:burstd")
    assert isinstance(zoomed, PolyCollection)
    # drawn to scale: the area between served and demand is the 40 replicas x 10 minutes left unserved
    assert sum(area(p.vertices) for p in zoomed.get_paths()) * HOUR == pytest.approx(40 * 600)
    assert axes is not None
    start = datetime.fromtimestamp(EPOCH + lo * HOUR, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert axes.get_xlabel() == f"hours since the trace start (window from {start})"


def test_without_shortfall_the_zoom_shows_the_burst_with_the_most_node_hours() -> None:
    end = 2 * DAY
    points = [
        (0, 5, 5, 10, 0),
        (6 * HOUR, 50, 50, 50, 6),
        (8 * HOUR, 5, 5, 10, 1),  # nodes linger after the first burst: they are billed to it
        (20 * HOUR, 5, 5, 10, 0),
        (30 * HOUR, 80, 80, 80, 10),
        (31 * HOUR, 5, 5, 10, 0),
    ]
    runs = [run(name, points, end) for name in ("burstd", "reactive", "oracle")]
    found = bursts(spec(runs, end), runs[0])
    assert [(b.start / HOUR, b.end / HOUR, b.node_seconds / HOUR) for b in found] == [
        (6, 8, 24),
        (30, 31, 10),
    ]
    axes = line(figure(spec(runs, end)), "zoom-demand:burstd").axes
    assert axes is not None
    lo, hi = axes.get_xlim()
    assert lo <= 6
    assert 8 <= hi < 30


def test_bursts_closer_than_the_merge_gap_are_one() -> None:
    end = DAY
    points = [(0, 5, 5, 10, 0), (HOUR, 50, 50, 50, 6), (2 * HOUR, 5, 5, 50, 6)]
    points += [(2 * HOUR + 300, 50, 50, 50, 6), (3 * HOUR, 5, 5, 10, 0), (5 * HOUR, 40, 40, 40, 5)]
    points += [(6 * HOUR, 5, 5, 10, 0)]
    r = run("burstd", points, end)
    found = bursts(spec([r], end), r)  # merge gap: 10 minutes
    assert [(b.start / HOUR, b.end / HOUR) for b in found] == [(1, 3), (5, 6)]


def test_no_demand_above_the_base_still_draws_a_zoom_on_the_peak() -> None:
    end = DAY
    runs = [
        run(name, [(0, 3, 3, 10, 0), (HOUR * 9, 8, 8, 10, 0), (HOUR * 10, 3, 3, 10, 0)], end)
        for name in "abc"
    ]
    fig = figure(spec(runs, end))
    axes = line(fig, "zoom-demand:a").axes
    assert axes is not None
    lo, hi = axes.get_xlim()
    assert lo <= 9
    assert hi >= 10
    assert any("no demand above the base" in t.get_text() for t in fig.texts + axes.texts)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("nasa-http-1995", "nasa-http-1995"),
        ("demand.csv", "demand"),
        ("/tmp/run-3/my-demand.csv", "my-demand"),
        ("../shared/traces/nasa-http-1995/demand.csv", "nasa-http-1995"),
        ("C:\\traces\\shop\\peak.CSV", "peak"),
        ("data/demand.txt", "demand.txt"),
        (
            'prometheus:sum(rate(http_requests_total{job="a/b"}[5m]))',
            'prometheus:sum(rate(http_requests_total{job="a/b"}[5m]))',
        ),
    ],
)
def test_trace_label_drops_the_directory(name: str, label: str) -> None:
    assert trace_label(name) == label


def test_the_title_names_the_trace_and_its_settings_not_its_directory() -> None:
    end = DAY
    runs = [
        run(name, [(0, 5, 5, 10, 0), (HOUR, 30, 30, 30, 3), (2 * HOUR, 5, 5, 10, 0)], end) for name in "abc"
    ]
    fig = figure(spec(runs, end, trace_name="/work/shared/traces/nasa-http-1995/demand.csv"))
    title = fig.get_suptitle()
    assert "nasa-http-1995" in title
    assert "/" not in title
    assert "demand.csv" not in title
    assert "peak 100 replicas, base 10 replicas, provisioning delay 3m" in title


def test_envelope_keeps_each_columns_extremes_in_at_most_four_points() -> None:
    rng = np.random.default_rng(7)
    n = 89_000
    t = np.append(np.cumsum(rng.integers(1, 120, n)).astype(float), 0.0)
    t[-1] = t[-2] + 60
    v = rng.integers(0, 400, n).astype(float)
    edges = np.linspace(t[0], t[-1], 1301)
    x, y = envelope(t, v, edges)
    assert len(x) <= 4 * 1300 + 1
    assert np.all(np.diff(x) >= 0)
    assert x[-1] == t[-1]
    full_col = np.clip(np.searchsorted(edges, t[:-1], side="right") - 1, 0, 1299)
    kept_col = np.clip(np.searchsorted(edges, x[:-1], side="right") - 1, 0, 1299)
    for c in range(1300):
        assert v[full_col == c].min() == y[:-1][kept_col == c].min()
        assert v[full_col == c].max() == y[:-1][kept_col == c].max()
    # the value that holds at every kept time is the full series' value there
    held = v[np.searchsorted(t, x[:-1], side="right") - 1]
    assert np.array_equal(held, y[:-1])


def test_a_long_trace_is_drawn_per_pixel_column() -> None:
    end = 60 * DAY
    rng = np.random.default_rng(3)
    demand = rng.integers(20, 200, int(end // 60))
    points = [(i * 60.0, int(d), int(d), int(d), 0) for i, d in enumerate(demand)]
    r = run("burstd", points, end)
    assert len(r.series.t) > 80_000
    fig = figure(spec([r], end))
    x, y = xy(line(fig, "demand:burstd"))
    assert len(x) <= 4 * 267 + 1
    assert y.max() == demand.max()
    assert y.min() == demand.min()


def test_plot_writes_a_png_of_a_simulation(tmp_path: Path) -> None:
    comparison = simulate(scenario([(0, 5), (600, 40), (1800, 5)], 3600), decider=follow_demand)
    path = tmp_path / "out.png"
    plot(comparison, str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1540
    assert height > 1000
    assert data[-8:-4] == b"IEND"


def test_plot_reports_an_unwritable_path(tmp_path: Path) -> None:
    comparison = simulate(scenario([(0, 5), (600, 40), (1800, 5)], 3600), decider=follow_demand)
    with pytest.raises(FileNotFoundError, match=r"out\.png"):
        plot(comparison, str(tmp_path / "missing" / "out.png"))
