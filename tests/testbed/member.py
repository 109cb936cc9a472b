"""A real Karmada member cluster for the tests: its own etcd + kube-apiserver, the real kube-scheduler and
kube-controller-manager (Kubernetes v1.35.4, built by ``scripts/testenv/build-kube-components.sh``) and
kwok keeping fake Nodes Ready and the Pods bound to them Running: Deployments applied by Karmada's
execution controller get ReplicaSets and Pods that are really scheduled and become Ready.

``register_member`` joins it to a ``testbed.karmada`` plane the way ``karmadactl join`` does in Push
mode: a Secret with the member's ``token`` and ``caBundle`` in ``karmada-system`` and a Cluster whose
``spec.secretRef`` names it. The karmada-controller-manager must then run ``MEMBER_CONTROLLERS``
(``clusterStatus``, ``execution``, ``workStatus``, ``namespace`` on top of the defaults): Ready,
``apiEnablements``, ``nodeSummary`` and ``resourceSummary`` come from the member itself, Works are applied
to it and its Deployments' status flows back to the ResourceBinding's ``aggregatedStatus``. With
``clusterStatus`` on, every Cluster of the plane must be a real member (a harness-written status would be
overwritten: the member is unreachable, so the cluster goes NotReady).

What differs from a production member, and why it does not matter here:

- The kube-controller-manager runs only the controllers a workload needs (``MEMBER_KCM_CONTROLLERS``):
  no service-account or certificate controllers (the apiserver runs without the ServiceAccount
  admission plugin, as every plane of the test bed does), no IPAM, routes, volumes or services.
- Nodes are kwok's: ``Member.set_nodes``/``sync_nodes`` create them and drain and delete them; their
  allocatable is what the test chooses.
"""

from __future__ import annotations

import base64
import contextlib
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from integration.controlplane import ControlPlane, ControlPlaneError, start_control_plane

from testbed.binaries import ControllerBinaries, find_controller_binaries
from testbed.karmada import DEFAULT_CONTROLLERS, KARMADA_SYSTEM, KarmadaPlane
from testbed.karmada import _plane_rss as plane_rss  # etcd + kube-apiserver of a ControlPlane
from testbed.processes import ControllerProcess, free_port, http_ok

__all__ = [
    "KWOK_NODE_ANNOTATION",
    "MEMBER_CONTROLLERS",
    "MEMBER_KCM_CONTROLLERS",
    "Member",
    "NodeShape",
    "register_member",
    "start_member",
]

MEMBER_CONTROLLERS: tuple[str, ...] = (
    *DEFAULT_CONTROLLERS,
    "clusterStatus",  # Ready, apiEnablements, nodeSummary, resourceSummary from the member itself
    "execution",  # Works -> objects in the member
    "workStatus",  # the member objects' status -> Work.status.manifestStatuses
    "namespace",  # the workload's namespace is propagated to every member (not "default")
)
"""``karmada-controller-manager --controllers`` when the members are real (``start_karmada(controllers=
MEMBER_CONTROLLERS)``)."""

MEMBER_KCM_CONTROLLERS: tuple[str, ...] = (
    "deployment-controller",
    "replicaset-controller",
    "garbage-collector-controller",  # ReplicaSets and Pods of a Deployment Karmada deletes
    "namespace-controller",  # a namespace Karmada deletes
    "pod-garbage-collector-controller",  # Pods of a deleted Node
    # Removes the node.kubernetes.io/not-ready taint the apiserver's TaintNodesByCondition admission puts
    # on every new Node once the Node is Ready (without it no Pod is ever scheduled); kwok renews the
    # Nodes' Leases, so it never marks them unreachable.
    "node-lifecycle-controller",
)
"""``kube-controller-manager --controllers`` of a member."""

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
"""Nodes with ``kwok.x-k8s.io/node: fake`` are the member's kwok Nodes (``Member.set_nodes`` makes them)."""
NODE_ROLE_LABEL = "burstd.io/testbed-node"
_READY_TIMEOUT = float(os.environ.get("BURSTD_TESTENV_START_TIMEOUT", "90"))
_CLUSTER_API = "/apis/cluster.karmada.io/v1alpha1/clusters"
_KARMADA_CLUSTER = "karmada-cluster"  # where the cluster Leases live (karmadactl init creates it)


@dataclass(frozen=True)
class NodeShape:
    """A Node's capacity (= allocatable: no reservations on a kwok Node)."""

    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 110

    def resources(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods)}


