"""Real helm and a real kube-apiserver for the chart tests.

``find_helm()`` locates the helm binary and the Prometheus Operator CRDs that
``scripts/testenv/build-helm.sh`` caches (``HELM_DIR`` overrides the lookup); a missing build raises
``ControlPlaneError`` naming the command that provides it (tests ERROR, never skip). ``Helm`` runs
``helm template`` and ``helm lint`` on ``charts/burstd``; ``apply_dry_run`` sends rendered manifests to an
API server with server-side apply and ``dryRun=All``, returning the server's verdict for each object.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from integration.controlplane import REPO, ControlPlane, ControlPlaneError, load_crds, run_testenv_script
from ruamel.yaml import YAML

CHART = REPO / "charts" / "burstd"
BUILD_SCRIPT = REPO / "scripts" / "testenv" / "build-helm.sh"
RELEASE = "burstd"
NAMESPACE = "burstd-system"
FIELD_MANAGER = "burstd-chart-test"
MONITORING_CRDS = ("servicemonitors", "podmonitors", "prometheusrules")


@dataclass(frozen=True)
class HelmTools:
    helm: Path
    crd_dir: Path
    """``monitoring.coreos.com`` CRDs (ServiceMonitor, PodMonitor, PrometheusRule), one file each."""

    def monitoring_crds(self) -> list[dict[str, Any]]:
        return load_crds([self.crd_dir])


def find_helm() -> HelmTools:
    """``$HELM_DIR``, else the directory ``build-helm.sh --check`` reports; helm and the CRDs checked."""
    helm_dir = os.environ.get("HELM_DIR")
    how = "from $HELM_DIR"
    if not helm_dir:
        stdout, how = run_testenv_script(BUILD_SCRIPT, [], _missing)
        helm_dir = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    tools = HelmTools(Path(helm_dir) / "helm", Path(helm_dir) / "crds" / "monitoring.coreos.com")
    problems = [] if os.access(tools.helm, os.X_OK) else [f"{tools.helm} is not executable"]
    problems += [
        f"{tools.crd_dir / (c + '.yaml')} is missing"
        for c in MONITORING_CRDS
        if not (tools.crd_dir / f"{c}.yaml").is_file()
    ]
    if problems:
        raise ControlPlaneError(_missing(f"{'; '.join(problems)} ({how})"))
    return tools


def _missing(detail: str) -> str:
    return (
        f"helm and the Prometheus Operator CRDs for the chart tests are missing.\n{detail}\n"
        "Run `scripts/testenv/ensure.sh` (or only `scripts/testenv/build-helm.sh`, about 1.5 min of Go build "
        "on 2 cores) or set BURSTD_TESTENV_BUILD=1 to let pytest build them; CI builds them in `make testenv`."
    )


class HelmError(AssertionError):
    """helm exited non-zero (the message carries its command line and stderr)."""


@dataclass(frozen=True)
class Helm:
    """helm on ``charts/burstd`` with an isolated home (no user config, cache or repositories)."""

    binary: Path
    home: Path
    chart: Path = CHART

    def run(self, *args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
            "KUBECONFIG": str(kubeconfig or self.home / "no-cluster.kubeconfig"),
        }
        return subprocess.run(
            [str(self.binary), *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    def template_result(
        self, *values_files: Path, set_values: Mapping[str, str] | None = None, namespace: str = NAMESPACE
    ) -> subprocess.CompletedProcess[str]:
        """``helm template`` (the raw result: negative tests look at its exit status and stderr)."""
        args = ["template", RELEASE, str(self.chart), "--namespace", namespace]
        for f in values_files:
            args += ["--values", str(f)]
        for key, value in (set_values or {}).items():
            args += ["--set", f"{key}={value}"]
        return self.run(*args)

    def render(
        self, *values_files: Path, set_values: Mapping[str, str] | None = None, namespace: str = NAMESPACE
    ) -> list[dict[str, Any]]:
        """The manifests ``helm template`` renders, parsed (empty documents dropped)."""
        res = self.template_result(*values_files, set_values=set_values, namespace=namespace)
        if res.returncode != 0:
            raise HelmError(f"helm template {[str(f) for f in values_files]} failed:\n{res.stderr}")
        yaml = YAML(typ="safe", pure=True)
        return [doc for doc in yaml.load_all(res.stdout) if doc]

    def lint(self, *values_files: Path) -> str:
        """``helm lint --strict``; returns its output, raises ``HelmError`` on any finding."""
        args = ["lint", "--strict", str(self.chart)]
        for f in values_files:
            args += ["--values", str(f)]
        res = self.run(*args)
        if res.returncode != 0:
            raise HelmError(f"helm lint --strict failed:\n{res.stdout}\n{res.stderr}")
        return res.stdout


# ------------------------------------------------------------------------------ server-side dry run


@dataclass(frozen=True)
class Verdict:
    """What the API server answered to one manifest's dry-run apply."""

    kind: str
    name: str
    namespace: str | None
    status: int
    body: Any

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        message = self.body.get("message") if isinstance(self.body, dict) else self.body
        return f"{self.kind} {where}{self.name}: HTTP {self.status} {message or ''}".rstrip()


@dataclass(frozen=True)
class _Resource:
    plural: str
    namespaced: bool


class Discovery:
    """apiVersion + kind -> resource path, from the API server's own discovery documents."""

    def __init__(self, plane: ControlPlane) -> None:
        self._plane = plane
        self._cache: dict[str, dict[str, _Resource]] = {}

    def resource(self, api_version: str, kind: str) -> _Resource:
        if api_version not in self._cache:
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            status, body = self._plane.request("GET", path)
            if status != 200:
                raise AssertionError(f"discovery of {api_version} failed: HTTP {status}: {body}")
            self._cache[api_version] = {
                r["kind"]: _Resource(r["name"], bool(r["namespaced"]))
                for r in body["resources"]
                if "/" not in r["name"]  # subresources
            }
        found = self._cache[api_version].get(kind)
        if found is None:
            raise AssertionError(f"the API server serves no {kind} in {api_version}")
        return found


def apply_dry_run(
    plane: ControlPlane, docs: Iterable[Mapping[str, Any]], *, namespace: str = NAMESPACE
) -> list[Verdict]:
    """Server-side apply every manifest with ``dryRun=All`` and strict field validation (an unknown or
    misspelled field is an error, as ``kubectl apply --server-side`` reports it); nothing is stored."""
    discovery = Discovery(plane)
    verdicts = []
    for doc in docs:
        api_version, kind = str(doc["apiVersion"]), str(doc["kind"])
        meta = doc.get("metadata") or {}
        name = str(meta["name"])
        res = discovery.resource(api_version, kind)
        ns = str(meta.get("namespace") or namespace) if res.namespaced else None
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        scope = f"/namespaces/{quote(ns)}" if ns else ""
        query = f"dryRun=All&fieldManager={FIELD_MANAGER}&fieldValidation=Strict"
        path = f"{base}{scope}/{res.plural}/{quote(name)}?{query}"
        status, body = plane.request("PATCH", path, doc, content_type="application/apply-patch+yaml")
        verdicts.append(Verdict(kind, name, ns, status, body))
    return verdicts


def rejected(verdicts: Sequence[Verdict]) -> list[str]:
    return [str(v) for v in verdicts if not v.accepted]
