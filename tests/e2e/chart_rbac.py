"""The chart's RBAC for a kubeconfig identity, rendered by real helm, applied to the bed's API servers, and
evaluated as the RBAC authorizer does.

``render_chart_rbac`` runs ``helm template`` on ``charts/burstd`` with the release in burstd's namespace,
once in full (to read the chart's ServiceAccount) and once per side with ``--show-only
templates/karmada-rbac.yaml`` / ``templates/management-rbac.yaml``, the rules bound to that ServiceAccount;
``apply`` creates the objects on an API server; ``Grants`` answers whether a request is allowed by the
rendered rules and lists every (verb, group, resource) they grant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chart.helm import Helm
from integration.controlplane import ControlPlane
from ruamel.yaml import YAML

from .impersonating_proxy import RequestAttributes

RBAC = "/apis/rbac.authorization.k8s.io/v1"


@dataclass(frozen=True)
class ChartRbac:
    service_account: str
    """``system:serviceaccount:<namespace>:<name>``: the user the pods run as."""
    namespace: str
    karmada: list[dict[str, Any]]
    management: list[dict[str, Any]]

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups the API server gives that ServiceAccount's tokens."""
        return ("system:serviceaccounts", f"system:serviceaccounts:{self.namespace}", "system:authenticated")


def _template(helm: Helm, release: str, namespace: str, *extra: str) -> list[dict[str, Any]]:
    res = helm.run("template", release, str(helm.chart), "--namespace", namespace, *extra)
    if res.returncode != 0:
        raise AssertionError(f"helm template {' '.join(extra)} failed:\n{res.stderr}")
    return [doc for doc in YAML(typ="safe", pure=True).load_all(res.stdout) if doc]


def render_chart_rbac(helm: Helm, release: str, namespace: str) -> ChartRbac:
    """``helm.chart`` installed as ``release`` in ``namespace``, burstd reaching both API servers through
    kubeconfig Secrets: its ServiceAccount, and the Karmada-side and management-side RBAC bound to it."""
    base = [
        "--set", "settings.karmada.inCluster=false",
        "--set", "settings.management.inCluster=false",
        "--set", "settings.management.kubeconfigSecret.name=management-kubeconfig",
    ]  # fmt: skip
    accounts = [d for d in _template(helm, release, namespace, *base) if d["kind"] == "ServiceAccount"]
    assert len(accounts) == 1, accounts
    sa = accounts[0]["metadata"]
    subject = [{"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]}]
    sides = {}
    for side in ("karmada", "management"):
        sides[side] = _template(
            helm, release, namespace, *base,
            "--set", f"{side}Rbac.enabled=true",
            "--set-json", f"{side}Rbac.subjects={json.dumps(subject)}",
            "--show-only", f"templates/{side}-rbac.yaml",
        )  # fmt: skip
    return ChartRbac(
        f"system:serviceaccount:{sa['namespace']}:{sa['name']}",
        str(sa["namespace"]),
        sides["karmada"],
        sides["management"],
    )


_PLURALS = {
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Role": "roles",
    "RoleBinding": "rolebindings",
}


def apply(plane: ControlPlane, docs: Iterable[dict[str, Any]]) -> None:
    """Create every rendered RBAC object on ``plane`` (as admin)."""
    for doc in docs:
        kind, meta = str(doc["kind"]), doc["metadata"]
        scope = f"/namespaces/{meta['namespace']}" if kind in ("Role", "RoleBinding") else ""
        status, body = plane.request("POST", f"{RBAC}{scope}/{_PLURALS[kind]}", doc)
        assert status == 201, f"creating {kind} {meta['name']}: HTTP {status}: {body}"


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: frozenset[str]
    namespace: str | None
    """``None``: a ClusterRole's rule bound cluster-wide; else the Role's namespace."""

    def allows(self, a: RequestAttributes) -> bool:
        return (
            bool(a.resource)
            and (self.namespace is None or self.namespace == a.namespace)
            and a.verb in self.verbs
            and a.api_group in self.api_groups
            and a.rbac_resource in self.resources
        )


@dataclass(frozen=True)
class Grants:
    """The rules of one API server's rendered RBAC that are bound to ``user``."""

    rules: tuple[Rule, ...]

    @classmethod
    def bound_to(cls, docs: Sequence[dict[str, Any]], user: str) -> Grants:
        """Each Role/ClusterRole referenced by a binding whose subjects include ``user``'s
        ServiceAccount. Wildcards and resourceNames are refused: the chart grants neither."""
        _, _, ns_name = user.partition("system:serviceaccount:")
        namespace, _, name = ns_name.partition(":")
        roles = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] in ("Role", "ClusterRole")}
        rules = []
        for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
            subjects = binding.get("subjects") or []
            if not any(
                s.get("kind") == "ServiceAccount"
                and s.get("name") == name
                and s.get("namespace") == namespace
                for s in subjects
            ):
                continue
            ref = binding["roleRef"]
            role = roles[(ref["kind"], ref["name"])]
            scope = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
            for r in role.get("rules") or []:
                verbs, groups, resources = (
                    frozenset(r.get(k) or ()) for k in ("verbs", "apiGroups", "resources")
                )
                wildcard = "*" in verbs | groups | resources
                assert not wildcard, f"wildcard in {role['metadata']['name']}: {r}"
                assert not r.get("resourceNames"), r
                assert not r.get("nonResourceURLs"), r
                rules.append(Rule(verbs, groups, resources, scope))
        return cls(tuple(rules))

    def allows(self, a: RequestAttributes) -> bool:
        return any(rule.allows(a) for rule in self.rules)

    def granted(self) -> set[tuple[str, str, str]]:
        """Every (verb, API group, resource[/subresource]) some rule grants."""
        return {
            (verb, group, resource)
            for rule in self.rules
            for verb in rule.verbs
            for group in rule.api_groups
            for resource in rule.resources
        }