@dataclass
class Member:
    """A running member cluster."""

    name: str
    """Its Karmada Cluster name (also the prefix of its Node names)."""
    plane: ControlPlane
    """Its kube-apiserver (``plane.kubeconfig`` is an admin kubeconfig for it)."""
    processes: dict[str, ControllerProcess]
    """``kube-scheduler``, ``kube-controller-manager``, ``kwok``."""
    start_s: float = 0.0
    """Wall time from nothing to every process serving and the initial Nodes Ready."""
    phases: dict[str, float] = field(default_factory=dict)
    """``apiserver`` (etcd + kube-apiserver), ``processes`` (until they serve), ``nodes`` (Nodes Ready)."""

    def node_name(self, index: int) -> str:
        """The deterministic name of the ``index``-th (1-based) Node ``set_nodes`` makes."""
        return f"{self.name}-node-{index}"

    def set_nodes(self, count: int, *, shape: NodeShape | None = None, drain: bool = True) -> list[str]:
        """Make the member's kwok Nodes exactly ``<name>-node-1`` .. ``<name>-node-<count>``: see
        ``sync_nodes``. Returns their names; does not wait for new ones to be Ready."""
        return self.sync_nodes([self.node_name(i) for i in range(1, count + 1)], shape=shape, drain=drain)

    def sync_nodes(
        self, names: Iterable[str], *, shape: NodeShape | None = None, drain: bool = True
    ) -> list[str]:
        """Make the member's kwok Nodes exactly ``names`` (e.g. the cloud pool's Ready Machines): create
        the missing ones with ``shape`` (existing Nodes keep theirs) and delete the others, each drained
        first (``drain_node``) unless ``drain`` is false, as Cluster API drains a Machine's Node before
        deleting it. Without the drain the Pods of a deleted Node linger until the pod GC's quarantine
        (40 s) is over."""
        wanted = list(dict.fromkeys(names))
        have = set(self.node_names())
        for name in wanted:
            if name not in have:
                self._ok("POST", "/api/v1/nodes", _node(name, shape or NodeShape()))
        for name in sorted(have - set(wanted)):
            if drain:
                self.drain_node(name)
            status, answer = self.plane.request("DELETE", f"/api/v1/nodes/{name}")
            if status not in (200, 202, 404):
                raise ControlPlaneError(f"deleting Node {name} of {self.name}: HTTP {status}: {answer}")
        return wanted

    def drain_node(self, name: str, timeout: float = _READY_TIMEOUT) -> None:
        """Cordon Node ``name`` and evict its Pods through the Eviction API (PodDisruptionBudgets apply:
        a refused eviction is retried), waiting until they are gone (kwok completes their deletion)."""
        status, answer = self.plane.request(
            "PATCH",
            f"/api/v1/nodes/{name}",
            {"spec": {"unschedulable": True}},
            content_type="application/merge-patch+json",
        )
        if status == 404:
            return
        if status != 200:
            raise ControlPlaneError(f"cordoning Node {name} of {self.name}: HTTP {status}: {answer}")

        def drained() -> bool:
            pods = self.pods_on(name)
            for pod in pods:
                meta = pod["metadata"]
                if meta.get("deletionTimestamp"):
                    continue
                eviction = {
                    "apiVersion": "policy/v1",
                    "kind": "Eviction",
                    "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                }
                path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/eviction"
                code, body = self.plane.request("POST", path, eviction)
                if code not in (200, 201, 404, 429):  # 429: a PodDisruptionBudget says not now
                    raise ControlPlaneError(f"evicting Pod {meta['name']} from {name}: HTTP {code}: {body}")
            return not pods

        self.wait_for(f"Node {name} drained", drained, timeout)

    def pods_on(self, node: str) -> list[dict[str, Any]]:
        """The Pods bound to ``node`` now (in every namespace)."""
        listed = self._ok("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}")
        return list(listed.get("items", []))

    def node_names(self) -> list[str]:
        """The member's kwok Nodes now."""
        listed = self._ok("GET", f"/api/v1/nodes?labelSelector={NODE_ROLE_LABEL}%3Dkwok")
        return sorted(n["metadata"]["name"] for n in listed.get("items", []))

    def ready_nodes(self) -> list[str]:
        """The member's Nodes that take Pods: Ready (kwok sets it) and without the not-ready or
        unreachable taint (the node-lifecycle controller removes it once the Node is Ready)."""
        listed = self._ok("GET", "/api/v1/nodes")
        return sorted(n["metadata"]["name"] for n in listed.get("items", []) if _schedulable(n))

    def wait_nodes_ready(self, names: Iterable[str], timeout: float = _READY_TIMEOUT) -> float:
        """Wait until every Node of ``names`` is Ready; return the seconds it took."""
        wanted = set(names)
        return self.wait_for(
            f"Nodes {sorted(wanted)} Ready", lambda: wanted <= set(self.ready_nodes()), timeout
        )

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = _READY_TIMEOUT) -> float:
        """Poll ``check`` until true; raise with the processes' log tails if a process exits or the
        timeout passes. Returns the seconds it took."""
        start = time.monotonic()
        while not check():
            self.check_alive()
            if time.monotonic() - start > timeout:
                tails = "\n".join(f"--- {n}:\n{p.tail(15)}" for n, p in self.processes.items())
                raise ControlPlaneError(f"member {self.name}: not {what} within {timeout:.0f} s\n{tails}")
            time.sleep(0.1)
        return time.monotonic() - start

    def check_alive(self) -> None:
        """Raise ``ControlPlaneError`` (with the log's tail) if a process has exited or the apiserver
        stopped answering."""
        for proc in self.processes.values():
            proc.check_alive()
        status, answer = self.plane.request("GET", "/readyz")
        if status != 200:
            raise ControlPlaneError(f"member {self.name}: kube-apiserver /readyz: HTTP {status}: {answer}")

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory per process now: the three above, ``kube-apiserver`` and ``etcd``."""
        out = {name: proc.rss_bytes() for name, proc in self.processes.items()}
        out.update(plane_rss(self.plane))
        return out

    def get(self, path: str) -> Any:
        """A raw admin GET on the member's apiserver (404 -> None)."""
        status, answer = self.plane.request("GET", path)
        if status == 404:
            return None
        if status >= 300:
            raise ControlPlaneError(f"member {self.name}: GET {path}: HTTP {status}: {answer}")
        return answer

    def _ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.plane.request(method, path, body)
        if status >= 300:
            raise ControlPlaneError(f"member {self.name}: {method} {path}: HTTP {status}: {answer}")
        return answer


