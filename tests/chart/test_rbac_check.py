"""The pieces of tests/e2e/test_chart_rbac.py's grants-vs-uses check, on their own: a request is named as
kube-apiserver's RBAC authorizer names it, and the chart's rendered rules (real helm) allow what they grant
and nothing else, so check (a) there can fail."""

from __future__ import annotations

import pytest
from e2e.chart_rbac import Grants, render_chart_rbac
from e2e.impersonating_proxy import RequestAttributes, request_attributes

from .helm import Helm

NS = "burstd-ops"


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/apis/cluster.karmada.io/v1alpha1/clusters", "", ("list", "cluster.karmada.io", "clusters", "")),
        ("GET", "/apis/cluster.karmada.io/v1alpha1/clusters", "watch=1", ("watch", "cluster.karmada.io", "clusters", "")),
        ("GET", "/apis/work.karmada.io/v1alpha2/namespaces/a/resourcebindings", "watch=true&timeoutSeconds=5",
         ("watch", "work.karmada.io", "resourcebindings", "a")),
        ("GET", "/api/v1/namespaces/a/configmaps/s", "", ("get", "", "configmaps", "a")),
        ("POST", "/api/v1/namespaces/a/configmaps", "", ("create", "", "configmaps", "a")),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/a/leases/l", "", ("update", "coordination.k8s.io", "leases", "a")),
        ("PATCH", "/apis/cluster.x-k8s.io/v1beta1/namespaces/a/machinedeployments/md/scale", "",
         ("patch", "cluster.x-k8s.io", "machinedeployments/scale", "a")),
        ("DELETE", "/api/v1/namespaces/a/pods/p", "", ("delete", "", "pods", "a")),
        ("DELETE", "/api/v1/namespaces/a/pods", "", ("deletecollection", "", "pods", "a")),
        ("GET", "/api/v1/namespaces/a", "", ("get", "", "namespaces", "a")),
    ],
)  # fmt: skip
def test_request_attributes(method: str, path: str, query: str, expected: tuple[str, str, str, str]) -> None:
    a = request_attributes(method, path, query)
    assert (a.verb, a.api_group, a.rbac_resource, a.namespace) == expected


def test_non_resource_urls_have_no_resource() -> None:
    for path in ("/version", "/api", "/apis", "/apis/cluster.x-k8s.io", "/healthz"):
        assert request_attributes("GET", path, "").resource == "", path


def test_the_charts_rules_allow_what_they_grant_and_nothing_else(helm: Helm) -> None:
    rbac = render_chart_rbac(helm, release="burstd", namespace=NS)
    assert rbac.service_account == f"system:serviceaccount:{NS}:burstd"
    karmada = Grants.bound_to(rbac.karmada, rbac.service_account)
    management = Grants.bound_to(rbac.management, rbac.service_account)
    pp = "policy.karmada.io"
    assert karmada.allows(RequestAttributes("patch", pp, "propagationpolicies", namespace="app"))
    assert not karmada.allows(RequestAttributes("delete", pp, "propagationpolicies", namespace="app"))
    assert not karmada.allows(RequestAttributes("list", "", "secrets", namespace="app"))
    assert not karmada.allows(RequestAttributes("get", "", "", path="/version"))  # non-resource: not granted
    # the Role holds only in the release namespace; the ClusterRole anywhere
    assert management.allows(RequestAttributes("update", "coordination.k8s.io", "leases", namespace=NS))
    assert not management.allows(RequestAttributes("update", "coordination.k8s.io", "leases", namespace="x"))
    capi = "cluster.x-k8s.io"
    assert management.allows(RequestAttributes("patch", capi, "machinedeployments", "scale", namespace="x"))
    assert not management.allows(RequestAttributes("patch", capi, "machinedeployments", namespace="x"))
    # a binding to someone else binds nothing to the ServiceAccount
    assert Grants.bound_to(rbac.karmada, "system:serviceaccount:other:burstd").rules == ()
    assert ("create", "events.k8s.io", "events") in karmada.granted() & management.granted()
