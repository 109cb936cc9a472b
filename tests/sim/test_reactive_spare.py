"""The reactive family: the Cluster-Autoscaler-like baseline with overprovisioning pause pods."""

from __future__ import annotations

from pathlib import Path

import pytest

from burstd.policy.loader import load_text
from burstd.policy.spec import BurstPolicy
from burstd.sim.files import load_fleet
from burstd.sim.reactive import run_reactive
from burstd.sim.scenario import Scenario, build_scenario
from burstd.sim.trace import parse_trace

from .scenarios import scenario
from .test_baselines import STEP, value_at

ROOT = Path(__file__).resolve().parents[2]
ALIBABA = ROOT / "burstd" / "sim" / "data" / "traces" / "alibaba-2018" / "demand.csv"
#: the example policy as bundled when these tests were written (the tests pin figures measured with it)
POLICY_YAML = """\
# The example policy `burstd simulate` uses when no --policy is given: one web workload on one
# self-hosted cluster (idc-1), bursting into a Tencent Cloud pool and an Alibaba Cloud pool.
apiVersion: burstd.io/v1alpha1
kind: BurstPolicy
metadata:
  name: sim-web
spec:
  workloads:
    - propagationPolicy: {namespace: shop, name: web}
      federatedHPA: {namespace: shop, name: web}
  base:
    clusters: [idc-1]
  burst:
    order: cheapest-available
    # Keep 10% spare capacity over the desired replicas while bursting: it absorbs rises that come
    # faster than a node can be provisioned.
    headroom: "10%"
    provisionTimeout: 10m
    pools:
      - name: tke-gz6
        provider: tencentcloud
        cluster: tke-gz
        backend: capi-machinedeployment
        ref: {namespace: capi-tke, name: tke-gz-md-0}
        nodes: {min: 0, max: 40}
        instanceType: SA5.2XLARGE32
        zone: ap-guangzhou-6
        allocatable: {cpu: "7600m", memory: "28Gi", pods: 64}
        price: {perNodeHour: 2.88, currency: CNY}
      - name: ack-hz-h
        provider: alibabacloud
        cluster: ack-hz
        backend: ack-nodepool
        nodePool: {clusterId: c8f2e1a0b4d, nodePoolId: np-burst-h}
        nodes: {min: 0, max: 40}
        instanceType: ecs.c7.2xlarge
        zone: cn-hangzhou-h
        allocatable: {cpu: "7600m", memory: "14Gi", pods: 64}
        price: {perNodeHour: 3.02, currency: CNY}
  triggers:
    # Burst as soon as the base is 95% requested or the FederatedHPA wants more than the base holds:
    # bursts then start before replicas go Pending.
    scaleOut:
      any:
        - {signal: base.cpu.requestedRatio, above: 0.95, for: 0s}
        - {signal: fhpa.unfitReplicas, above: 0, for: 0s}
    # While bursting, base and cloud are loaded alike, so this ratio is the whole burst's utilisation:
    # below 0.9 there is more than the headroom to spare and the burst may shrink, but never below what
    # the peak of the last stabilizationWindow needs.
    scaleIn:
      any:
        - {signal: base.cpu.requestedRatio, below: 0.9, for: 0s}
  shift: {mode: static-weights, maxStep: "50%", interval: 30s}
  drain: {minBurstDuration: 5m, maxStep: "50%", interval: 30s, stabilizationWindow: 12m}
  limits:
    maxCloudNodes: 80
    maxHourlyCost: {amount: 400, currency: CNY}
  safety: {signalMaxAge: 2m, stockoutBackoff: 10m}
"""


def sample_policy() -> BurstPolicy:
    result = load_text(POLICY_YAML, "test-policy.yaml")
    assert not result.diagnostics
    return result.policies[0][1]


def alibaba_two_days() -> Scenario:
    """The first two days of alibaba-2018 (5-minute samples), POLICY_YAML and the bundled fleet."""
    lines = ALIBABA.read_text(encoding="utf-8").splitlines()[: 1 + 2 * 288]
    trace = parse_trace("\n".join(lines) + "\n", "alibaba-2018-2d")
    return build_scenario(sample_policy(), load_fleet(None), trace)


def test_spare_zero_gives_the_plain_baseline_figures() -> None:
    """Figures measured with the baseline before it had spare capacity (same trace slice, seed 0)."""
    s = alibaba_two_days()
    for r in (run_reactive(s), run_reactive(s, 0)):
        assert r.cost == pytest.approx(406.2, abs=0.005)
        assert r.unserved_replica_seconds == 259920.0
        assert r.demand_above_base_replica_seconds == 1926300.0
        assert r.actions == 145
        assert r.peak_cloud_nodes == 28
        assert r.bursts == 30
        assert r.replica_moves == 0
        assert r.weight_writes == 0
        assert r.details["scans"] == 714
        assert r.details["launches"] == 235


def test_spare_capacity_costs_more_and_serves_more() -> None:
    s = alibaba_two_days()
    runs = [run_reactive(s, spare) for spare in (0, 7, 14, 28)]
    costs = [r.cost for r in runs]
    unserved = [r.unserved_replica_seconds for r in runs]
    assert costs == sorted(costs)
    assert len(set(costs)) == len(costs)
    assert unserved == sorted(unserved, reverse=True)
    assert len(set(unserved)) == len(unserved)
    assert all(r.replica_moves == 0 and r.weight_writes == 0 for r in runs)
    assert runs[1].details["spare_replicas"] == 7


def test_one_node_of_spare_on_a_step() -> None:
    """Base 10, demand 5 then 24 from 600 s. Spare 7: the 7 pause pods fill the base's 5 free slots and 2
    are pending, so one node is launched at once (Ready at 180 s). At 600 s the 24 replicas take the base
    and that node (17), evicting the pause pods: 14 more replicas need 2 nodes, Ready at 780 s; the 7
    unserved replicas wait 180 s (without spare: 14 wait 180 s)."""
    plain = run_reactive(scenario(STEP, 6000))
    r = run_reactive(scenario(STEP, 6000), 7)
    assert value_at(r, r.series.nodes, 0) == 1
    assert value_at(r, r.series.capacity, 180) == 17
    assert value_at(r, r.series.served, 700) == 17
    assert value_at(r, r.series.nodes, 700) == 3
    assert r.unserved_replica_seconds == 7 * 180
    assert plain.unserved_replica_seconds == 14 * 180
    # when the demand drops back to 5, 2 pause pods still need a node: one stays to the end
    assert value_at(r, r.series.nodes, 5999) == 1
    assert r.cost > plain.cost


def test_negative_spare_is_refused() -> None:
    with pytest.raises(ValueError, match="spare_replicas"):
        run_reactive(scenario(STEP, 6000), -1)
