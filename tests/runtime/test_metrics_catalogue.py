"""docs/metrics.md lists exactly the metrics burstd exports (names as Prometheus scrapes them)."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import generate_latest

from burstd.model.state import BurstState, Ledger, Phase
from burstd.runtime.metrics import Metrics, PolicyView

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def exported() -> set[str]:
    metrics = Metrics()
    state = BurstState(
        phase=Phase.BURSTING,
        pool_targets={"p": 2},
        alerts=("LimitReached",),
        bursts=1,
        ledger=Ledger(node_seconds={"p": 3600.0}, cost=2.88),
    )
    metrics.set_view("web", PolicyView(state=state, currency="CNY", nodes={"p": 2}, ready={"p": 2}))
    metrics.set_held("web", {"NotObserved"})
    metrics.evaluations.labels("web").inc()
    metrics.evaluation_errors.labels("web", "Forbidden").inc()
    metrics.last_evaluation.labels("web").set(1.0)
    metrics.actions.labels("web", "ScalePool", "applied").inc()
    metrics.external_changes.labels("web", "PropagationPolicy shop/web").inc()
    metrics.state_conflicts.labels("web").inc()
    metrics.cache_synced.labels("clusters.cluster.karmada.io/v1alpha1").set(1.0)
    text = generate_latest(metrics.registry).decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names.add(name + "_total" if kind == "counter" and not name.endswith("_total") else name)
    names.discard("burstd_build")  # Info: exported as burstd_build_info
    names.add("burstd_build_info")
    return names


def documented() -> set[str]:
    return set(re.findall(r"^\| `(burstd_[a-z_]+)` \|", DOC.read_text(), flags=re.MULTILINE))


def test_the_catalogue_matches_the_exported_metrics() -> None:
    got, doc = exported(), documented()
    assert got - doc == set(), f"exported but not in docs/metrics.md: {sorted(got - doc)}"
    assert doc - got == set(), f"in docs/metrics.md but not exported: {sorted(doc - got)}"
