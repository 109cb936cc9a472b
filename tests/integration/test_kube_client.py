"""burstd.kube.client against the real kube-apiserver: verbs, server-side apply, /scale, and how API
errors are classified (409 Conflict, 422 Invalid, 403 Forbidden, 404 NotFound) without leaking tokens."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes_asyncio import client as k8s

from burstd.kube import errors
from burstd.kube.client import (
    MACHINE_DEPLOYMENTS,
    MACHINE_DEPLOYMENTS_V1BETA1,
    PROPAGATION_POLICIES,
    KubeClient,
    Resource,
)
from burstd.kube.retry import Backoff, call_with_retry, retry_on_conflict

from .controlplane import ControlPlane
from .objects import machine_deployment, unique

T = TypeVar("T")
NAMESPACES = Resource("", "v1", "namespaces", False, "Namespace")


def run(kubeconfig: Path, body: Callable[[KubeClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await KubeClient.from_kubeconfig(str(kubeconfig)) as kube:
            return await body(kube)

    return asyncio.run(main())


def make_namespace(plane: ControlPlane) -> str:
    ns = unique("kc")
    status, body = plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201, body
    return ns


def policy(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}],
            "placement": {
                "clusterAffinity": {"clusterNames": ["base", "cloud"]},
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                },
            },
        },
    }


def weights_apply(name: str, ns: str, base: int, cloud: int) -> dict[str, Any]:
    """The partial object burstd applies: only the static weight list (and what identifies the object)."""
    return {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "placement": {
                "replicaScheduling": {
                    "weightPreference": {
                        "staticWeightList": [
                            {"targetCluster": {"clusterNames": ["base"]}, "weight": base},
                            {"targetCluster": {"clusterNames": ["cloud"]}, "weight": cloud},
                        ]
                    }
                }
            }
        },
    }


def assert_no_token(plane: ControlPlane, exc: BaseException) -> None:
    for text in (str(exc), repr(exc), getattr(exc, "message", "")):
        assert plane.token not in text
        assert plane.unprivileged_token not in text


def test_create_get_list_merge_patch_delete(control_plane: ControlPlane) -> None:
    ns, name = make_namespace(control_plane), unique("pp")

    async def body(kube: KubeClient) -> tuple[dict[str, Any], ...]:
        created = await kube.create(PROPAGATION_POLICIES, policy(name, ns), ns)
        got = await kube.get(PROPAGATION_POLICIES, name, ns)
        listed = await kube.list(PROPAGATION_POLICIES, ns)
        everywhere = await kube.list(PROPAGATION_POLICIES)  # all namespaces
        patched = await kube.merge_patch(PROPAGATION_POLICIES, name, {"spec": {"priority": 7}}, ns)
        await kube.delete(PROPAGATION_POLICIES, name, ns)
        with pytest.raises(errors.NotFound) as gone:
            await kube.get(PROPAGATION_POLICIES, name, ns)
        assert f"{ns}/{name}" in str(gone.value)
        return (
            created,
            got,
            {"names": [i["metadata"]["name"] for i in listed.items], "rv": listed.resource_version},
            {"names": [i["metadata"]["name"] for i in everywhere.items]},
            patched,
        )

    created, got, listed, everywhere, patched = run(control_plane.kubeconfig, body)
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    assert listed["names"] == [name]
    assert int(listed["rv"]) >= int(created["metadata"]["resourceVersion"])
    assert name in everywhere["names"]
    assert patched["spec"]["priority"] == 7
    # A merge patch, not a JSON patch and not a replace: the rest of the spec is untouched.
    assert patched["spec"]["placement"] == created["spec"]["placement"]


def test_server_side_apply_owns_weights_and_conflicts_without_force(control_plane: ControlPlane) -> None:
    ns, name = make_namespace(control_plane), unique("pp")

    async def body(kube: KubeClient) -> tuple[dict[str, Any], errors.Conflict, dict[str, Any]]:
        await kube.create(PROPAGATION_POLICIES, policy(name, ns), ns)
        mine = await kube.apply(
            PROPAGATION_POLICIES, weights_apply(name, ns, 1, 3), field_manager="burstd", namespace=ns
        )
        with pytest.raises(errors.Conflict) as conflict:
            await kube.apply(
                PROPAGATION_POLICIES, weights_apply(name, ns, 5, 1), field_manager="gitops", namespace=ns
            )
        forced = await kube.apply(
            PROPAGATION_POLICIES,
            weights_apply(name, ns, 5, 1),
            field_manager="gitops",
            force=True,
            namespace=ns,
        )
        return mine, conflict.value, forced

    mine, conflict, forced = run(control_plane.kubeconfig, body)
    weights = mine["spec"]["placement"]["replicaScheduling"]["weightPreference"]["staticWeightList"]
    assert [w["weight"] for w in weights] == [1, 3]
    assert mine["spec"]["resourceSelectors"][0]["name"] == "web"  # apply of a partial object kept the rest
    managers = {m["manager"]: m for m in mine["metadata"]["managedFields"]}
    assert managers["burstd"]["operation"] == "Apply"
    assert "f:staticWeightList" in str(managers["burstd"]["fieldsV1"])
    assert conflict.status == 409
    assert "burstd" in str(conflict)
    assert name in str(conflict)
    assert_no_token(control_plane, conflict)
    forced_weights = forced["spec"]["placement"]["replicaScheduling"]["weightPreference"]["staticWeightList"]
    assert [w["weight"] for w in forced_weights] == [5, 1]


@pytest.mark.parametrize("resource", [MACHINE_DEPLOYMENTS, MACHINE_DEPLOYMENTS_V1BETA1], ids=str)
def test_scale_subresource(control_plane: ControlPlane, resource: Resource) -> None:
    ns, name = make_namespace(control_plane), unique("pool")

    async def body(kube: KubeClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        await kube.create(MACHINE_DEPLOYMENTS, machine_deployment(name, 1), ns)
        before = await kube.get_scale(resource, name, ns)
        after = await kube.patch_scale(resource, name, 4, ns)
        md = await kube.get(resource, name, ns)
        return before, after, md

    before, after, md = run(control_plane.kubeconfig, body)
    assert before["kind"] == "Scale"
    assert before["spec"]["replicas"] == 1
    assert after["spec"]["replicas"] == 4
    assert md["apiVersion"] == resource.api_version
    assert md["spec"]["replicas"] == 4


def test_invalid_object_is_reported_as_a_bug_naming_it(control_plane: ControlPlane) -> None:
    ns, name = make_namespace(control_plane), unique("pp")

    async def body(kube: KubeClient) -> errors.Invalid:
        await kube.create(PROPAGATION_POLICIES, policy(name, ns), ns)
        with pytest.raises(errors.Invalid) as exc:
            await kube.apply(
                PROPAGATION_POLICIES, weights_apply(name, ns, 0, 2), field_manager="burstd", namespace=ns
            )
        return exc.value

    invalid = run(control_plane.kubeconfig, body)
    text = str(invalid)
    assert invalid.status == 422
    assert "bug" in text
    assert f"PropagationPolicy {ns}/{name}" in text
    assert invalid.causes, text
    assert "staticWeightList[0].weight" in text  # the server's cause: weight has minimum 1
    assert_no_token(control_plane, invalid)


def test_forbidden_names_verb_and_resource(control_plane: ControlPlane, tmp_path: Path) -> None:
    user = control_plane.write_kubeconfig(
        tmp_path / "user.kubeconfig", token=control_plane.unprivileged_token
    )
    ns = make_namespace(control_plane)

    async def body(kube: KubeClient) -> tuple[errors.Forbidden, errors.Forbidden]:
        with pytest.raises(errors.Forbidden) as listing:
            await kube.list(PROPAGATION_POLICIES, ns)
        with pytest.raises(errors.Forbidden) as scaling:
            await kube.patch_scale(MACHINE_DEPLOYMENTS, "pool", 3, ns)
        return listing.value, scaling.value

    listing, scaling = run(user, body)
    assert listing.status == 403
    assert 'RBAC problem: burstd is not allowed to "list"' in str(listing)
    assert '"propagationpolicies" in API group "policy.karmada.io"' in str(listing)
    assert f"namespace {ns}" in str(listing)
    assert '"patch"' in str(scaling)
    assert '"machinedeployments/scale"' in str(scaling)
    assert "RBAC" in str(scaling)
    for exc in (listing, scaling):
        assert_no_token(control_plane, exc)


def test_not_found_and_unauthorized(control_plane: ControlPlane, tmp_path: Path) -> None:
    bad = control_plane.write_kubeconfig(tmp_path / "bad.kubeconfig", token="not-a-valid-token-0123456789")

    async def missing(kube: KubeClient) -> errors.NotFound:
        with pytest.raises(errors.NotFound) as exc:
            await kube.get(MACHINE_DEPLOYMENTS, "nope", "default")
        return exc.value

    async def unauthorized(kube: KubeClient) -> errors.Unauthorized:
        with pytest.raises(errors.Unauthorized) as exc:
            await kube.list(PROPAGATION_POLICIES, "default")
        return exc.value

    not_found = run(control_plane.kubeconfig, missing)
    assert not_found.status == 404
    assert "MachineDeployment default/nope" in str(not_found)
    assert_no_token(control_plane, not_found)
    denied = run(bad, unauthorized)
    assert denied.status == 401
    assert "not-a-valid-token-0123456789" not in str(denied)


def test_redact_removes_bearer_tokens_and_secrets() -> None:
    text = errors.redact("Authorization: Bearer abc.DEF-123 and s3cr3t", ["s3cr3t"])
    assert "abc.DEF-123" not in text
    assert "s3cr3t" not in text


def test_transient_errors_are_retried_with_bounded_backoff() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise errors.classify(429 if len(calls) == 1 else 503, {"message": "slow down"}, None)
        return "ok"

    async def always() -> str:
        calls.append(1)
        raise errors.classify(500, b'{"message": "boom"}', None)

    fast = Backoff(attempts=4, initial=0.001, max_delay=0.01, jitter=0.001)
    assert asyncio.run(call_with_retry(flaky, fast)) == "ok"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(errors.ServerError):
        asyncio.run(call_with_retry(always, fast))
    assert len(calls) == 4  # bounded
    calls.clear()

    async def conflict() -> str:
        calls.append(1)
        raise errors.classify(409, {"message": "changed"}, None)

    with pytest.raises(errors.Conflict):  # not transient: the caller re-reads
        asyncio.run(call_with_retry(conflict, fast))
    assert len(calls) == 1


def test_conflict_on_stale_resource_version_is_re_read_and_retried(control_plane: ControlPlane) -> None:
    ns, name = make_namespace(control_plane), unique("pp")

    async def body(kube: KubeClient) -> tuple[errors.Conflict, int, int]:
        created = await kube.create(PROPAGATION_POLICIES, policy(name, ns), ns)
        stale = created["metadata"]["resourceVersion"]
        await kube.merge_patch(PROPAGATION_POLICIES, name, {"spec": {"priority": 1}}, ns)  # someone else
        with pytest.raises(errors.Conflict) as conflict:
            await kube.merge_patch(
                PROPAGATION_POLICIES,
                name,
                {"metadata": {"resourceVersion": stale}, "spec": {"priority": 2}},
                ns,
            )
        reads: list[str] = [stale]  # the first attempt uses the stale read, then re-reads

        async def bump() -> dict[str, Any]:
            rv = (
                reads.pop()
                if reads
                else (await kube.get(PROPAGATION_POLICIES, name, ns))["metadata"]["resourceVersion"]
            )
            patch = {"metadata": {"resourceVersion": rv}, "spec": {"priority": 3}}
            return await kube.merge_patch(PROPAGATION_POLICIES, name, patch, ns)

        done = await retry_on_conflict(bump, attempts=3)
        return conflict.value, int(done["spec"]["priority"]), len(reads)

    conflict, priority, left = run(control_plane.kubeconfig, body)
    assert conflict.status == 409
    assert f"PropagationPolicy {ns}/{name}" in str(conflict)
    assert priority == 3
    assert left == 0


# ------------------------------------------------------------------------------------------ deadlines

STALL_TIMEOUT = 0.2  # requestTimeout of the clients below
STALL_BOUND = 20.0  # the test's own bound: far above every deadline the client should keep


@contextlib.contextmanager
def stalled_api_server() -> Iterator[str]:
    """A loopback TCP server that accepts connections (in the kernel) and never answers: an API server
    that hangs. Yields its URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def stalled_client(url: str, backoff: Backoff) -> KubeClient:
    cfg = k8s.Configuration(host=url)
    return KubeClient(k8s.ApiClient(cfg), backoff=backoff, request_timeout=STALL_TIMEOUT)


