"""burstd.runtime.events against the real kube-apiserver: ``events.k8s.io/v1`` Events as burstd writes them,
what happens without RBAC, in dry-run, and to secrets and long notes."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from burstd.kube.client import KubeClient
from burstd.runtime.events import NOTE_LIMIT, EventRecorder, RecordingSink
from burstd.runtime.eventsink import EventSink, ObjectRef

from .controlplane import ControlPlane
from .objects import unique

MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def make_namespace(plane: ControlPlane) -> str:
    ns = unique("ev")
    status, body = plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201, body
    return ns


def events_in(plane: ControlPlane, ns: str) -> list[dict[str, Any]]:
    status, body = plane.request("GET", f"/apis/events.k8s.io/v1/namespaces/{ns}/events")
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


def emit_all(kubeconfig: Path, calls: list[tuple[ObjectRef, str, str, str]], **kwargs: Any) -> None:
    async def main() -> None:
        async with await KubeClient.from_kubeconfig(str(kubeconfig)) as kube:
            recorder: EventSink = EventRecorder(kube, **kwargs)
            for regarding, reason, action, note in calls:
                await recorder.emit(regarding, "Normal", reason, action, note)

    asyncio.run(main())


def test_event_on_a_namespaced_object(control_plane: ControlPlane) -> None:
    ns = make_namespace(control_plane)
    md = ObjectRef("cluster.x-k8s.io/v1beta2", "MachineDeployment", "cloud-pool", ns, uid="uid-123")
    emit_all(
        control_plane.kubeconfig,
        [(md, "ScaledUp", "ScalePool", "scaled MachineDeployment cloud-pool from 1 to 3 nodes")],
        instance="burstd-0",
    )
    (event,) = events_in(control_plane, ns)
    assert event["metadata"]["name"].startswith("cloud-pool.")
    assert event["regarding"] == {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "MachineDeployment",
        "name": "cloud-pool",
        "namespace": ns,
        "uid": "uid-123",
    }
    assert event["type"] == "Normal"
    assert event["reason"] == "ScaledUp"
    assert event["action"] == "ScalePool"
    assert event["note"] == "scaled MachineDeployment cloud-pool from 1 to 3 nodes"
    assert event["reportingController"] == "burstd.io/burstd"
    assert event["reportingInstance"] == "burstd-0"
    assert MICRO_TIME.match(event["eventTime"]), event["eventTime"]


def test_event_on_a_cluster_scoped_object_goes_to_default(
    control_plane: ControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    """The API server accepts Events about cluster-scoped objects only in ``default``; another namespace
    given to the recorder is reported and not used."""
    name = unique("cloud")
    cluster = ObjectRef("cluster.karmada.io/v1alpha1", "Cluster", name)
    with caplog.at_level(logging.WARNING, logger="burstd.events"):
        emit_all(
            control_plane.kubeconfig,
            [(cluster, "BurstStarted", "ScalePool", "base cluster is out of capacity")],
            namespace="burstd-system",
            instance="burstd-0",
        )
    assert "go to namespace default, not burstd-system" in caplog.text
    assert "cannot record" not in caplog.text
    (event,) = [e for e in events_in(control_plane, "default") if e["regarding"]["name"] == name]
    assert event["regarding"] == {
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "name": name,
    }
    assert event["reason"] == "BurstStarted"


def test_secrets_are_redacted_and_long_notes_truncated(control_plane: ControlPlane) -> None:
    ns = make_namespace(control_plane)
    md = ObjectRef("cluster.x-k8s.io/v1beta2", "MachineDeployment", "cloud-pool", ns)
    secret_note = (
        f"cloud call failed: SecretKey=abcDEF0123456789xyz header Authorization: Bearer {control_plane.token} "
        "key AKIDabcdefgh12345678"
    )
    long_note = "€" * 2000  # 6000 bytes: far over the server's limit
    emit_all(
        control_plane.kubeconfig,
        [(md, "ProviderError", "ScalePool", secret_note), (md, "Long", "ScalePool", long_note)],
        instance="burstd-0",
    )
    by_reason = {e["reason"]: e for e in events_in(control_plane, ns)}
    note = by_reason["ProviderError"]["note"]
    for secret in ("abcDEF0123456789xyz", control_plane.token, "AKIDabcdefgh12345678"):
        assert secret not in note
    assert "<redacted>" in note
    assert note.startswith("cloud call failed:")
    long = by_reason["Long"]["note"]
    assert len(long.encode()) <= NOTE_LIMIT
    assert long.startswith("€" * 300)
    assert long.endswith("…")


def test_forbidden_emit_logs_a_warning_and_does_not_raise(
    control_plane: ControlPlane, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ns = make_namespace(control_plane)
    user = control_plane.write_kubeconfig(
        tmp_path / "user.kubeconfig", token=control_plane.unprivileged_token
    )
    md = ObjectRef("cluster.x-k8s.io/v1beta2", "MachineDeployment", "cloud-pool", ns)
    with caplog.at_level(logging.WARNING, logger="burstd.events"):
        emit_all(user, [(md, "ScaledUp", "ScalePool", "scaled")], instance="burstd-0")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "cannot record event ScaledUp on MachineDeployment" in warnings[0]
    assert (
        'RBAC problem: burstd is not allowed to "create" resource "events" in API group "events.k8s.io"'
        in (warnings[0])
    )
    assert control_plane.unprivileged_token not in caplog.text
    assert events_in(control_plane, ns) == []


def test_unreachable_server_logs_a_warning_and_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    class Down:
        async def create_event(self, namespace: str, body: Any) -> dict[str, Any]:
            raise OSError("connection refused")

    md = ObjectRef("cluster.x-k8s.io/v1beta2", "MachineDeployment", "cloud-pool", "default")
    with caplog.at_level(logging.WARNING, logger="burstd.events"):
        asyncio.run(EventRecorder(Down(), instance="i").emit(md, "Warning", "R", "A", "n"))
    assert "cannot record event R on MachineDeployment default/cloud-pool: OSError: connection refused" in (
        caplog.text
    )


def test_dry_run_writes_nothing_and_says_what_it_would_record(
    control_plane: ControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    ns = make_namespace(control_plane)
    md = ObjectRef("cluster.x-k8s.io/v1beta2", "MachineDeployment", "cloud-pool", ns)
    with caplog.at_level(logging.INFO, logger="burstd.events"):
        emit_all(
            control_plane.kubeconfig,
            [(md, "ScaledUp", "ScalePool", "scaled from 1 to 3")],
            instance="burstd-0",
            dry_run=True,
        )
    assert events_in(control_plane, ns) == []
    assert "would record event Normal ScalePool/ScaledUp on MachineDeployment" in caplog.text
    assert "scaled from 1 to 3" in caplog.text


def test_recording_sink_keeps_events_in_order() -> None:
    sink = RecordingSink()
    md = ObjectRef("cluster.x-k8s.io/v1beta2", "MachineDeployment", "p", "ns")

    async def main(s: EventSink) -> None:
        await s.emit(md, "Normal", "ScaledUp", "ScalePool", "one")
        await s.emit(md, "Warning", "Held", "Hold", "two")

    asyncio.run(main(sink))
    assert sink.reasons() == ["ScaledUp", "Held"]
    assert sink.events[1].type == "Warning"
    assert sink.events[1].note == "two"
