"""The Warning Events of a policy held for naming another policy's target (``TargetConflict``), as the real
kube-apiserver stores them: one ``PolicyConflict`` Event on each contested object, naming both policies."""

from __future__ import annotations

import asyncio

from burstd.kube.client import KubeClient
from burstd.policy.claims import Claim, Conflict, Target
from burstd.runtime.conflicts import EVENT_REASON, announce
from burstd.runtime.events import EventRecorder

from .controlplane import ControlPlane
from .test_events import events_in, make_namespace


def test_each_contested_object_gets_one_warning_naming_both_policies(control_plane: ControlPlane) -> None:
    ns = make_namespace(control_plane)
    pool = ("spec", "burst", "pools", 0, "ref")
    workload = ("spec", "workloads", 0, "propagationPolicy")
    conflicts = [
        Conflict(
            Claim(Target("PropagationPolicy", f"{ns}/web"), "web-a", workload),
            Claim(Target("PropagationPolicy", f"{ns}/web"), "web-b", workload),
        ),
        Conflict(
            Claim(Target("MachineDeployment", f"{ns}/md-0"), "web-a", pool),
            Claim(Target("MachineDeployment", f"{ns}/md-0"), "web-b", pool),
        ),
        Conflict(  # a native node pool is no Kubernetes object: no Event
            Claim(Target("tke-nodepool", "cls-1/np-1"), "web-a", pool),
            Claim(Target("tke-nodepool", "cls-1/np-1"), "web-b", pool),
        ),
    ]

    async def main() -> None:
        async with await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kube:
            recorder = EventRecorder(kube, instance="burstd-0")
            # one API server plays both roles here
            await announce(conflicts, {"karmada": recorder, "management": recorder}, "v1beta2")

    asyncio.run(main())
    events = sorted(events_in(control_plane, ns), key=lambda e: e["regarding"]["kind"])
    assert [(e["type"], e["reason"], e["action"]) for e in events] == [
        ("Warning", EVENT_REASON, "HoldPolicy")
    ] * 2
    assert [e["regarding"] for e in events] == [
        {
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "MachineDeployment",
            "name": "md-0",
            "namespace": ns,
        },
        {
            "apiVersion": "policy.karmada.io/v1alpha1",
            "kind": "PropagationPolicy",
            "name": "web",
            "namespace": ns,
        },
    ]
    for event in events:
        assert "policy web-b" in event["note"]
        assert "policy web-a" in event["note"]
        assert "policy web-b is held" in event["note"]