@contextlib.contextmanager
def start_member(
    name: str,
    *,
    nodes: int = 0,
    shape: NodeShape | None = None,
    binaries: ControllerBinaries | None = None,
) -> Iterator[Member]:
    """Start a member cluster with ``nodes`` Ready kwok Nodes of ``shape``; always tear it down.

    Raises ``ControlPlaneError`` when a binary is missing or a component does not become ready.
    """
    started = time.monotonic()
    binaries = binaries or find_controller_binaries()
    with start_control_plane(install_crds=False) as plane, contextlib.ExitStack() as stack:
        phases = {"apiserver": time.monotonic() - started}
        work = plane.workdir
        kubeconfig = str(plane.kubeconfig)
        serving = [f"--tls-cert-file={work / 'server.crt'}", f"--tls-private-key-file={work / 'server.key'}"]
        # Delegated authn/authz of the health endpoints through the apiserver (TokenReview and
        # SubjectAccessReview); no request-header CA to look up (the apiserver has no front proxy).
        delegated = [
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--authentication-skip-lookup=true",
        ]
        ports = {c: free_port() for c in ("kube-scheduler", "kube-controller-manager", "kwok")}
        argvs: dict[str, list[str]] = {
            "kube-scheduler": [
                str(binaries.kube("kube-scheduler")),
                f"--kubeconfig={kubeconfig}",
                *delegated,
                *serving,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['kube-scheduler']}",
                "--v=1",
            ],
            "kube-controller-manager": [
                str(binaries.kube("kube-controller-manager")),
                f"--kubeconfig={kubeconfig}",
                *delegated,
                *serving,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['kube-controller-manager']}",
                f"--controllers={','.join(MEMBER_KCM_CONTROLLERS)}",
                "--use-service-account-credentials=false",
                "--v=1",
            ],
            "kwok": [
                str(binaries.kwok),
                f"--kubeconfig={kubeconfig}",
                f"--config={binaries.kwok_dir / 'stages.yaml'}",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--server-address=127.0.0.1:{ports['kwok']}",
                "--cidr=10.244.0.0/16",
                "--node-ip=127.0.0.1",
            ],
        }
        probes: dict[str, Callable[[], bool]] = {
            "kube-scheduler": _https_ok(plane, ports["kube-scheduler"]),
            "kube-controller-manager": _https_ok(plane, ports["kube-controller-manager"]),
            "kwok": http_ok(f"http://127.0.0.1:{ports['kwok']}/healthz"),
        }
        procs: dict[str, ControllerProcess] = {}
        for component, argv in argvs.items():
            proc = ControllerProcess(component, argv, work / f"{component}.log")
            stack.callback(proc.stop)
            procs[component] = proc.start()
        for component, proc in procs.items():  # all start at once; wait for each in turn
            proc.wait_ready(probes[component], timeout=_READY_TIMEOUT)
        phases["processes"] = time.monotonic() - started - phases["apiserver"]
        member = Member(name, plane, procs, phases=phases)
        member.wait_nodes_ready(member.set_nodes(nodes, shape=shape))
        phases["nodes"] = time.monotonic() - started - phases["apiserver"] - phases["processes"]
        member.start_s = time.monotonic() - started
        yield member


