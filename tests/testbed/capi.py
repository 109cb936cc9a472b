"""A Cluster API management cluster with the real controllers: etcd + kube-apiserver with the CRDs of Cluster
API v1.14.2, and the core, kubeadm bootstrap, kubeadm control-plane and CAPD managers built by
``scripts/testenv/build-capi.sh``. CAPD runs its in-memory backend (DevCluster/DevMachine ``inMemory``):
workload clusters, their Machines and Nodes are simulated inside ``capd-manager``, no Docker needed.

As in a cluster installed by clusterctl, the provider CRDs carry the contract labels, every CRD converts
through its manager's ``/convert`` webhook (so v1beta1 reads return real v1beta1 objects) and the
admission webhooks are registered; here they are served on loopback ports with the plane's serving cert.

``start_capi()`` yields a ``CapiPlane``; ``create_workload_cluster()`` makes a raw (non-ClusterClass)
Cluster whose one-replica KubeadmControlPlane runs in memory; ``worker_pool_objects()`` and
``create_objects()`` add a MachineDeployment (or MachinePool) of workers to it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from integration.controlplane import ControlPlane, ControlPlaneError, load_crds, start_control_plane
from ruamel.yaml import YAML

from .binaries import find_controller_binaries
from .processes import ControllerProcess, free_port, http_ok, https_listening

__all__ = [
    "CAPI_GROUP",
    "KUBERNETES_VERSION",
    "CapiPlane",
    "WorkloadCluster",
    "create_objects",
    "create_workload_cluster",
    "start_capi",
    "worker_pool_objects",
]

Obj = dict[str, Any]

CAPI_GROUP = "cluster.x-k8s.io"
BOOTSTRAP_GROUP = "bootstrap.cluster.x-k8s.io"
CONTROL_PLANE_GROUP = "controlplane.cluster.x-k8s.io"
INFRASTRUCTURE_GROUP = "infrastructure.cluster.x-k8s.io"
#: The Kubernetes version of the in-memory workload clusters (any version the kubeadm providers accept).
KUBERNETES_VERSION = "v1.35.0"
#: Cluster API's own feature gates the pools need: MachinePool is Beta (on by default) in v1.14; set
#: explicitly so that a release that turns it off does not silently drop the MachinePool controllers.
FEATURE_GATES = "MachinePool=true"
#: Contract labels ``clusterctl`` (kustomize) puts on provider CRDs: the core manager finds the version
#: of a provider's objects that implements its contract through them.
CONTRACT_LABELS = {f"{CAPI_GROUP}/v1beta1": "v1beta1", f"{CAPI_GROUP}/v1beta2": "v1beta2"}
START_TIMEOUT = 180.0
#: A worker's kubeadm join settings (the schema wants at least one; nothing runs them in memory).
_JOIN = {
    "nodeRegistration": {"kubeletExtraArgs": [{"name": "eviction-hard", "value": "nodefs.available<0%"}]}
}


@dataclass(frozen=True)
class _Manager:
    name: str  # binary name, also the process name
    component: str  # the directory under CAPI_DIR/config
    provider: bool  # its CRDs get the contract labels


MANAGERS = (
    _Manager("capi-manager", "core", provider=False),
    _Manager("capi-kubeadm-bootstrap-manager", "bootstrap-kubeadm", provider=True),
    _Manager("capi-kubeadm-control-plane-manager", "controlplane-kubeadm", provider=True),
    _Manager("capd-manager", "capd", provider=True),
)


@dataclass(frozen=True)
class _Kind:
    group: str
    plural: str
    namespaced: bool


@dataclass
class CapiPlane:
    """The management cluster: its kube-apiserver and the four Cluster API managers."""

    plane: ControlPlane
    processes: dict[str, ControllerProcess]
    start_s: float
    """Seconds from the start of ``start_capi`` (once it holds the host's CAPD lock) until every manager
    was ready and its webhooks answered."""
    kinds: Mapping[str, _Kind] = field(default_factory=dict, repr=False)
    """Every Cluster API kind installed (``MachineDeployment`` -> group and plural)."""
    webhook_ports: Mapping[str, int] = field(default_factory=dict)

    def check_alive(self) -> None:
        """Raise (with the log's tail) if a manager has exited."""
        for process in self.processes.values():
            process.check_alive()

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory of each manager now."""
        return {name: p.rss_bytes() for name, p in self.processes.items()}

    def path(
        self, kind: str, namespace: str | None = None, name: str = "", *, version: str = "v1beta2"
    ) -> str:
        """The API path of a Cluster API kind (``Namespace`` too), or of one object of it."""
        if kind == "Namespace":
            return f"/api/v1/namespaces/{quote(name)}".rstrip("/")
        found = self.kinds.get(kind)
        if found is None:
            raise KeyError(f"no Cluster API CRD defines kind {kind!r}")
        scope = f"/namespaces/{quote(namespace)}" if found.namespaced and namespace else ""
        tail = f"/{quote(name)}" if name else ""
        return f"/apis/{found.group}/{version}{scope}/{found.plural}{tail}"

    def get(self, kind: str, namespace: str, name: str, *, version: str = "v1beta2") -> Obj:
        status, body = self.plane.request("GET", self.path(kind, namespace, name, version=version))
        if status != 200:
            raise ControlPlaneError(f"GET {kind} {namespace}/{name}: HTTP {status}: {body}")
        return dict(body)

    def list(
        self,
        kind: str,
        namespace: str,
        *,
        version: str = "v1beta2",
        selector: Mapping[str, str] | None = None,
    ) -> list[Obj]:
        query = ""
        if selector:
            query = "?labelSelector=" + quote(",".join(f"{k}={v}" for k, v in selector.items()))
        status, body = self.plane.request("GET", self.path(kind, namespace, version=version) + query)
        if status != 200:
            raise ControlPlaneError(f"LIST {kind} in {namespace}: HTTP {status}: {body}")
        return [dict(item) for item in body.get("items") or []]

    def merge_patch(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any], *, sub: str = ""
    ) -> Obj:
        path = self.path(kind, namespace, name) + (f"/{sub}" if sub else "")
        status, body = self.plane.request(
            "PATCH", path, dict(patch), content_type="application/merge-patch+json"
        )
        if status != 200:
            raise ControlPlaneError(f"PATCH {path}: HTTP {status}: {body}")
        return dict(body)

    def scale(self, kind: str, namespace: str, name: str, replicas: int) -> Obj:
        """Set ``spec.replicas`` through the ``/scale`` subresource (as burstd does)."""
        return self.merge_patch(kind, namespace, name, {"spec": {"replicas": replicas}}, sub="scale")

    def delete(self, kind: str, namespace: str, name: str) -> None:
        status, body = self.plane.request("DELETE", self.path(kind, namespace, name))
        if status not in (200, 202, 404):
            raise ControlPlaneError(f"DELETE {kind} {namespace}/{name}: HTTP {status}: {body}")


# --------------------------------------------------------------------------------------------------
# the stack


def _crds(capi_dir: Path) -> dict[str, tuple[_Manager, Obj]]:
    """Every CRD of the four components by name, with the manager that serves its webhooks."""
    crds: dict[str, tuple[_Manager, Obj]] = {}
    for manager in MANAGERS:
        for crd in load_crds([capi_dir / "config" / manager.component / "crds"]):
            if manager.provider:
                crd["metadata"].setdefault("labels", {}).update(CONTRACT_LABELS)
            crds[crd["metadata"]["name"]] = (manager, crd)
    return crds


def _webhook_configurations(capi_dir: Path, ports: Mapping[str, int], ca_bundle: str) -> list[Obj]:
    """The upstream webhook manifests, renamed per component and pointed at ``https://127.0.0.1:<port>``."""
    yaml = YAML(typ="safe", pure=True)
    out: list[Obj] = []
    for manager in MANAGERS:
        text = (capi_dir / "config" / manager.component / "webhooks.yaml").read_text()
        for doc in yaml.load_all(text):
            if not doc:
                continue
            doc["metadata"] = {"name": f"{manager.component}-{doc['metadata']['name']}"}
            for hook in doc.get("webhooks") or []:
                path = hook["clientConfig"]["service"]["path"]
                hook["clientConfig"] = {
                    "url": f"https://127.0.0.1:{ports[manager.name]}{path}",
                    "caBundle": ca_bundle,
                }
            out.append(doc)
    return out


def _register(plane: ControlPlane, configurations: list[Obj]) -> None:
    for doc in configurations:
        plural = {
            "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
            "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
        }[doc["kind"]]
        status, body = plane.request("POST", f"/apis/admissionregistration.k8s.io/v1/{plural}", doc)
        if status != 201:
            raise ControlPlaneError(f"registering {doc['metadata']['name']}: HTTP {status}: {body}")


def _convert_through_webhooks(
    plane: ControlPlane, crds: Mapping[str, tuple[_Manager, Obj]], ports: Mapping[str, int], ca_bundle: str
) -> None:
    """What clusterctl's CRD patches do: each CRD converts between versions through its manager."""
    for name, (manager, _) in crds.items():
        patch = {
            "spec": {
                "conversion": {
                    "strategy": "Webhook",
                    "webhook": {
                        "conversionReviewVersions": ["v1"],
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{ports[manager.name]}/convert",
                            "caBundle": ca_bundle,
                        },
                    },
                }
            }
        }
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        status, body = plane.request("PATCH", path, patch, content_type="application/merge-patch+json")
        if status != 200:
            raise ControlPlaneError(f"enabling conversion of {name}: HTTP {status}: {body}")


def _start_manager(
    manager: _Manager, binary: Path, plane: ControlPlane, cert_dir: Path, webhook_port: int
) -> tuple[ControllerProcess, int]:
    health = free_port()
    argv = [
        str(binary),
        f"--kubeconfig={plane.kubeconfig}",
        "--leader-elect=false",
        f"--webhook-port={webhook_port}",
        f"--webhook-cert-dir={cert_dir}",
        f"--health-addr=127.0.0.1:{health}",
        f"--diagnostics-address=127.0.0.1:{free_port()}",
        "--insecure-diagnostics",
        f"--feature-gates={FEATURE_GATES}",
        "--v=2",
    ]
    process = ControllerProcess(
        manager.name, argv, plane.workdir / f"{manager.name}.log", {"POD_IP": "127.0.0.1"}
    ).start()
    return process, health


@contextlib.contextmanager
def _one_capd_per_host() -> Iterator[float]:
    """Hold the host's CAPD lock; yields when it was acquired (``time.monotonic()``)."""
    timeout = float(os.environ.get("BURSTD_CAPI_LOCK_TIMEOUT", "480"))
    path = Path(tempfile.gettempdir()) / "burstd-testenv-capd.lock"
    with path.open("a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    fh.seek(0)
                    raise ControlPlaneError(
                        f"another Cluster API test bed ({fh.read().strip() or 'unknown'}) has held {path} for "
                        f"{timeout:.0f} s: CAPD's in-memory backend needs port 19000, so only one runs per host"
                    ) from None
                time.sleep(0.5)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        try:
            yield time.monotonic()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _probe_machine(namespace: str) -> Obj:
    """A v1beta1 Machine: a dry-run create of it goes through the conversion webhook and the mutating
    webhook (which adds the cluster-name label) of the core manager."""
    return {
        "apiVersion": f"{CAPI_GROUP}/v1beta1",
        "kind": "Machine",
        "metadata": {"name": "burstd-webhook-probe", "namespace": namespace},
        "spec": {
            "clusterName": "burstd-webhook-probe",
            "bootstrap": {"dataSecretName": "burstd-webhook-probe"},
            "infrastructureRef": {
                "apiVersion": f"{INFRASTRUCTURE_GROUP}/v1beta1",
                "kind": "DevMachine",
                "name": "burstd-webhook-probe",
            },
        },
    }


def _wait_webhooks_answer(capi: CapiPlane, timeout: float) -> None:
    """Wait until the apiserver calls the registered webhooks (registration is seen asynchronously)."""
    deadline = time.monotonic() + timeout
    path = capi.path("Machine", "default", version="v1beta1") + "?dryRun=All"
    last: Any = None
    while time.monotonic() < deadline:
        status, body = capi.plane.request("POST", path, _probe_machine("default"))
        labels = ((body or {}).get("metadata") or {}).get("labels") or {} if status == 201 else {}
        if labels.get(f"{CAPI_GROUP}/cluster-name") == "burstd-webhook-probe":
            return
        last = (status, body)
        time.sleep(0.1)
    raise ControlPlaneError(f"the Cluster API webhooks do not answer after {timeout:.0f} s: {last}")


@contextlib.contextmanager
def start_capi() -> Iterator[CapiPlane]:
    """Start the management cluster and the four managers; stop everything on exit.

    Only one CAPD can run on a host: its in-memory backend listens on port 19000 (all addresses, not
    configurable in v1.14.2) and gives workload clusters ports from 20000 up. A host-wide lock makes a
    second stack (another pytest session) wait for the first one's end, up to ``BURSTD_CAPI_LOCK_TIMEOUT``
    seconds (default 480), then fail naming the holder.
    """
    binaries = find_controller_binaries()
    capi_dir = binaries.capi_dir
    crds: dict[str, tuple[_Manager, Obj]] = {}

    def load() -> list[Obj]:
        crds.update(_crds(capi_dir))
        return [crd for _, crd in crds.values()]

    with (
        _one_capd_per_host() as started,
        start_control_plane(crds=load) as plane,
        contextlib.ExitStack() as stack,
    ):
        cert_dir = plane.workdir / "capi-webhook-certs"
        cert_dir.mkdir()
        shutil.copyfile(plane.workdir / "server.crt", cert_dir / "tls.crt")
        shutil.copyfile(plane.workdir / "server.key", cert_dir / "tls.key")
        ca_bundle = base64.b64encode(plane.ca_file.read_bytes()).decode()
        ports = {m.name: free_port() for m in MANAGERS}
        processes: dict[str, ControllerProcess] = {}
        health: dict[str, int] = {}
        for manager in MANAGERS:
            process, health[manager.name] = _start_manager(
                manager, binaries.capi(manager.name), plane, cert_dir, ports[manager.name]
            )
            processes[manager.name] = process
            stack.callback(process.stop)
        for manager in MANAGERS:
            for attempt in range(3):  # a free port can be taken between choosing it and binding it
                process = processes[manager.name]
                try:
                    process.wait_ready(
                        http_ok(f"http://127.0.0.1:{health[manager.name]}/readyz"), START_TIMEOUT
                    )
                    break
                except ControlPlaneError as exc:
                    if "address already in use" not in str(exc) or attempt == 2:
                        raise
                    process.stop()
                    ports[manager.name] = free_port()
                    process, health[manager.name] = _start_manager(
                        manager, binaries.capi(manager.name), plane, cert_dir, ports[manager.name]
                    )
                    processes[manager.name] = process
                    stack.callback(process.stop)
            process.wait_ready(https_listening(ports[manager.name]), START_TIMEOUT)
        _register(plane, _webhook_configurations(capi_dir, ports, ca_bundle))
        _convert_through_webhooks(plane, crds, ports, ca_bundle)
        kinds = {
            crd["spec"]["names"]["kind"]: _Kind(
                crd["spec"]["group"], crd["spec"]["names"]["plural"], crd["spec"]["scope"] == "Namespaced"
            )
            for _, crd in crds.values()
        }
        capi = CapiPlane(plane, processes, 0.0, kinds, ports)
        _wait_webhooks_answer(capi, START_TIMEOUT)
        capi.check_alive()
        capi.start_s = time.monotonic() - started
        yield capi


# --------------------------------------------------------------------------------------------------
# workload clusters and worker pools


@dataclass(frozen=True)
class WorkloadCluster:
    namespace: str
    name: str
    ready_s: float
    """Seconds from creating the Cluster until workers can join (its control plane initialized and
    available)."""


def _ref(group: str, kind: str, name: str) -> Obj:
    return {"apiGroup": group, "kind": kind, "name": name}


def _in_memory_machine_template(namespace: str, name: str, startup_s: float) -> Obj:
    """A DevMachineTemplate whose machines boot in ``startup_s`` (VM) and then register their Node."""

    def provisioning(seconds: float) -> Obj:
        return {"provisioning": {"startupDuration": f"{seconds:g}s"}}

    return {
        "apiVersion": f"{INFRASTRUCTURE_GROUP}/v1beta2",
        "kind": "DevMachineTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "backend": {
                        "inMemory": {
                            "vm": provisioning(startup_s),
                            "node": provisioning(0),
                            "apiServer": provisioning(0.5),
                            "etcd": provisioning(0.5),
                        }
                    }
                }
            }
        },
    }