ONE_RETRY = Backoff(attempts=2, initial=0.01, max_delay=0.01, jitter=0.0, deadline=STALL_BOUND / 2)


@pytest.mark.parametrize(
    "verb",
    ["get", "list", "merge_patch", "apply", "get_scale", "patch_scale", "get_configmap", "replace_lease"],
)
def test_a_call_to_an_api_server_that_never_answers_fails_within_its_deadline(verb: str) -> None:
    calls: dict[str, Callable[[KubeClient], Awaitable[Any]]] = {
        "get": lambda k: k.get(MACHINE_DEPLOYMENTS, "md", "ns"),
        "list": lambda k: k.list(MACHINE_DEPLOYMENTS, "ns"),
        "merge_patch": lambda k: k.merge_patch(PROPAGATION_POLICIES, "web", {"spec": {"priority": 1}}, "ns"),
        "apply": lambda k: k.apply(
            PROPAGATION_POLICIES, weights_apply("web", "ns", 1, 1), field_manager="t", namespace="ns"
        ),
        "get_scale": lambda k: k.get_scale(MACHINE_DEPLOYMENTS, "md", "ns"),
        "patch_scale": lambda k: k.patch_scale(MACHINE_DEPLOYMENTS, "md", 3, "ns"),
        "get_configmap": lambda k: k.get_configmap("ns", "burstd-state-web"),
        "replace_lease": lambda k: k.replace_lease("ns", "burstd-leader", {"metadata": {"name": "x"}}),
    }

    async def main(url: str) -> errors.KubeError:
        async with stalled_client(url, ONE_RETRY) as kube, asyncio.timeout(STALL_BOUND):
            with pytest.raises(errors.KubeError) as caught:
                await calls[verb](kube)
            return caught.value

    with stalled_api_server() as url:
        error = asyncio.run(main(url))
    assert isinstance(error, errors.ServerError)  # retryable: the next round tries again
    assert error.status == 0
    assert f"no answer within {STALL_TIMEOUT:g} s" in str(error)
    assert "cannot reach the API server" in str(error)


def test_retries_of_a_call_fit_within_the_backoff_deadline() -> None:
    """Without a hard bound the retries of a hung call add up: attempts * requestTimeout + waits."""
    many = Backoff(attempts=1000, initial=0.01, max_delay=0.01, jitter=0.0, deadline=1.0)

    async def main(url: str) -> errors.KubeError:
        async with stalled_client(url, many) as kube, asyncio.timeout(STALL_BOUND):
            with pytest.raises(errors.KubeError) as caught:
                await kube.get(MACHINE_DEPLOYMENTS, "md", "ns")
            return caught.value

    with stalled_api_server() as url:
        error = asyncio.run(main(url))
    assert isinstance(error, errors.ServerError)
    assert "no answer within 1 s (all attempts)" in str(error)
