"""charts/burstd with real helm: lint, render with each values file in values/, every rendered manifest
accepted by a real kube-apiserver (server-side apply, dry run, strict field validation; the monitoring
objects against the Prometheus Operator CRDs), and values.schema.json rejecting bad values."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.controlplane import ControlPlane
from ruamel.yaml import YAML

from .conftest import VALUES_DIR
from .helm import NAMESPACE, RELEASE, Helm, apply_dry_run, rejected

VALUES = sorted(VALUES_DIR.glob("*.yaml"))
SCHEMA_ERROR = "values don't meet the specifications of the schema"


def values_file(name: str) -> Path:
    return VALUES_DIR / f"{name}.yaml"


def kinds(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        out.setdefault(doc["kind"], []).append(doc)
    return out


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = kinds(docs).get(kind, [])
    assert len(found) == 1, f"expected one {kind}, rendered {[d['metadata']['name'] for d in found]}"
    return found[0]


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def secret_names(pod_spec: dict[str, Any]) -> set[str]:
    """Every Secret the pod references (volumes, projected sources, envFrom, env valueFrom)."""
    names = set()
    for node in walk(pod_spec):
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("secret"), dict) and "secretName" in node["secret"]:
            names.add(node["secret"]["secretName"])
        for key in ("secretRef", "secretKeyRef"):
            if isinstance(node.get(key), dict):
                names.add(node[key]["name"])
    return names


def settings(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """burstd's settings file from the chart's ConfigMap (the one with ``config.yaml``)."""
    (config,) = [d for d in kinds(docs)["ConfigMap"] if "config.yaml" in (d.get("data") or {})]
    loaded: dict[str, Any] = YAML(typ="safe", pure=True).load(config["data"]["config.yaml"])
    return loaded


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = only(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("values", VALUES, ids=[v.stem for v in VALUES])
def test_lint_strict_passes(helm: Helm, values: Path) -> None:
    out = helm.lint(values)
    assert "1 chart(s) linted, 0 chart(s) failed" in out


@pytest.mark.parametrize("values", VALUES, ids=[v.stem for v in VALUES])
def test_every_manifest_is_accepted_by_the_api_server(
    helm: Helm, chart_api: ControlPlane, values: Path
) -> None:
    docs = helm.render(values)
    assert {"Deployment", "ServiceAccount", "Service"} <= set(kinds(docs)), sorted(kinds(docs))
    verdicts = apply_dry_run(chart_api, docs)
    assert len(verdicts) == len(docs)
    assert not rejected(verdicts), "\n".join(rejected(verdicts))


def test_the_dry_run_validates_and_stores_nothing(helm: Helm, chart_api: ControlPlane) -> None:
    """The check above can fail: a wrong type in a CRD object, an unknown field and a missing required one
    are rejected, and an accepted dry run leaves nothing behind."""
    docs = helm.render(values_file("monitoring"))
    monitor = copy.deepcopy(only(docs, "ServiceMonitor"))
    monitor["spec"]["endpoints"] = "http"
    unknown = copy.deepcopy(only(docs, "Deployment"))
    unknown["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    no_image = copy.deepcopy(only(docs, "Deployment"))
    del no_image["spec"]["template"]["spec"]["containers"][0]["image"]
    verdicts = apply_dry_run(chart_api, [monitor, unknown, no_image])
    # (server-side apply answers a patch that does not fit the schema with 500 "failed to create typed
    # patch object", and a valid but incomplete object with 422 Invalid)
    assert not [str(v) for v in verdicts if v.accepted]
    assert ".spec.endpoints: expected list" in str(verdicts[0]), str(verdicts[0])
    assert "readOnlyRootFileSystem" in str(verdicts[1]), str(verdicts[1])
    assert "containers[0].image: Required value" in str(verdicts[2]), str(verdicts[2])
    accepted = apply_dry_run(chart_api, docs)
    assert not rejected(accepted)
    for doc in (only(docs, "Deployment"), only(docs, "PrometheusRule")):
        group = "apis/apps/v1" if doc["kind"] == "Deployment" else "apis/monitoring.coreos.com/v1"
        plural = "deployments" if doc["kind"] == "Deployment" else "prometheusrules"
        status, _ = chart_api.request(
            "GET", f"/{group}/namespaces/{NAMESPACE}/{plural}/{doc['metadata']['name']}"
        )
        assert status == 404, f"the dry run stored {doc['kind']} {doc['metadata']['name']}"


def test_every_object_carries_the_recommended_labels(helm: Helm) -> None:
    for values in VALUES:
        for doc in helm.render(values):
            labels = doc["metadata"].get("labels") or {}
            assert labels.get("app.kubernetes.io/name") == "burstd", (values.name, doc["kind"], labels)
            assert labels.get("app.kubernetes.io/instance") == RELEASE, (values.name, doc["kind"], labels)
            assert labels.get("app.kubernetes.io/managed-by") == "Helm", (values.name, doc["kind"], labels)


def test_defaults_are_highly_available_and_locked_down(helm: Helm) -> None:
    docs = helm.render(values_file("defaults"))
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert only(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    spec = pod_spec(docs)
    assert spec["affinity"]["podAntiAffinity"], spec["affinity"]
    assert spec["automountServiceAccountToken"] is True, "the management cluster is reached in-cluster"
    (container,) = [c for c in spec["containers"] if c["name"] == "burstd"]
    security = {**(spec.get("securityContext") or {}), **container["securityContext"]}
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert "karmada-kubeconfig" in secret_names(spec)
    assert not {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"} & set(kinds(docs))


def test_rbac_grants_no_wildcards(helm: Helm) -> None:
    for values in VALUES:
        for doc in helm.render(values):
            if doc["kind"] not in ("Role", "ClusterRole"):
                continue
            for rule in doc.get("rules") or []:
                for field in ("verbs", "resources", "apiGroups"):
                    assert "*" not in (rule.get(field) or []), (values.name, doc["metadata"]["name"], rule)


def test_ha_off_runs_one_replica_without_leader_election(helm: Helm) -> None:
    docs = helm.render(values_file("ha-off"))
    assert only(docs, "Deployment")["spec"]["replicas"] == 1
    assert "PodDisruptionBudget" not in kinds(docs)
    assert settings(docs)["leaderElection"]["enabled"] is False


def test_a_kubeconfig_side_without_its_secret_fails(helm: Helm) -> None:
    res = helm.template_result(
        values_file("kubeconfig"), set_values={"settings.management.kubeconfigSecret.name": ""}
    )
    assert res.returncode != 0, res.stdout[:2000]
    assert "settings.management: set inCluster: true or kubeconfigSecret.name" in res.stderr, res.stderr


def test_two_replicas_without_leader_election_fail(helm: Helm) -> None:
    res = helm.template_result(values_file("ha-off"), set_values={"replicaCount": "2"})
    assert res.returncode != 0, res.stdout[:2000]
    assert "leaderElection.enabled must be true" in res.stderr, res.stderr


def test_monitoring_objects_render(helm: Helm) -> None:
    docs = helm.render(values_file("monitoring"))
    monitor = only(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = only(docs, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), (
        selector,
        service["metadata"]["labels"],
    )
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http"]
    rule = only(docs, "PrometheusRule")
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 8, alerts
    assert all(a.startswith("Burstd") for a in alerts), alerts
    only(docs, "NetworkPolicy")
    dashboards = [
        d
        for d in kinds(docs)["ConfigMap"]
        if (d["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"
    ]
    assert len(dashboards) == 1, [d["metadata"]["name"] for d in kinds(docs)["ConfigMap"]]


def test_existing_secret_and_configmap_are_referenced(helm: Helm) -> None:
    docs = helm.render(values_file("existing-secret"))
    spec = pod_spec(docs)
    assert {"burstd-cloud-keys", "burstd-cloud-files", "karmada-kubeconfig"} <= secret_names(spec)
    config_maps = {
        node["configMap"]["name"]
        for node in walk(spec)
        if isinstance(node, dict) and isinstance(node.get("configMap"), dict)
    }
    assert "burstd-policies" in config_maps, config_maps
    assert "Secret" not in kinds(docs), "credentials come from the existing Secrets only"


def test_in_cluster_mounts_no_kubeconfig_and_kubeconfig_mounts_both(helm: Helm) -> None:
    in_cluster = helm.render(values_file("in-cluster"))
    assert not {"karmada-kubeconfig", "management-kubeconfig"} & secret_names(pod_spec(in_cluster))
    via_kubeconfig = helm.render(values_file("kubeconfig"))
    assert {"karmada-kubeconfig", "management-kubeconfig"} <= secret_names(pod_spec(via_kubeconfig))
    assert pod_spec(in_cluster)["automountServiceAccountToken"] is True
    assert pod_spec(via_kubeconfig)["automountServiceAccountToken"] is False, "no token where none is used"
    assert settings(in_cluster)["karmada"] == {"inCluster": True}
    assert settings(via_kubeconfig)["karmada"] == {
        "kubeconfig": "/etc/burstd/karmada/karmada.config",
        "context": "karmada-apiserver",
    }
    # in-cluster access to both API servers is granted to the ServiceAccount; none is needed without it
    in_cluster_rules = [
        r for d in in_cluster if d["kind"] in ("Role", "ClusterRole") for r in d.get("rules") or []
    ]
    kubeconfig_rules = [
        r for d in via_kubeconfig if d["kind"] in ("Role", "ClusterRole") for r in d.get("rules") or []
    ]
    assert len(in_cluster_rules) > len(kubeconfig_rules), (in_cluster_rules, kubeconfig_rules)


@pytest.mark.parametrize(
    ("bad", "mentions"),
    [
        ("replicaCount: two\n", "replicaCount"),
        ('serviceMonitor:\n  enabled: "yes"\n', "enabled"),
        ("replicas: 2\n", "replicas"),
        ("serviceMonitor:\n  intervall: 1m\n", "intervall"),
        ("settings:\n  http:\n    prot: 8080\n", "prot"),
    ],
    ids=["wrong-type", "wrong-type-nested", "unknown-key", "unknown-key-nested", "unknown-setting"],
)
def test_schema_rejects_bad_values(helm: Helm, tmp_path: Path, bad: str, mentions: str) -> None:
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(bad)
    res = helm.template_result(values_file("defaults"), bad_file)
    assert res.returncode != 0, res.stdout[:2000]
    assert SCHEMA_ERROR in res.stderr, res.stderr
    assert mentions in res.stderr, res.stderr


def test_helm_install_dry_run_against_the_api_server(
    helm: Helm, chart_api: ControlPlane, tmp_path: Path
) -> None:
    kubeconfig = chart_api.write_kubeconfig(tmp_path / "admin.kubeconfig")
    args = ["install", RELEASE, str(helm.chart), "--namespace", NAMESPACE, "--dry-run=server"]
    good = helm.run(*args, "--values", str(values_file("monitoring")), kubeconfig=kubeconfig)
    assert good.returncode == 0, good.stderr
    assert "kind: PrometheusRule" in good.stdout
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("replicaCount: two\n")
    bad = helm.run(
        *args, "--values", str(values_file("defaults")), "--values", str(bad_file), kubeconfig=kubeconfig
    )
    assert bad.returncode != 0
    assert SCHEMA_ERROR in bad.stderr, bad.stderr
