"""Conformance of burstd's division model with the real karmada-scheduler (v1.18.2).

Many weight lists and replica counts (ties included) go through the real detector and scheduler as
Deployments + Divided/Weighted PropagationPolicies on four Push-mode member clusters; every
ResourceBinding's ``spec.clusters`` is compared with ``burstd.engine.webster.webster`` (the one division
model, which the simulator uses too), with the tie order Karmada derives from the template's UID
(``descending_for``). Then weights and replica counts of existing bindings change, and the rescheduled
bindings are compared again; the time from a weight write to the binding being rescheduled is measured.

Karmada's rules around the division, checked here as well (``karmada_division``): a cluster
matching no weight rule takes no part, a rule matching several clusters gives each the largest weight, no
weighted candidate at all means equal weights, 0-replica clusters are left out of ``spec.clusters``, and a
0-replica Deployment without resource requests is sent to every candidate (not divided).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from testbed.clusters import (
    NOT_READY_TAINT,
    ClusterCapacity,
    push_cluster,
    schedulable,
    write_cluster_status,
)
from testbed.karmada import KarmadaPlane

from burstd.engine.webster import descending_for, karmada_division, webster, weights_for
from burstd.kube.client import KARMADA_CLUSTERS, PROPAGATION_POLICIES, RESOURCE_BINDINGS, KubeClient
from burstd.kube.objects import BindingInfo
from burstd.kube.parse_karmada import parse_resource_binding
from burstd.kube.resources import Resource
from burstd.sim.binding import Binding

DEPLOYMENTS = Resource("apps", "v1", "deployments", True, "Deployment")
NAMESPACE = "division"
CLUSTERS = ("div-a", "div-b", "div-c", "div-d")
A, B, C, D = CLUSTERS
CAPACITY = ClusterCapacity(nodes=4, node_cpu_milli=8000, node_memory_bytes=32 * 2**30, node_pods=110)
TIMEOUT = 120.0
HUGE = 2**53  # doubles: HUGE + 1 == HUGE, so Karmada sees a tie the exact fractions do not have


@dataclass(frozen=True)
class Case:
    """One workload: a Deployment of ``replicas`` and a policy on ``candidates`` with ``rules``
    (``(cluster names, weight)`` pairs of the staticWeightList)."""

    name: str
    replicas: int
    candidates: tuple[str, ...]
    rules: tuple[tuple[tuple[str, ...], int], ...]
    requests: bool = True

    @staticmethod
    def weighted(
        name: str, replicas: int, weights: Mapping[str, int], candidates: Sequence[str] = ()
    ) -> Case:
        rules = tuple(((c,), w) for c, w in sorted(weights.items()))
        return Case(name, replicas, tuple(candidates or sorted(weights)), rules)

    def weights(self) -> dict[str, int]:
        """Karmada's weight per candidate: the largest of the rules that match it, 0 when none does."""
        return {c: max((w for names, w in self.rules if c in names), default=0) for c in self.candidates}


@dataclass
class Observed:
    """What the real scheduler wrote for one case."""

    uid: str
    generation: int
    clusters: dict[str, int]
    raw_clusters: list[dict[str, Any]]
    info: BindingInfo
    """burstd's parse of the binding (its parser checked on what the real controllers wrote)."""
    scheduled_at: float = 0.0


def model(case: Case, uid: str) -> dict[str, int]:
    """``spec.clusters`` as burstd models it (``karmada_division``: the engine's Webster division plus
    Karmada's rules around it)."""
    return karmada_division(case.replicas, case.weights(), resource_uid=uid, candidates=case.candidates)


def simulator_division(case: Case) -> dict[str, int]:
    """What the simulator's binding assigns for the same weights (it has no resource UID)."""
    binding = Binding("static-weights", case.candidates, ())
    weights = case.weights()
    binding.set_weights([(c, w) for c, w in weights.items() if w > 0] or [(c, 1) for c in case.candidates])
    binding.update(case.replicas, {})
    return dict(binding.assigned)