def _control_plane_objects(namespace: str, name: str) -> list[Obj]:
    cp = f"{name}-control-plane"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        _in_memory_machine_template(namespace, cp, 0.5),
        {
            "apiVersion": f"{INFRASTRUCTURE_GROUP}/v1beta2",
            "kind": "DevCluster",
            # CAPD v1.14.2's in-memory DevCluster reconciler writes into metadata.annotations without
            # making the map: a DevCluster created with no annotation panics it on every reconcile
            # (``kubectl apply`` hides this by adding its last-applied annotation). So: one annotation.
            "metadata": {"name": name, "namespace": namespace, "annotations": {"burstd.io/testbed": "capi"}},
            "spec": {"backend": {"inMemory": {}}},
        },
        {
            "apiVersion": f"{CONTROL_PLANE_GROUP}/v1beta2",
            "kind": "KubeadmControlPlane",
            "metadata": {"name": cp, "namespace": namespace},
            "spec": {
                "replicas": 1,
                "version": KUBERNETES_VERSION,
                "machineTemplate": {
                    "spec": {"infrastructureRef": _ref(INFRASTRUCTURE_GROUP, "DevMachineTemplate", cp)}
                },
                "kubeadmConfigSpec": {
                    "clusterConfiguration": {"apiServer": {"certSANs": ["localhost", "127.0.0.1"]}}
                },
            },
        },
        {
            "apiVersion": f"{CAPI_GROUP}/v1beta2",
            "kind": "Cluster",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "clusterNetwork": {
                    "services": {"cidrBlocks": ["10.96.0.0/12"]},
                    "pods": {"cidrBlocks": ["192.168.0.0/16"]},
                    "serviceDomain": "cluster.local",
                },
                "controlPlaneRef": _ref(CONTROL_PLANE_GROUP, "KubeadmControlPlane", cp),
                "infrastructureRef": _ref(INFRASTRUCTURE_GROUP, "DevCluster", name),
            },
        },
    ]