def register_member(
    karmada: KarmadaPlane,
    member: Member,
    *,
    provider: str,
    region: str,
    zone: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Join ``member`` to ``karmada`` in Push mode, as ``karmadactl join`` does: a Secret ``<name>`` in
    ``karmada-system`` with the member's ``token`` and ``caBundle``, and a Cluster ``<name>`` (with
    ``provider``, ``region``, ``zone`` and ``labels``) whose ``spec.secretRef`` names it. Returns the
    Cluster as created; its status is the clusterStatus controller's to write."""
    plane = karmada.plane
    for namespace in (KARMADA_SYSTEM, _KARMADA_CLUSTER):
        status, answer = plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
        if status not in (201, 409):
            raise ControlPlaneError(f"creating namespace {namespace}: HTTP {status}: {answer}")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": member.name, "namespace": KARMADA_SYSTEM},
        "type": "Opaque",
        "data": {
            "token": base64.b64encode(member.plane.token.encode()).decode(),
            "caBundle": base64.b64encode(member.plane.ca_file.read_bytes()).decode(),
        },
    }
    _karmada_ok(plane, "POST", f"/api/v1/namespaces/{KARMADA_SYSTEM}/secrets", secret)
    spec: dict[str, Any] = {
        "syncMode": "Push",
        "apiEndpoint": member.plane.server,
        "secretRef": {"namespace": KARMADA_SYSTEM, "name": member.name},
        "provider": provider,
        "region": region,
    }
    if zone:
        spec["zone"] = zone
    cluster = {
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": member.name, "labels": dict(labels or {})},
        "spec": spec,
    }
    created: dict[str, Any] = _karmada_ok(plane, "POST", _CLUSTER_API, cluster)
    return created


def _karmada_ok(plane: ControlPlane, method: str, path: str, body: Any = None) -> Any:
    status, answer = plane.request(method, path, body)
    if status >= 300:
        raise ControlPlaneError(f"karmada-apiserver: {method} {path}: HTTP {status}: {answer}")
    return answer


def _node(name: str, shape: NodeShape) -> dict[str, Any]:
    """A kwok Node: kwok (``--manage-nodes-with-annotation-selector``) makes it Ready and keeps it so;
    Nodes accept ``status`` on create, so capacity and allocatable are set in the same request."""
    resources = shape.resources()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                NODE_ROLE_LABEL: "kwok",
            },
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {"capacity": dict(resources), "allocatable": dict(resources)},
    }


_NODE_PROBLEM_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})


def _schedulable(node: dict[str, Any]) -> bool:
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )
    taints = {t.get("key") for t in (node.get("spec") or {}).get("taints") or []}
    return ready and not taints & _NODE_PROBLEM_TAINTS


def _https_ok(plane: ControlPlane, port: int) -> Callable[[], bool]:
    """A probe: ``https://127.0.0.1:<port>/healthz`` (served with the plane's certificate, authenticated
    with its admin token through delegated authentication) answers 200."""
    ctx = ssl.create_default_context(cafile=str(plane.ca_file))

    def probe() -> bool:
        req = urllib.request.Request(f"https://127.0.0.1:{port}/healthz")
        req.add_header("Authorization", f"Bearer {plane.token}")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                return int(resp.status) == 200
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    return probe