def cases() -> list[Case]:
    out: list[Case] = []

    def add(replicas: int, weights: Mapping[str, int], candidates: Sequence[str] = ()) -> None:
        out.append(Case.weighted(f"case-{len(out)}", replicas, weights, candidates))

    for replicas in range(13):  # equal weights on two clusters: every odd count is a tie
        add(replicas, {A: 1, B: 1})
    for replicas in range(1, 11):
        add(replicas, {A: 1, B: 1, C: 1})
    for replicas in range(1, 10):
        add(replicas, {A: 2, B: 2, C: 2, D: 2})
    for weights in ({A: 1, B: 3}, {A: 2, B: 6}, {A: 1, B: 2}, {A: 3, B: 5}, {A: 1, B: 3, C: 5}, {C: 2, D: 1}):
        for replicas in (1, 2, 3, 4, 5, 7, 8):  # ties after some seats (1/1 = 3/3, 1/3 = 2/6, ...)
            add(replicas, weights)
    rng = random.Random(20260)
    for _ in range(36):
        chosen = rng.sample(CLUSTERS, rng.randint(2, 4))
        add(rng.randint(0, 60), {c: rng.randint(1, 10) for c in chosen})
    for replicas in (0, 1, 7, 60):  # a single cluster
        add(replicas, {B: 3})
    # the engine's inverse: the weights burstd writes for an intended split give exactly that split
    for _ in range(16):
        split = {c: rng.choice((0, rng.randint(1, 40))) for c in rng.sample(CLUSTERS, rng.randint(2, 4))}
        if sum(split.values()):
            add(sum(split.values()), weights_for(split), sorted(split))
    add(9, {A: 2, B: 1}, (A, B, C))  # a candidate matching no rule takes no part
    add(5, {C: 4}, (A, B))  # no candidate matches a rule: equal weights
    n = len(out)
    out.append(Case(f"case-{n}", 10, (A, B, C), (((A, B), 2), ((B,), 5))))  # b matches two rules: max
    out.append(Case.weighted(f"case-{n + 1}", 1, {A: HUGE + 1, B: HUGE}))  # equal as doubles
    out.append(Case.weighted(f"case-{n + 2}", 3, {A: HUGE + 1, B: HUGE, C: 1}))
    out.append(replace(Case.weighted(f"case-{n + 3}", 0, {A: 1, B: 3}), requests=False))
    out.append(replace(Case.weighted(f"case-{n + 4}", 5, {A: 1, B: 1}), requests=False))
    return out


# --------------------------------------------------------------------------------------------------
# objects


def deployment(case: Case) -> dict[str, Any]:
    labels = {"app": case.name}
    container: dict[str, Any] = {"name": "app", "image": "registry.invalid/app:1"}
    if case.requests:
        container["resources"] = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": case.name, "namespace": NAMESPACE},
        "spec": {
            "replicas": case.replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def placement(case: Case) -> dict[str, Any]:
    return {
        "clusterAffinity": {"clusterNames": list(case.candidates)},
        "replicaScheduling": {
            "replicaSchedulingType": "Divided",
            "replicaDivisionPreference": "Weighted",
            "weightPreference": {
                "staticWeightList": [
                    {"targetCluster": {"clusterNames": list(names)}, "weight": w} for names, w in case.rules
                ]
            },
        },
    }


def policy(case: Case) -> dict[str, Any]:
    return {
        "apiVersion": PROPAGATION_POLICIES.api_version,
        "kind": PROPAGATION_POLICIES.kind,
        "metadata": {"name": case.name, "namespace": NAMESPACE},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": case.name}],
            "placement": placement(case),
        },
    }


def binding_name(case: Case) -> str:
    return f"{case.name}-deployment"


# --------------------------------------------------------------------------------------------------
# the real scheduler


async def prepare(kube: KubeClient, karmada: KarmadaPlane) -> None:
    """Namespace and the four member clusters, Ready and untainted (idempotent: one per session)."""
    status, _ = karmada.plane.request("GET", f"/api/v1/namespaces/{NAMESPACE}")
    if status == 200:
        return
    karmada.plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    for name in CLUSTERS:
        await kube.create(KARMADA_CLUSTERS, push_cluster(name, provider="idc", region="division"))
        await write_cluster_status(kube, name, CAPACITY)

    async def ready() -> bool:
        return all([schedulable(await kube.get(KARMADA_CLUSTERS, name)) for name in CLUSTERS])

    await until(ready, "the clusters are Ready and untainted", karmada)


async def until(check: Any, what: str, karmada: KarmadaPlane, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        karmada.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.05)


def carries(rb: Mapping[str, Any], case: Case) -> bool:
    """The binding has the case's replicas and staticWeightList (the detector copied both)."""
    spec = rb["spec"]
    rules = ((spec.get("placement") or {}).get("replicaScheduling") or {}).get("weightPreference") or {}
    listed = tuple(
        (tuple((r.get("targetCluster") or {}).get("clusterNames") or ()), int(r["weight"]))
        for r in rules.get("staticWeightList") or []
    )
    return int(spec.get("replicas") or 0) == case.replicas and listed == case.rules


