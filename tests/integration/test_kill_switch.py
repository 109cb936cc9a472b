"""The kill switch read against the real kube-apiserver: absent (404) is not paused, ``data.paused: "true"``
holds, anything else runs, and a deleted ConfigMap releases it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from burstd.kube.client import KubeClient
from burstd.runtime.pause import KillSwitch

from .controlplane import ControlPlane
from .objects import unique

NAME = "burstd-control"


def test_the_kill_switch_follows_its_configmap(
    control_plane: ControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    ns = unique("ks")
    status, body = control_plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201, body
    path = f"/api/v1/namespaces/{ns}/configmaps"

    async def main() -> list[bool]:
        seen: list[bool] = []
        async with await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kube:
            switch = KillSwitch(kube, ns, NAME)
            seen.append(await switch.read())  # no ConfigMap yet
            cm = {"metadata": {"name": NAME}, "data": {"paused": "true"}}
            status, body = control_plane.request("POST", path, cm)
            assert status == 201, body
            seen.append(await switch.read())
            patch = {"data": {"paused": "false"}}
            status, body = control_plane.request(
                "PATCH", f"{path}/{NAME}", patch, content_type="application/merge-patch+json"
            )
            assert status == 200, body
            seen.append(await switch.read())
            patch = {"data": {"paused": "true"}}
            status, body = control_plane.request(
                "PATCH", f"{path}/{NAME}", patch, content_type="application/merge-patch+json"
            )
            assert status == 200, body
            seen.append(await switch.read())
            status, body = control_plane.request("DELETE", f"{path}/{NAME}")
            assert status == 200, body
            seen.append(await switch.read())
        return seen

    with caplog.at_level(logging.INFO, logger="burstd.runtime"):
        assert asyncio.run(main()) == [False, True, False, True, False]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    changes = [r.getMessage() for r in caplog.records if "kill switch o" in r.getMessage()]
    assert [m.split(" (")[0] for m in changes] == [
        "kill switch on",
        "kill switch off",
        "kill switch on",
        "kill switch off",
    ]