def condition_true(obj: Mapping[str, Any], type_: str) -> bool:
    """``status.conditions`` (v1beta2 metav1.Conditions) has ``type_`` with status True."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return bool(cond.get("status") == "True")
    return False


def _workers_can_join(capi: CapiPlane, namespace: str, name: str) -> bool:
    cluster = capi.get("Cluster", namespace, name)
    kcp = capi.get("KubeadmControlPlane", namespace, f"{name}-control-plane")
    initialized = bool(
        ((cluster.get("status") or {}).get("initialization") or {}).get("controlPlaneInitialized")
    )
    return (
        initialized
        and condition_true(cluster, "ControlPlaneAvailable")
        and (kcp.get("status") or {}).get("readyReplicas") == 1
        and condition_true(kcp, "Available")
    )


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, capi: CapiPlane, interval: float = 0.1
) -> float:
    """Poll ``check()`` until true; seconds taken. Raises with ``what`` on timeout or a dead manager."""
    start = time.monotonic()
    while not check():
        capi.check_alive()
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not reached after {timeout:.0f} s")
        time.sleep(interval)
    return time.monotonic() - start


def create_workload_cluster(
    capi: CapiPlane, namespace: str, name: str, *, timeout: float = 240
) -> WorkloadCluster:
    """A raw Cluster (DevCluster in memory, a one-replica KubeadmControlPlane); returns once workers can
    join: the control plane is initialized and available (MachineSets' preflight checks then pass)."""
    start = time.monotonic()
    create_objects(capi, _control_plane_objects(namespace, name))
    try:
        wait_for(
            f"Cluster {namespace}/{name} ready for workers",
            lambda: _workers_can_join(capi, namespace, name),
            timeout,
            capi,
            interval=0.25,
        )
    except AssertionError as exc:
        cluster = capi.get("Cluster", namespace, name)
        raise ControlPlaneError(f"{exc}; Cluster status: {cluster.get('status')}") from None
    return WorkloadCluster(namespace, name, time.monotonic() - start)


def worker_pool_objects(
    cluster: WorkloadCluster,
    name: str,
    *,
    kind: str = "MachineDeployment",
    replicas: int = 0,
    startup_s: float = 2.0,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The objects of one worker pool of ``cluster``: a MachineDeployment with its DevMachineTemplate
    (machines provision in about ``startup_s``) and KubeadmConfigTemplate; or, for ``kind="MachinePool"``,
    a MachinePool with its DevMachinePool and KubeadmConfig. ``labels``/``annotations`` go on the
    MachineDeployment/MachinePool (e.g. Cluster Autoscaler's min/max size annotations)."""
    ns, cluster_name = cluster.namespace, cluster.name
    meta: Obj = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if kind == "MachineDeployment":
        # Its own selector: two pools of one cluster must not select each other's MachineSets.
        own = {f"{CAPI_GROUP}/cluster-name": cluster_name, f"{CAPI_GROUP}/deployment-name": name}
        return [
            _in_memory_machine_template(ns, name, startup_s),
            {
                "apiVersion": f"{BOOTSTRAP_GROUP}/v1beta2",
                "kind": "KubeadmConfigTemplate",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"template": {"spec": {"joinConfiguration": _JOIN}}},
            },
            {
                "apiVersion": f"{CAPI_GROUP}/v1beta2",
                "kind": "MachineDeployment",
                "metadata": meta,
                "spec": {
                    "clusterName": cluster_name,
                    "replicas": replicas,
                    "selector": {"matchLabels": own},
                    "template": {
                        "metadata": {"labels": own},
                        "spec": {
                            "clusterName": cluster_name,
                            "version": KUBERNETES_VERSION,
                            "bootstrap": {"configRef": _ref(BOOTSTRAP_GROUP, "KubeadmConfigTemplate", name)},
                            "infrastructureRef": _ref(INFRASTRUCTURE_GROUP, "DevMachineTemplate", name),
                        },
                    },
                },
            },
        ]
    if kind == "MachinePool":
        # CAPD's DevMachinePool has only a Docker backend in v1.14.2 (no inMemory): left empty here, as
        # there is no Docker; tests/e2e/test_capi_controllers.py documents what the controllers then do.
        return [
            {
                "apiVersion": f"{INFRASTRUCTURE_GROUP}/v1beta2",
                "kind": "DevMachinePool",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"backend": {}},
            },
            {
                "apiVersion": f"{BOOTSTRAP_GROUP}/v1beta2",
                "kind": "KubeadmConfig",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"joinConfiguration": _JOIN},
            },
            {
                "apiVersion": f"{CAPI_GROUP}/v1beta2",
                "kind": "MachinePool",
                "metadata": meta,
                "spec": {
                    "clusterName": cluster_name,
                    "replicas": replicas,
                    "template": {
                        "spec": {
                            "clusterName": cluster_name,
                            "version": KUBERNETES_VERSION,
                            "bootstrap": {"configRef": _ref(BOOTSTRAP_GROUP, "KubeadmConfig", name)},
                            "infrastructureRef": _ref(INFRASTRUCTURE_GROUP, "DevMachinePool", name),
                        }
                    },
                },
            },
        ]
    raise ValueError(f"kind must be MachineDeployment or MachinePool, got {kind!r}")


def create_objects(capi: CapiPlane, objects: Sequence[Mapping[str, Any]]) -> None:
    """Create each object (a Namespace, or any Cluster API kind) through the API, webhooks included."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Namespace":
            path = "/api/v1/namespaces"
        else:
            path = capi.path(
                str(obj["kind"]), meta.get("namespace"), version=str(obj["apiVersion"]).split("/")[-1]
            )
        status, body = capi.plane.request("POST", path, dict(obj))
        if status != 201:
            raise ControlPlaneError(f"creating {obj.get('kind')} {meta.get('name')}: HTTP {status}: {body}")