def observe(rb: Mapping[str, Any]) -> Observed | None:
    """The binding's scheduling result once the scheduler has seen its current generation."""
    status = rb.get("status") or {}
    generation = int(rb["metadata"]["generation"])
    if status.get("schedulerObservedGeneration") != generation:
        return None
    raw = list(rb["spec"].get("clusters") or [])
    info = parse_resource_binding(rb, time.time())
    uid = str(rb["spec"]["resource"]["uid"])
    return Observed(uid, generation, dict(info.clusters), raw, info, time.monotonic())


async def create_all(kube: KubeClient, all_cases: Sequence[Case]) -> None:
    gate = asyncio.Semaphore(16)

    async def create(case: Case) -> None:
        async with gate:
            await kube.create(PROPAGATION_POLICIES, policy(case), NAMESPACE)
            await kube.create(DEPLOYMENTS, deployment(case), NAMESPACE)

    await asyncio.gather(*(create(c) for c in all_cases))


async def scheduled(
    kube: KubeClient, karmada: KarmadaPlane, all_cases: Sequence[Case], after: Mapping[str, int] | None = None
) -> dict[str, Observed]:
    """Wait until every case's binding is scheduled at its current generation (above ``after``'s), with the
    case's replicas and weight rules (a weight patch and a replica change are two binding generations:
    the scheduler may place the first before the detector has carried the second)."""
    names = {binding_name(c): c for c in all_cases}
    seen: dict[str, Observed] = {}

    async def done() -> bool:
        for rb in (await kube.list(RESOURCE_BINDINGS, NAMESPACE)).items:
            case = names.get(rb["metadata"]["name"])
            if case is None or case.name in seen or not carries(rb, case):
                continue
            got = observe(rb)
            if got is not None and got.generation > (after or {}).get(case.name, 0):
                seen[case.name] = got
        return len(seen) == len(names)

    await until(done, f"{len(names) - len(seen)} bindings scheduled", karmada)
    return seen


def mismatches(all_cases: Sequence[Case], observed: Mapping[str, Observed]) -> list[str]:
    out = []
    for case in all_cases:
        got = observed[case.name]
        want = model(case, got.uid)
        if got.clusters != want and not (case.replicas == 0 and not any(got.clusters.values())):
            out.append(f"{case}: real {got.clusters}, model {want} (uid {got.uid})")
    return out


# --------------------------------------------------------------------------------------------------
# tests


@dataclass
class Run:
    cases: list[Case]
    observed: dict[str, Observed]
    seconds: float
    """From the first create to every binding scheduled."""
    create_s: float
    """Creating the Deployments and policies (16 at a time)."""


_RUN: list[Run] = []


def first_run(karmada: KarmadaPlane) -> Run:
    """Create every case once per session and collect the real scheduling results."""
    if not _RUN:

        async def main() -> Run:
            async with await KubeClient.from_kubeconfig(str(karmada.plane.kubeconfig)) as kube:
                await prepare(kube, karmada)
                all_cases = cases()
                start = time.monotonic()
                await create_all(kube, all_cases)
                created = time.monotonic() - start
                observed = await scheduled(kube, karmada, all_cases)
                return Run(all_cases, observed, time.monotonic() - start, created)

        _RUN.append(asyncio.run(main()))
    return _RUN[0]


