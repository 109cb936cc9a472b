"""Smoke tests of the test control plane with the real client burstd uses (kubernetes_asyncio).

They prove the fixture gives what the integration and e2e tests rely on: the upstream Karmada and
Cluster API CRDs are served (both CAPI versions), the test-only Karmada Cluster CRD schema-checks its
status through the status subresource, and the MachineDeployment /scale subresource works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.rest import ApiException

from .controlplane import ControlPlane
from .objects import machine_deployment, unique

T = TypeVar("T")
MERGE = "application/merge-patch+json"
CAPI = "cluster.x-k8s.io"
KARMADA_CLUSTER = ("cluster.karmada.io", "v1alpha1", "clusters")


def run(plane: ControlPlane, body: Callable[[client.ApiClient], Awaitable[T]]) -> T:
    """Run ``body(api_client)`` on a fresh event loop with an admin client from the kubeconfig."""

    async def main() -> T:
        cfg = client.Configuration()
        await config.load_kube_config(config_file=str(plane.kubeconfig), client_configuration=cfg)
        async with client.ApiClient(cfg) as api:
            return await body(api)

    return asyncio.run(main())


def cluster_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "labels": {"burstd.io/role": "base"}},
        "spec": {"syncMode": "Push", "apiEndpoint": "https://10.0.0.1:6443", "region": "on-prem"},
        # Ignored on create: the CRD has a status subresource.
        "status": {"kubernetesVersion": "v0.0.0-must-be-dropped"},
    }


async def create_namespace(api: client.ApiClient, name: str) -> None:
    await client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))


def custom_objects(api: client.ApiClient) -> Any:
    """CustomObjectsApi, typed Any: kubernetes_asyncio 36.1.0's stubs omit the ``_content_type`` keyword
    that its methods accept (and that every PATCH must pass)."""
    return client.CustomObjectsApi(api)


def test_apiserver_version_and_admin(control_plane: ControlPlane) -> None:
    async def body(api: client.ApiClient) -> Any:
        return await client.VersionApi(api).get_code()

    info = run(control_plane, body)
    assert info.major == "1"
    assert int(info.minor.rstrip("+")) >= 34


def test_unprivileged_user_is_forbidden_by_rbac(control_plane: ControlPlane, tmp_path: Any) -> None:
    kubeconfig = control_plane.write_kubeconfig(
        tmp_path / "user.kubeconfig", token=control_plane.unprivileged_token
    )

    async def main() -> int:
        cfg = client.Configuration()
        await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        async with client.ApiClient(cfg) as api:
            with pytest.raises(ApiException) as exc:
                await client.CustomObjectsApi(api).list_cluster_custom_object(*KARMADA_CLUSTER)
            return int(exc.value.status)

    assert asyncio.run(main()) == 403


@pytest.mark.parametrize(
    ("group", "version", "plural", "namespaced"),
    [
        ("policy.karmada.io", "v1alpha1", "propagationpolicies", True),
        ("policy.karmada.io", "v1alpha1", "clusterpropagationpolicies", False),
        ("work.karmada.io", "v1alpha2", "resourcebindings", True),
        ("work.karmada.io", "v1alpha1", "resourcebindings", True),
        ("autoscaling.karmada.io", "v1alpha1", "federatedhpas", True),
        ("apps.karmada.io", "v1alpha1", "workloadrebalancers", False),
        ("cluster.karmada.io", "v1alpha1", "clusters", False),
        (CAPI, "v1beta2", "machinedeployments", True),
        (CAPI, "v1beta1", "machinedeployments", True),
        (CAPI, "v1beta2", "machinepools", True),
        (CAPI, "v1beta1", "machinepools", True),
        (CAPI, "v1beta2", "machines", True),
        (CAPI, "v1beta1", "machines", True),
    ],
)
def test_crds_are_served(
    control_plane: ControlPlane, group: str, version: str, plural: str, namespaced: bool
) -> None:
    async def body(api: client.ApiClient) -> dict[str, Any]:
        co = custom_objects(api)
        if namespaced:
            result: dict[str, Any] = await co.list_namespaced_custom_object(group, version, "default", plural)
        else:
            result = await co.list_cluster_custom_object(group, version, plural)
        return result

    listed = run(control_plane, body)
    assert listed["apiVersion"] == f"{group}/{version}"
    assert listed["items"] == [] or isinstance(listed["items"], list)
    assert listed["metadata"]["resourceVersion"]


def test_karmada_cluster_status_roundtrip(control_plane: ControlPlane) -> None:
    name = unique("base")
    status = {
        "kubernetesVersion": "v1.35.4",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "ClusterReady",
                "message": "cluster is healthy and ready to accept workloads",
                "lastTransitionTime": "2026-11-22T00:00:00Z",
            }
        ],
        "nodeSummary": {"totalNum": 4, "readyNum": 4},
        "resourceSummary": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "440"},
            "allocated": {"cpu": "52500m", "memory": "190Gi", "pods": "120"},
            "allocating": {"cpu": "6", "memory": "12Gi", "pods": 8},
            "allocatableModelings": [{"grade": 0, "count": 1}, {"grade": 3, "count": 3}],
        },
    }

    async def body(api: client.ApiClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        co = custom_objects(api)
        created: dict[str, Any] = await co.create_cluster_custom_object(*KARMADA_CLUSTER, cluster_body(name))
        patched: dict[str, Any] = await co.patch_cluster_custom_object_status(
            *KARMADA_CLUSTER, name, {"status": status}, _content_type=MERGE
        )
        read: dict[str, Any] = await co.get_cluster_custom_object(*KARMADA_CLUSTER, name)
        return created, patched, read

    created, patched, read = run(control_plane, body)
    assert "status" not in created or created["status"].get("kubernetesVersion") is None
    assert patched["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    assert read["status"] == status
    assert read["spec"]["syncMode"] == "Push"
    # A status write does not bump the generation (status subresource semantics).
    assert read["metadata"]["generation"] == created["metadata"]["generation"] == 1


@pytest.mark.parametrize(
    ("bad_status", "field"),
    [
        (
            {"resourceSummary": {"allocatable": {"cpu": {"cores": 64}}}},
            "status.resourceSummary.allocatable.cpu",
        ),
        ({"resourceSummary": {"allocated": {"memory": "lots"}}}, "status.resourceSummary.allocated.memory"),
        ({"resourceSummary": {"allocating": ["cpu", "1"]}}, "status.resourceSummary.allocating"),
        ({"nodeSummary": {"readyNum": "four"}}, "status.nodeSummary.readyNum"),
        ({"conditions": [{"type": "Ready", "status": "Yes"}]}, "status.conditions[0]"),
    ],
    ids=["quantity-object", "quantity-pattern", "resourcelist-array", "int32-string", "condition"],
)
def test_invalid_cluster_status_is_rejected(
    control_plane: ControlPlane, bad_status: dict[str, Any], field: str
) -> None:
    name = unique("bad")

    async def body(api: client.ApiClient) -> ApiException:
        co = custom_objects(api)
        await co.create_cluster_custom_object(*KARMADA_CLUSTER, cluster_body(name))
        with pytest.raises(ApiException) as exc:
            await co.patch_cluster_custom_object_status(
                *KARMADA_CLUSTER, name, {"status": bad_status}, _content_type=MERGE
            )
        return exc.value

    err = run(control_plane, body)
    assert err.status == 422, err.body
    assert field in str(err.body), err.body


def test_invalid_cluster_spec_is_rejected(control_plane: ControlPlane) -> None:
    bad = cluster_body(unique("bad-spec"))
    bad["spec"]["syncMode"] = "Sideways"

    async def body(api: client.ApiClient) -> int:
        with pytest.raises(ApiException) as exc:
            await client.CustomObjectsApi(api).create_cluster_custom_object(*KARMADA_CLUSTER, bad)
        return int(exc.value.status)

    assert run(control_plane, body) == 422


def test_machinedeployment_scale_subresource(control_plane: ControlPlane) -> None:
    ns, name = unique("capi"), unique("burst-pool")

    async def body(
        api: client.ApiClient,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        co = custom_objects(api)
        await create_namespace(api, ns)
        await co.create_namespaced_custom_object(
            CAPI, "v1beta2", ns, "machinedeployments", machine_deployment(name, 1)
        )
        scale: dict[str, Any] = await co.patch_namespaced_custom_object_scale(
            CAPI, "v1beta2", ns, "machinedeployments", name, {"spec": {"replicas": 3}}, _content_type=MERGE
        )
        md: dict[str, Any] = await co.get_namespaced_custom_object(
            CAPI, "v1beta2", ns, "machinedeployments", name
        )
        # The deprecated v1beta1 endpoint serves the same object and the same /scale.
        scale_v1: dict[str, Any] = await co.patch_namespaced_custom_object_scale(
            CAPI, "v1beta1", ns, "machinedeployments", name, {"spec": {"replicas": 2}}, _content_type=MERGE
        )
        md_v1: dict[str, Any] = await co.get_namespaced_custom_object(
            CAPI, "v1beta1", ns, "machinedeployments", name
        )
        return scale, md, scale_v1, md_v1

    scale, md, scale_v1, md_v1 = run(control_plane, body)
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 3
    assert md["spec"]["replicas"] == 3
    assert scale_v1["spec"]["replicas"] == 2
    assert md_v1["apiVersion"] == f"{CAPI}/v1beta1"
    assert md_v1["spec"]["replicas"] == 2
