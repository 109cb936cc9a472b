"""``burstd cost report`` matches the ledger to the cent on a scripted burst: the engine decides over a
scripted fleet (nodes launched between evaluations, a static-priced and a provider-priced pool, one burst
closed and one in progress), the state is saved to the real kube-apiserver through ``StateStore``, and the
CLI, run as users run it, reads it back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from engine.toyfleet import ToyFleet, policy, pool_doc

from burstd.kube.client import KubeClient
from burstd.model.state import BurstState, Phase
from burstd.runtime.costreport import cents, timestamp
from burstd.runtime.store import StateStore

from .controlplane import ControlPlane
from .objects import unique

LAUNCH_LAG = 3.7  # nodes come up this long after the evaluation that asked for them
PRICES = {"tke-a": 2.0, "ack-b": 3.37}  # tke-a: static price; ack-b: the provider's quote


def step(fleet: ToyFleet, seconds: float) -> None:
    """One round, then the cloud launches the new nodes LAUNCH_LAG later (between two evaluations)."""
    end = fleet.now + seconds
    while fleet.now < end:
        fleet.step(10.0)
        for nodes in fleet.nodes.values():
            for node in nodes:
                if node.created_at == fleet.now:
                    node.created_at = fleet.now + LAUNCH_LAG


def scripted_burst() -> ToyFleet:
    provider = pool_doc("ack-b", "ack", 99.0)
    provider["price"] = {"source": "provider", "currency": "CNY"}
    fleet = ToyFleet(
        policy(burst={"pools": [pool_doc("tke-a", "tke", 2.0), provider]}), quotes={"ack-b": 3.37}
    )
    step(fleet, 60)
    fleet.demand = 200
    step(fleet, 900)
    fleet.demand = 40
    step(fleet, 1800)  # the first burst ends
    assert fleet.state.phase == Phase.IDLE
    fleet.demand = 150
    step(fleet, 600)  # the second one is in progress
    assert fleet.state.phase != Phase.IDLE
    return fleet


def expected_node_seconds(fleet: ToyFleet) -> dict[tuple[int, str], float]:
    """Independently of the ledger: each node from its launch to the first evaluation that no longer shows
    it (or the last evaluation), by (burst number, pool); a node belongs to the burst it was launched in."""
    times = [t for t, _, _ in fleet.history]
    starts = [t for t, d, _ in fleet.history if d.state.bursts > 0 and d.state.burst_started_at == t]
    last_seen: dict[tuple[str, str], tuple[float, float]] = {}
    for t, _, world in fleet.history:
        for name, pool in world.pools.items():
            for m in pool.machines:
                last_seen[(name, m.name)] = (m.created_at, t)
    out: dict[tuple[int, str], float] = {}
    for (pool_name, _), (launch, seen) in last_seen.items():
        gone = next((t for t in times if t > seen), times[-1])
        burst = sum(1 for s in starts if s <= launch)
        out[(burst, pool_name)] = out.get((burst, pool_name), 0.0) + gone - launch
    return out


def save(plane: ControlPlane, namespace: str, state: BurstState) -> None:
    async def main() -> None:
        async with await KubeClient.from_kubeconfig(str(plane.kubeconfig)) as kube:
            await StateStore(kube, namespace).save("web", state, None)

    status, body = plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    assert status == 201, body
    asyncio.run(main())


def cost_report(
    plane: ControlPlane, namespace: str, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BURSTD_MANAGEMENT__KUBECONFIG": str(kubeconfig or plane.kubeconfig),
        "BURSTD_NAMESPACE": namespace,
    }
    return subprocess.run(
        [sys.executable, "-m", "burstd", "cost", "report", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_cost_report_matches_the_ledger_to_the_cent(control_plane: ControlPlane, tmp_path: Path) -> None:
    fleet = scripted_burst()
    ledger = fleet.state.ledger
    namespace = unique("cost")
    save(control_plane, namespace, fleet.state)

    run = cost_report(control_plane, namespace, "--format", "json")
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)

    expected = expected_node_seconds(fleet)
    assert {k[0] for k in expected} == {1, 2}
    assert {k[1] for k in expected if k[0] == 1} == {"tke-a", "ack-b"}  # both pools billed in burst 1
    # per pool: the ledger's totals, and node-seconds x price computed independently, to the cent
    for row in report["pools"]:
        pool = row["pool"]
        secs = sum(s for (_, p), s in expected.items() if p == pool)
        assert row["nodeSeconds"] == round(ledger.pools[pool].node_seconds, 3)
        assert abs(ledger.pools[pool].node_seconds - secs) < 1e-6
        assert (
            row["cost"] == float(cents(ledger.pools[pool].cost)) == float(cents(secs / 3600 * PRICES[pool]))
        )
        assert row["currency"] == "CNY"
    assert {row["pool"] for row in report["pools"]} == set(PRICES)
    # per burst: the closed one and the one in progress
    records = [*ledger.bursts, ledger.burst]
    assert [b["id"] for b in report["bursts"]] == [timestamp(r.start) for r in records if r is not None]
    assert [b["open"] for b in report["bursts"]] == [False, True]
    for number, (row, record) in enumerate(zip(report["bursts"], records, strict=True), start=1):
        assert record is not None
        for pool_row in row["pools"]:
            pool = pool_row["pool"]
            secs = expected[(number, pool)]
            assert (
                pool_row["cost"]
                == float(cents(record.pools[pool].cost))
                == float(cents(secs / 3600 * PRICES[pool]))
            )
        total = sum(c.cost for c in record.pools.values())
        assert row["totals"] == [
            {
                "currency": "CNY",
                "nodeHours": round(sum(c.node_seconds for c in record.pools.values()) / 3600, 4),
                "cost": float(cents(total)),
            }
        ]
    # per policy and in total: the ledger's running cost
    independent = sum(secs / 3600 * PRICES[pool] for (_, pool), secs in expected.items())
    assert report["policies"] == [
        {
            "policy": "web",
            "currency": "CNY",
            "nodeHours": round(sum(ledger.node_seconds.values()) / 3600, 4),
            "cost": float(cents(ledger.cost)),
        }
    ]
    assert float(cents(ledger.cost)) == float(cents(independent))
    assert report["totals"][0]["cost"] == float(cents(ledger.cost))

    table = cost_report(control_plane, namespace)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    pools = lines[lines.index("POOLS") + 2 : lines.index("POOLS") + 4]
    assert sorted(line.split()[1:5] for line in pools) == sorted(
        [pool, f"{ledger.pools[pool].node_seconds / 3600:.2f}", f"{cents(ledger.pools[pool].cost)}", "CNY"]
        for pool in PRICES
    )
    assert lines[lines.index("POLICIES") + 2].split()[2:] == [f"{cents(ledger.cost)}", "CNY"]
    assert lines[lines.index("TOTAL") + 2].split() == [
        "CNY",
        f"{sum(ledger.node_seconds.values()) / 3600:.2f}",
        f"{cents(ledger.cost)}",
    ]
    bursts = lines[lines.index("BURSTS") + 2 : lines.index("BURSTS") + 4]
    assert [line.split()[1] for line in bursts] == [b["id"] for b in report["bursts"]]
    assert bursts[1].split()[2:4] == ["(in", "progress)"]


def test_clear_errors_with_no_states_or_no_api_server(control_plane: ControlPlane, tmp_path: Path) -> None:
    namespace = unique("cost")
    status, body = control_plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    assert status == 201, body
    run = cost_report(control_plane, namespace)
    assert run.returncode == 1
    assert run.stdout == ""
    assert (
        f"no burst state ConfigMaps (burstd-state-<policy>) in namespace {namespace} on the management cluster"
        in run.stderr
    )

    # a corrupt state is named, and nothing is reported
    cm = {
        "metadata": {"name": "burstd-state-web", "labels": {"burstd.io/policy": "web"}},
        "data": {"state.json": "[]"},
    }
    status, body = control_plane.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", cm)
    assert status == 201, body
    run = cost_report(control_plane, namespace)
    assert run.returncode == 1
    assert f"ConfigMap {namespace}/burstd-state-web key 'state.json' is not a valid burst state" in run.stderr

    # an API server that does not answer
    unreachable = tmp_path / "unreachable.kubeconfig"
    config = json.loads(control_plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    unreachable.write_text(json.dumps(config))
    run = cost_report(control_plane, namespace, kubeconfig=unreachable)
    assert run.returncode == 1
    assert "cannot list the burst state ConfigMaps in namespace" in run.stderr
    assert "Traceback" not in run.stderr
    assert control_plane.token not in run.stderr + run.stdout