def test_real_scheduler_divides_as_the_engine_models(
    karmada: KarmadaPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    run = first_run(karmada)
    assert len(run.cases) >= 130
    assert mismatches(run.cases, run.observed) == []
    for case in run.cases:  # burstd's parser on the bindings the real detector and scheduler wrote
        info = run.observed[case.name].info
        assert (info.replicas, info.resource_name, info.resource_kind) == (
            case.replicas,
            case.name,
            "Deployment",
        )
        assert info.policy_key == f"{NAMESPACE}/{case.name}"
        assert info.scheduled is True
        assert info.request.cpu == (0.1 if case.requests else 0.0)
    # The simulator uses the same division; having no UID, it breaks ties by ascending name, so it
    # differs from Karmada exactly where a tie was broken for a binding whose UID hashes odd.
    sim_off = [c for c in run.cases if c.requests and simulator_division(c) != run.observed[c.name].clusters]
    assert all(descending_for(run.observed[c.name].uid) for c in sim_off), sim_off
    ties = sum(
        webster(c.replicas, c.weights()) != webster(c.replicas, c.weights(), descending=True)
        for c in run.cases
        if any(c.weights().values())
    )
    rss = karmada.rss_bytes()
    with capsys.disabled():
        print(
            f"\nkarmada division: {len(run.cases)} cases ({ties} decided by the tie order), 0 engine "
            f"mismatches, {len(sim_off)} simulator differences (tie order only); all scheduled "
            f"{run.seconds:.1f} s after the first create (creates took {run.create_s:.1f} s); "
            f"stack start {karmada.start_s:.1f} s "
            f"{ {k: round(v, 1) for k, v in karmada.phases.items()} }, RSS MiB "
            f"{ {k: v // 2**20 for k, v in rss.items()} } (total {sum(rss.values()) // 2**20})"
        )


def test_zero_replicas_without_requests_go_to_every_candidate(karmada: KarmadaPlane) -> None:
    """Karmada does not divide a 0-replica workload that has no resource requests: ``spec.clusters``
    lists every candidate without replicas (an empty list when it has requests). burstd's parser reads
    those entries as 0 replicas, so the engine sees no replicas anywhere either way."""
    run = first_run(karmada)
    without = next(c for c in run.cases if c.replicas == 0 and not c.requests)
    with_requests = next(
        c for c in run.cases if c.replicas == 0 and c.requests and c.weights() == {A: 1, B: 1}
    )
    assert run.observed[without.name].raw_clusters == [{"name": A}, {"name": B}]
    assert run.observed[without.name].clusters == {A: 0, B: 0}
    assert run.observed[with_requests.name].raw_clusters == []


def test_tie_order_follows_the_template_uid(karmada: KarmadaPlane) -> None:
    """Where the name order decides a seat, Karmada gives it by the parity of the FNV-1a hash of the
    resource template's UID: an ascending-only model (what ``engine.share.current_share`` and the
    simulator assume) is wrong for about half of those bindings."""
    run = first_run(karmada)
    tied = [
        c
        for c in run.cases
        if c.requests
        and webster(c.replicas, c.weights()) != webster(c.replicas, c.weights(), descending=True)
    ]
    odd = [c for c in tied if descending_for(run.observed[c.name].uid)]
    assert len(tied) >= 20
    assert 0 < len(odd) < len(tied), "the table must hold ties decided both ways"
    for c in tied:
        descending = descending_for(run.observed[c.name].uid)
        assert run.observed[c.name].clusters == {
            k: n for k, n in webster(c.replicas, c.weights(), descending=descending).items() if n > 0
        }
        ascending = {k: n for k, n in webster(c.replicas, c.weights()).items() if n > 0}
        assert (run.observed[c.name].clusters == ascending) is not descending


def test_doubles_tie_where_fractions_do_not(karmada: KarmadaPlane) -> None:
    """Karmada compares priorities as float64: weights 2**53 + 1 and 2**53 tie, so the tie order gives the
    seat, where exact fractions would give it to the larger weight. The weights are oriented after the
    Deployment's UID is known so that the two always disagree (the larger weight on the name that loses
    the tie); the engine, comparing the same doubles, agrees with Karmada."""
    first_run(karmada)
    case = Case.weighted("doubles", 1, {A: 1, B: 1})

    async def main() -> tuple[dict[str, int], dict[str, int], str, str]:
        async with await KubeClient.from_kubeconfig(str(karmada.plane.kubeconfig)) as kube:
            created = await kube.create(DEPLOYMENTS, deployment(case), NAMESPACE)
            uid = str(created["metadata"]["uid"])
            loser, winner = (A, B) if descending_for(uid) else (B, A)
            weights = {winner: HUGE, loser: HUGE + 1}
            huge = replace(case, rules=Case.weighted("", 1, weights).rules)
            await kube.create(PROPAGATION_POLICIES, policy(huge), NAMESPACE)
            got = (await scheduled(kube, karmada, [huge]))[case.name]
            assert got.uid == uid
            return got.clusters, weights, winner, uid

    clusters, weights, winner, uid = asyncio.run(main())
    exact = max(weights, key=lambda c: weights[c])
    assert exact != winner, "exact fractions would give the seat to the other cluster"
    assert clusters == {winner: 1}
    assert {c: n for c, n in webster(1, weights, descending=descending_for(uid)).items() if n} == clusters


def test_weight_and_replica_changes_reschedule(
    karmada: KarmadaPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rewrite the weights of existing bindings one at a time (timing each until the binding is
    rescheduled), then change replica counts through the Deployments, then both at once for many."""
    run = first_run(karmada)
    rng = random.Random(7)
    base = [c for c in run.cases if c.requests and len(c.candidates) >= 2 and c.rules and c.replicas > 0]

    async def main() -> tuple[list[float], int]:
        async with await KubeClient.from_kubeconfig(str(karmada.plane.kubeconfig)) as kube:
            latencies: list[float] = []
            changed: list[Case] = []
            for case in base[:10]:  # one weight write at a time: the latency of each
                new = replace(case, rules=tuple((names, w + rng.randint(1, 9)) for names, w in case.rules))
                generation = run.observed[case.name].generation
                start = time.monotonic()
                await kube.merge_patch(
                    PROPAGATION_POLICIES, case.name, {"spec": {"placement": placement(new)}}, NAMESPACE
                )
                got = (await scheduled(kube, karmada, [new], {new.name: generation}))[new.name]
                latencies.append(got.scheduled_at - start)
                run.observed[new.name] = got
                changed.append(new)
            assert mismatches(changed, run.observed) == []
            # replica changes through the template, and weights + replicas together, many at once
            batch: list[Case] = []
            for i, case in enumerate(base[10:70]):
                new = replace(case, replicas=rng.choice([n for n in range(61) if n != case.replicas]))
                if i % 2:
                    new = replace(new, rules=tuple((names, w % 7 + 1) for names, w in case.rules))
                    patch = {"spec": {"placement": placement(new)}}
                    await kube.merge_patch(PROPAGATION_POLICIES, case.name, patch, NAMESPACE)
                await kube.merge_patch(
                    DEPLOYMENTS, case.name, {"spec": {"replicas": new.replicas}}, NAMESPACE
                )
                batch.append(new)
            before = {c.name: run.observed[c.name].generation for c in batch}
            run.observed.update(await scheduled(kube, karmada, batch, before))
            assert mismatches(batch, run.observed) == []
            return latencies, len(changed) + len(batch)

    latencies, rescheduled = asyncio.run(main())
    assert max(latencies) < 10.0
    with capsys.disabled():
        print(
            f"\nkarmada reschedule: {rescheduled} bindings changed, 0 mismatches; weight write -> binding "
            f"rescheduled over {len(latencies)} writes: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms"
        )


def test_cluster_status_gates_scheduling(karmada: KarmadaPlane) -> None:
    """What ``testbed.clusters`` documents about the status the harness writes: a Cluster without a Ready
    condition, or Ready=False, is tainted NotReady by the real cluster controller and the scheduler leaves
    it out; Ready=True takes the taint off and the scheduler uses it; an unchanged status is not written."""
    first_run(karmada)
    gate = "div-gate"
    case = Case.weighted("gated", 6, {A: 1, gate: 1})

    async def main() -> None:
        async with await KubeClient.from_kubeconfig(str(karmada.plane.kubeconfig)) as kube:
            await kube.create(KARMADA_CLUSTERS, push_cluster(gate, provider="idc", region="division"))

            async def tainted() -> bool:
                cluster = await kube.get(KARMADA_CLUSTERS, gate)
                return NOT_READY_TAINT in {t["key"] for t in cluster["spec"].get("taints") or []}

            await until(tainted, "a Cluster with no status is tainted NotReady", karmada)
            assert await write_cluster_status(kube, gate, CAPACITY, ready=False)
            assert not await write_cluster_status(kube, gate, CAPACITY, ready=False), "unchanged: not written"
            await kube.create(PROPAGATION_POLICIES, policy(case), NAMESPACE)
            await kube.create(DEPLOYMENTS, deployment(case), NAMESPACE)
            got = (await scheduled(kube, karmada, [case]))[case.name]
            assert got.clusters == {A: 6}, "a NotReady cluster gets nothing"
            assert await tainted()
            assert await write_cluster_status(kube, gate, CAPACITY, ready=True)

            async def untainted() -> bool:
                return schedulable(await kube.get(KARMADA_CLUSTERS, gate))

            await until(untainted, "Ready=True takes the NotReady taint off", karmada)
            patch = {"spec": {"replicas": 7}}
            await kube.merge_patch(DEPLOYMENTS, case.name, patch, NAMESPACE)
            seven = replace(case, replicas=7)
            again = (await scheduled(kube, karmada, [seven], {case.name: got.generation}))[case.name]
            want = model(seven, again.uid)
            assert again.clusters == want
            assert set(want) == {A, gate}

    asyncio.run(main())
